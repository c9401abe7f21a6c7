import Synchronization

/// The live processes of one runtime, by serial. A class of its own so that the runtime's
/// timer thread can hold it: a weak reference to the runtime would give the runtime a side
/// table, and every retain and release of it the slow path.
final class ProcessTable: Sendable {
    private let cells = Mutex<[UInt64: ProcessCell]>([:])

    var count: Int { cells.withLock { $0.count } }

    subscript(serial serial: UInt64) -> ProcessCell? { cells.withLock { $0[serial] } }

    func insert(_ cell: ProcessCell, serial: UInt64) { cells.withLock { $0[serial] = cell } }

    func remove(serial: UInt64) { cells.withLock { _ = $0.removeValue(forKey: serial) } }
}
