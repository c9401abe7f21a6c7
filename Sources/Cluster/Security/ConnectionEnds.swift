import CTCPInfo
import Glibc

/// The two ends of a TCP connection that libzmq accepted, read from the descriptor its
/// monitor reports. What `cut` checks first: by the time a monitor event is read, libzmq may
/// have closed that descriptor and the number may hold another connection.
struct ConnectionEnds: Equatable {
    /// The remote IP address, as text.
    let address: String
    let remotePort: UInt16
    let localPort: UInt16

    /// The ends of the connection on `descriptor`, or nil when it holds no connected TCP socket.
    init?(descriptor: Int32) {
        guard let remote = Self.name(of: descriptor, getpeername), let local = Self.name(of: descriptor, getsockname) else { return nil }
        (address, remotePort, localPort) = (remote.address, remote.port, local.port)
    }

    /// Shuts the connection on `descriptor` down, when it is still this one: libzmq then reads
    /// its end, closes the descriptor and reports the disconnect. The descriptor is libzmq's,
    /// so it is never closed here.
    func cut(_ descriptor: Int32) {
        guard ConnectionEnds(descriptor: descriptor) == self else { return }
        _ = shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Whether the connection on `descriptor` has sent more than `bytes`, or is not there any
    /// more (the descriptor holds another connection, or none): either way, no stranger to cut.
    func hasSent(moreThan bytes: Int64, on descriptor: Int32) -> Bool {
        guard ConnectionEnds(descriptor: descriptor) == self else { return true }
        return ctcpinfo_bytes_received(descriptor) > bytes
    }

    private typealias NameFunction = (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32

    private static func name(of descriptor: Int32, _ function: NameFunction) -> (address: String, port: UInt16)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let read = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { function(descriptor, $0, &length) }
        }
        guard read == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
            return text(AF_INET, address.sin_addr).map { ($0, UInt16(bigEndian: address.sin_port)) }
        case AF_INET6:
            let address = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
            return text(AF_INET6, address.sin6_addr).map { ($0, UInt16(bigEndian: address.sin6_port)) }
        default:
            return nil
        }
    }

    /// An IP address (`in_addr` or `in6_addr`) as text.
    private static func text<Address>(_ family: Int32, _ address: Address) -> String? {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = withUnsafePointer(to: address) { inet_ntop(family, $0, &text, socklen_t(text.count)) }
        return written == nil ? nil : String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The I/O around the pure table: reading a new connection's ends, and cutting.
extension UnloggedConnections where Ends == ConnectionEnds {
    /// Counts the connection libzmq just accepted on `descriptor`, and cuts what the bounds
    /// leave no room for (libzmq then reports their close): the connections cut, to log.
    mutating func acceptCutting(_ descriptor: Int32, at now: Duration, hasLoggedIn: (Connection) -> Bool = { _ in false }) -> [Connection] {
        guard let ends = ConnectionEnds(descriptor: descriptor) else { return [] }  // closed already
        return acceptCutting(descriptor, ends: ends, at: now, hasLoggedIn: hasLoggedIn)
    }

    /// As `acceptCutting(_:at:hasLoggedIn:)`, with the connection's ends read already.
    mutating func acceptCutting(
        _ descriptor: Int32, ends: ConnectionEnds, at now: Duration, hasLoggedIn: (Connection) -> Bool = { _ in false }
    ) -> [Connection] {
        let cuts = accepted(descriptor, from: ends.address, ends: ends, at: now, hasLoggedIn: hasLoggedIn)
        for connection in cuts { connection.ends.cut(connection.descriptor) }
        return cuts
    }

    /// Cuts the connections that have not logged in since before `cutoff`: those cut, to log.
    mutating func cutExpired(before cutoff: Duration) -> [Connection] {
        let cuts = expired(before: cutoff)
        for connection in cuts { connection.ends.cut(connection.descriptor) }
        return cuts
    }
}

/// The I/O around the pure count: reading what TCP received on each connection, and cutting.
extension UndeliveredBytes where Ends == ConnectionEnds {
    /// Cuts the connections whose peer sent more than `slack` past its whole messages: those
    /// cut, to log. One look at TCP's count per connection; the ends only of those to cut.
    mutating func cutOverdrawn() -> [Connection] {
        let cuts = overdrawn { descriptor in
            let received = ctcpinfo_bytes_received(descriptor)
            return received < 0 ? nil : received
        }.filter { ConnectionEnds(descriptor: $0.descriptor) == $0.ends }
        for connection in cuts { connection.ends.cut(connection.descriptor) }
        return cuts
    }
}
