/// The port mapper's table (our epmd): node name to cluster port. Pure: the caller gives the
/// time and the connection each request came on, so leases, takeovers and bounds are tested
/// without sockets or sleeping.
///
/// As in epmd, a registration belongs to the connection that made it and ends when that
/// connection closes (a node killed with -9 loses its name at once). It is also a lease that
/// the node refreshes every few seconds over that connection, lapsing after `leaseTime`
/// without one (a frozen node). A name whose holder is connected and fresh is refused to
/// anyone else. Nothing a caller says about itself (an OS pid, say) keeps an entry alive.
public struct PortMapperTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let port: Int
        public let incarnation: UInt64
        /// The connection that registered it (a descriptor in the mapper's process).
        public let connection: Int32
        public var refreshed: Duration
    }

    public enum RegisterResult: Sendable, Equatable {
        case registered
        case taken(port: Int)
        /// The table holds `maxEntries` names already.
        case full
        /// Empty, longer than `maxNameBytes`, or not a node name's characters.
        case badName
    }

    public static let maxEntries = 1_024
    public static let maxNameBytes = 255

    public let leaseTime: Duration
    private(set) var entries: [String: Entry] = [:]

    public init(leaseTime: Duration = .seconds(10)) {
        self.leaseTime = leaseTime
    }

    public mutating func register(name: String, port: Int, incarnation: UInt64, connection: Int32, now: Duration) -> RegisterResult {
        guard Self.isValid(name) else { return .badName }
        expire(now: now)
        if let existing = entries[name], existing.incarnation != incarnation {
            return .taken(port: existing.port)
        }
        guard entries[name] != nil || entries.count < Self.maxEntries else { return .full }
        entries[name] = Entry(name: name, port: port, incarnation: incarnation, connection: connection, refreshed: now)
        return .registered
    }

    public mutating func unregister(name: String, incarnation: UInt64) {
        if entries[name]?.incarnation == incarnation { entries.removeValue(forKey: name) }
    }

    /// The connection closed: its registrations end.
    public mutating func closed(connection: Int32) {
        entries = entries.filter { $0.value.connection != connection }
    }

    public mutating func lookup(_ name: String, now: Duration) -> Int? {
        expire(now: now)
        return entries[name]?.port
    }

    /// Live registrations, by name.
    public mutating func names(now: Duration) -> [(name: String, port: Int)] {
        expire(now: now)
        return entries.values.sorted { $0.name < $1.name }.map { ($0.name, $0.port) }
    }

    private mutating func expire(now: Duration) {
        entries = entries.filter { now - $0.value.refreshed < leaseTime }
    }

    /// A node name's part before the `@`, as `NodeName` takes it (at most 255 bytes).
    static func isValid(_ name: String) -> Bool {
        !name.contains("@") && (try? NodeName(parsing: name, defaultHost: "h")) != nil
    }
}
