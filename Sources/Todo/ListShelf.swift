import Processes
import Synchronization

/// A list server's list, kept where the server's node can read it without a message (as an
/// ETS table with read concurrency is to a GenServer's state). The server is its only writer,
/// and applies a change before it answers the write, so a read after an answered write sees
/// it. A read on the server's node so takes a lock and a filter: no process, no hop to the
/// server's task and back, no timer. Reads count as requests for the server's idle timeout.
/// The shelf serves reads only while its server holds every visible peer's copy (see
/// `TodoServer.takeInNewCopies`): a peer that came (back) since may hold writes it lacks.
final class ListShelf: Sendable {
    let server: Pid
    private let state: Mutex<(list: TodoList, lastRead: ContinuousClock.Instant?, peersTakenIn: UInt64?)>

    /// Empty until its server loads the list.
    init(server: Pid) {
        self.server = server
        state = Mutex((TodoList(), nil, nil))
    }

    /// What `body` makes of the list, for a reader on this node (noted as a request); nil when
    /// its server has yet to take in the copy of a peer that came up since, by
    /// `connectionsMade` (the node's `ClusterNode.visibleConnectionsMade`): the read then goes
    /// to the server.
    func read<T>(connectionsMade: UInt64, _ body: (TodoList) -> T) -> T? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard state.peersTakenIn == connectionsMade else { return nil }
            state.lastRead = now
            return body(state.list)
        }
    }

    /// What `body` makes of the list, for its server (not noted).
    func inspect<T>(_ body: (TodoList) -> T) -> T {
        state.withLock { body($0.list) }
    }

    /// Changes the list in place: readers take what they need under the lock and keep no
    /// copy, so its storage is never shared, and never copied to be changed.
    func write<T>(_ body: (inout TodoList) -> T) -> T {
        state.withLock { body(&$0.list) }
    }

    /// The node's `visibleConnectionsMade` when the server last held every visible peer's
    /// copy; the server notes it (nil until it loaded the list).
    var peersTakenIn: UInt64? {
        get { state.withLock { $0.peersTakenIn } }
        set { state.withLock { $0.peersTakenIn = newValue } }
    }

    /// When a reader last read, if ever.
    var lastRead: ContinuousClock.Instant? { state.withLock { $0.lastRead } }
}

/// The shelves of the list servers that run on this node, by list name. A server opens its
/// shelf once its list is loaded and closes it when it stops or hands its list over.
final class ListShelves: Sendable {
    private let shelves = Mutex<[String: ListShelf]>([:])
    private let runtime: ProcessRuntime

    init(runtime: ProcessRuntime) { self.runtime = runtime }

    func open(_ shelf: ListShelf, for list: String) {
        shelves.withLock { $0[list] = shelf }
    }

    func close(_ shelf: ListShelf, for list: String) {
        shelves.withLock { shelves in
            if shelves[list] === shelf { shelves.removeValue(forKey: list) }
        }
    }

    /// The shelf of `list`, if its server is `server` and alive. A server killed without
    /// closing its shelf (a shutdown's `kill`) is never read: its shelf goes when found.
    func shelf(of list: String, server: Pid) -> ListShelf? {
        guard let shelf = shelves.withLock({ $0[list] }), shelf.server == server else { return nil }
        guard runtime.isAlive(server) else {
            close(shelf, for: list)
            return nil
        }
        return shelf
    }

    /// Open shelves (for tests).
    var count: Int { shelves.withLock { $0.count } }
}
