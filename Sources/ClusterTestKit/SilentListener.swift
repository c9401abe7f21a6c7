import Glibc

/// A TCP port on the loopback that accepts connections into its backlog and never answers,
/// as a mapper still starting or a stopped node does not; `close` frees the port at once.
/// The port is below the kernel's ephemeral range (32768 and up): one from that range could
/// meanwhile become the local end of another test's outgoing connection, and a server that
/// a test starts there after `close` could not bind it.
public final class SilentListener {
    public let port: Int
    private var descriptor: Int32

    public init() throws {
        for _ in 0..<1_000 {
            let port = Int.random(in: 10_000..<20_000)
            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = loopbackAddress(port: port)
            let bound = listener >= 0 && withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                    bind(listener, raw, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 && listen(listener, 16) == 0
                }
            }
            if bound {
                descriptor = listener
                self.port = port
                return
            }
            if listener >= 0 { Glibc.close(listener) }
        }
        throw RawTCPError.cannotBind("any port from 10000 to 19999")
    }

    public func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    deinit { close() }
}
