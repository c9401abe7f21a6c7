/// The port mapper's table (our epmd): node name to cluster port. Pure: the caller gives the
/// time and says which OS processes are alive, so leases and takeovers are tested without
/// sockets or sleeping.
///
/// A registration is a lease that the node refreshes every few seconds; it lapses after
/// `leaseTime` without a refresh, or at once when its OS process is gone. A name whose holder
/// is alive and fresh is refused to anyone else.
public struct PortMapperTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let port: Int
        public let incarnation: UInt64
        public let osPid: Int32
        public var refreshed: Duration
    }

    public enum RegisterResult: Sendable, Equatable { case registered, taken(port: Int) }

    public let leaseTime: Duration
    private(set) var entries: [String: Entry] = [:]

    public init(leaseTime: Duration = .seconds(10)) {
        self.leaseTime = leaseTime
    }

    public mutating func register(
        name: String, port: Int, incarnation: UInt64, osPid: Int32, now: Duration, isAlive: (Int32) -> Bool
    ) -> RegisterResult {
        if let existing = entries[name], existing.incarnation != incarnation,
           now - existing.refreshed < leaseTime, isAlive(existing.osPid) {
            return .taken(port: existing.port)
        }
        entries[name] = Entry(name: name, port: port, incarnation: incarnation, osPid: osPid, refreshed: now)
        return .registered
    }

    public mutating func unregister(name: String, incarnation: UInt64) {
        if entries[name]?.incarnation == incarnation { entries.removeValue(forKey: name) }
    }

    public mutating func lookup(_ name: String, now: Duration, isAlive: (Int32) -> Bool) -> Int? {
        expire(now: now, isAlive: isAlive)
        return entries[name]?.port
    }

    /// Live registrations, by name.
    public mutating func names(now: Duration, isAlive: (Int32) -> Bool) -> [(name: String, port: Int)] {
        expire(now: now, isAlive: isAlive)
        return entries.values.sorted { $0.name < $1.name }.map { ($0.name, $0.port) }
    }

    private mutating func expire(now: Duration, isAlive: (Int32) -> Bool) {
        entries = entries.filter { now - $0.value.refreshed < leaseTime && isAlive($0.value.osPid) }
    }
}
