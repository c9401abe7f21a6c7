import DequeModule

/// The connections accepted on a listening port that have not logged in, by descriptor: at
/// most `perAddress` from one address and `total` in all. libzmq accepts every connection and
/// holds it for its handshake time with no bound on how many, so strangers that connect and
/// stay silent could take every descriptor the node has (its database then cannot open a
/// file). Past the bound on an address, its oldest is cut; past the bound in all, the oldest
/// of the address that holds the most: a flood churns itself, from one address or from
/// many, and a real node, which logs in within a round trip from an address of its own, still
/// gets through. Pure: the caller gives the time and cuts what it is told to.
struct UnloggedConnections<Ends: Equatable> {
    struct Connection: Equatable {
        let descriptor: Int32
        /// The remote address, the key of the per-address bound.
        let address: String
        /// What the caller checks before it cuts: that the descriptor still holds this connection.
        let ends: Ends
        let since: Duration
    }

    let perAddress: Int
    let total: Int
    private(set) var unlogged: [Int32: Connection] = [:]
    /// Descriptors per address, oldest first.
    private var byAddress: [String: [Int32]] = [:]
    /// Logged in before their acceptance was heard of (the monitor is read after the socket
    /// at times): such a descriptor is never counted as a stranger's.
    private var loggedInEarly: Set<Int32> = []
    /// Every acceptance still counted, oldest first, and some forgotten since (dropped when
    /// they reach the front, or all at once when they outnumber the rest): the oldest, and
    /// so the next expiry, without a look at every connection, which the transport asks at
    /// every round.
    private var arrivals: Deque<(descriptor: Int32, since: Duration)> = []

    init(perAddress: Int, total: Int) {
        self.perAddress = max(1, perAddress)
        self.total = max(1, total)
    }

    /// A connection accepted on `descriptor`: the connections to cut to keep within the bounds.
    /// Where no login is heard of, `hasLoggedIn` is asked of the oldest before it is cut: one
    /// that has logged in is forgotten instead, which makes the room as well.
    mutating func accepted(
        _ descriptor: Int32, from address: String, ends: Ends, at now: Duration,
        hasLoggedIn: (Connection) -> Bool = { _ in false }
    ) -> [Connection] {
        if loggedInEarly.remove(descriptor) != nil { return [] }
        forget(descriptor)  // a close not heard of yet: the descriptor is reused
        var cuts: [Connection] = []
        if let fromAddress = byAddress[address], fromAddress.count >= perAddress, let oldest = forget(fromAddress[0]), !hasLoggedIn(oldest) {
            cuts.append(oldest)
        }
        if unlogged.count >= total, let oldest = oldestOfTheMost(), let removed = forget(oldest), !hasLoggedIn(removed) {
            cuts.append(removed)
        }
        unlogged[descriptor] = Connection(descriptor: descriptor, address: address, ends: ends, since: now)
        byAddress[address, default: []].append(descriptor)
        arrive(descriptor, at: now)
        return cuts
    }

    /// The connection on `descriptor` logged in: it is no stranger's.
    mutating func loggedIn(_ descriptor: Int32) {
        if forget(descriptor) == nil { loggedInEarly.insert(descriptor) }
    }

    /// The connection on `descriptor` closed.
    mutating func closed(_ descriptor: Int32) {
        forget(descriptor)
        loggedInEarly.remove(descriptor)
    }

    /// Forgets the connections accepted before `cutoff` that have not logged in, and gives
    /// them to be cut: past ZeroMQ's handshake, libzmq keeps a connection that never logs in
    /// for ever.
    mutating func expired(before cutoff: Duration) -> [Connection] {
        var old: [Connection] = []
        while let oldest = arrivals.first, oldest.since < cutoff {
            // The front is always counted (`forget` drops the others); were it not, its
            // descriptor could hold a newer connection, not to be forgotten for it.
            guard Self.isCounted(oldest, in: unlogged), let connection = forget(oldest.descriptor) else {
                arrivals.removeFirst()
                continue
            }
            old.append(connection)
        }
        return old
    }

    /// When the oldest connection not logged in was accepted: the next to expire.
    var oldestSince: Duration? { arrivals.first?.since }

    /// How many acceptances the table keeps to find the oldest (for tests of its bound).
    var arrivalsKept: Int { arrivals.count }

    /// The oldest connection of the address that holds the most (of those, the one whose
    /// oldest is oldest).
    private func oldestOfTheMost() -> Int32? {
        var chosen: (count: Int, since: Duration, descriptor: Int32)?
        for descriptors in byAddress.values {
            guard let first = descriptors.first, let since = unlogged[first]?.since else { continue }
            let better = chosen.map { descriptors.count > $0.count || (descriptors.count == $0.count && since < $0.since) } ?? true
            if better { chosen = (descriptors.count, since, first) }
        }
        return chosen?.descriptor
    }

    @discardableResult
    private mutating func forget(_ descriptor: Int32) -> Connection? {
        guard let connection = unlogged.removeValue(forKey: descriptor) else { return nil }
        byAddress[connection.address]?.removeAll { $0 == descriptor }
        if byAddress[connection.address]?.isEmpty == true { byAddress.removeValue(forKey: connection.address) }
        while let first = arrivals.first, !Self.isCounted(first, in: unlogged) { arrivals.removeFirst() }
        if arrivals.count > 2 * unlogged.count + 16 {
            let counted = unlogged
            arrivals.removeAll { !Self.isCounted($0, in: counted) }
        }
        return connection
    }

    /// Keeps `arrivals` oldest first: the caller's clock only goes forward, but the table
    /// does not rely on it.
    private mutating func arrive(_ descriptor: Int32, at now: Duration) {
        let index = arrivals.lastIndex { $0.since <= now }.map { $0 + 1 } ?? 0
        arrivals.insert((descriptor, now), at: index)
    }

    /// Whether an arrival is the acceptance still counted on its descriptor (not one
    /// forgotten, whose descriptor may hold a newer connection).
    private static func isCounted(_ arrival: (descriptor: Int32, since: Duration), in unlogged: [Int32: Connection]) -> Bool {
        unlogged[arrival.descriptor]?.since == arrival.since
    }
}
