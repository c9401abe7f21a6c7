import Glibc

/// Whether anything listens at a TCP address, found by a connection attempt that is closed
/// at once. A ZeroMQ request to a port where nothing listens cannot tell a refusal from
/// slowness: it waits out its whole timeout (a second) before "no port mapper answers",
/// which every `todo` command without a mapper, and every node that started one, paid.
enum ConnectionProbe {
    /// True only when the connection is refused: nothing listens at `host` (an IPv4 address
    /// or a name) on `port`. False when something accepts it, and when no answer comes within
    /// `timeoutMilliseconds` or the host does not resolve (the request will say why).
    static func isRefused(host: String, port: Int, timeoutMilliseconds: Int32) -> Bool {
        guard let numeric = try? resolveHost(host), (1...65_535).contains(port) else { return false }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, numeric, &address.sin_addr) == 1 else { return false }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let started = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if started == 0 { return false }
        if errno == ECONNREFUSED { return true }
        guard errno == EINPROGRESS else { return false }
        var waiting = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        guard poll(&waiting, 1, timeoutMilliseconds) == 1 else { return false }
        var failure: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &failure, &length) == 0 else { return false }
        return failure == ECONNREFUSED
    }
}
