/// What each connection to a port has sent that has not come out of libzmq as whole messages.
/// libzmq puts a multipart message together in memory before it delivers any of it, and
/// bounds each part (`ZMQ_MAXMSGSIZE`) but not how many there are: a peer that sends parts and
/// never the last one grows the process without end (a port mapper took 500 MB in half a
/// second). Nothing shows those parts, but TCP counts what a connection received
/// (`TCP_INFO`): what it received past what came out of it, by more than `slack`, is a message
/// that does not end, and the connection is cut. Pure: the caller reads the counts and cuts.
struct UndeliveredBytes<Ends: Equatable> {
    struct Connection: Equatable {
        let descriptor: Int32
        /// What the caller checks before it cuts: that the descriptor still holds this connection.
        let ends: Ends
        /// The bytes of the whole messages that came out of it, as they crossed.
        var delivered: Int64 = 0
    }

    /// What a connection may hold unfinished: its greeting and handshake, and the messages
    /// libzmq has put together but not yet handed over.
    let slack: Int64
    private(set) var connections: [Int32: Connection] = [:]

    init(slack: Int64) {
        self.slack = slack
    }

    /// A connection accepted on `descriptor` (one there before is gone: the number is reused).
    mutating func opened(_ descriptor: Int32, ends: Ends) {
        connections[descriptor] = Connection(descriptor: descriptor, ends: ends)
    }

    mutating func closed(_ descriptor: Int32) {
        connections.removeValue(forKey: descriptor)
    }

    /// A message came out of the connection on `descriptor`: `parts` as they crossed (not a
    /// ROUTER's routing id, which the ROUTER adds itself).
    mutating func delivered(_ parts: some Sequence<[UInt8]>, on descriptor: Int32) {
        connections[descriptor]?.delivered += Self.wireBytes(of: parts)
    }

    /// Forgets the connections that received more than `slack` past what they delivered, and
    /// gives them to be cut. `received` reads a connection's count; nil when it cannot tell.
    mutating func overdrawn(received: (Int32) -> Int64?) -> [Connection] {
        let over = connections.values.filter { connection in
            received(connection.descriptor).map { $0 - connection.delivered > slack } ?? false
        }
        for connection in over { connections.removeValue(forKey: connection.descriptor) }
        return over
    }

    /// What `parts` take on the wire in ZMTP 3: each has a flags byte and its size, in one
    /// byte up to 255 and in eight past it.
    static func wireBytes(of parts: some Sequence<[UInt8]>) -> Int64 {
        parts.reduce(0) { sum, part in sum + Int64(part.count + (part.count > 255 ? 9 : 2)) }
    }
}
