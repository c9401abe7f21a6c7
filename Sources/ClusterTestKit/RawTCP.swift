import Glibc

/// A bare TCP connection to a port on this host, for tests that speak to a server as an
/// attacker would: bytes out, and a look at what comes back, without holding a thread.
public final class RawTCP {
    private let descriptor: Int32

    /// ZMTP 3.0's greeting for the NULL mechanism, as a client.
    public static let nullGreeting: [UInt8] = [0xFF] + [UInt8](repeating: 0, count: 8) + [0x7F, 3, 0]
        + Array("NULL".utf8) + [UInt8](repeating: 0, count: 16) + [0] + [UInt8](repeating: 0, count: 31)

    /// Connects from `source`, when given: a loopback address (any of 127.0.0.0/8 on Linux),
    /// so that one test can be several hosts.
    public init(port: Int, from source: String? = nil) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let source {
            var origin = loopbackAddress(port: 0, host: source)
            let bound = withUnsafePointer(to: &origin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                Glibc.close(descriptor)
                throw RawTCPError.cannotBind(source)
            }
        }
        var address = loopbackAddress(port: port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            Glibc.close(descriptor)
            throw RawTCPError.refused(port: port)
        }
    }

    deinit { Glibc.close(descriptor) }

    public func write(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Writes what of `bytes` fits now, without waiting: how many were written (0 when none
    /// fit, or the connection has ended). For a flood that must not block on a peer that
    /// stopped reading.
    public func writeNow(_ bytes: [UInt8]) -> Int {
        max(0, bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) })
    }

    /// Whether the other side closes the connection (reads end) within `limit`. It looks
    /// without blocking and waits between looks, so it holds no concurrency thread.
    public func waitForClose(within limit: Duration) async throws -> Bool {
        do {
            try await eventually("the connection closed", within: limit) { self.readNow() == nil }
            return true
        } catch is TestClusterError {
            return false
        }
    }

    /// Whether the other side has closed the connection, as far as this side knows now. What
    /// it sent first is read and dropped: one look answers, however much came before the end.
    public var hasEnded: Bool {
        while let bytes = readNow() {
            if bytes.isEmpty { return false }
        }
        return true
    }

    /// What has come within `limit`, once anything has; empty if nothing came, nil if the
    /// connection ended first.
    public func read(within limit: Duration) async throws -> [UInt8]? {
        var received: [UInt8]? = []
        _ = try? await eventually("bytes came", within: limit) {
            received = self.readNow()
            return received != []
        }
        return received
    }

    /// What waits to be read now: nil when the connection has ended.
    private func readNow() -> [UInt8]? {
        var poll = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&poll, 1, 0) > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if count > 0 { return Array(buffer[..<count]) }
        return count < 0 && errno == EAGAIN ? [] : nil
    }

    /// Closes the connection now (also done when it is released).
    public func close() { shutdown(descriptor, Int32(SHUT_RDWR)) }

    // MARK: Speaking ZMTP 3.0 as a client with the NULL mechanism

    /// Sends the greeting and a READY command as a `socketType` socket, and reads the
    /// server's: libzmq drops a connection whose first message comes before it has sent its
    /// own READY.
    public func handshakeAsNullClient(socketType: String) async throws {
        let type = Array(socketType.utf8)
        let ready = [5] + Array("READY".utf8) + [11] + Array("Socket-Type".utf8) + [0, 0, 0, UInt8(type.count)] + type
        write(Self.nullGreeting + [0x04, UInt8(ready.count)] + ready)
        var received: [UInt8] = []
        try await eventually("the server's greeting and READY") {
            received += try await read(within: .milliseconds(100)) ?? []
            return received.count >= 66 && received.count >= 66 + Int(received[65])  // its READY's size
        }
    }

    /// A message part with a long (8-byte) size, marked as followed by more when `more`.
    public static func zmtpPart(_ body: [UInt8], more: Bool) -> [UInt8] {
        [more ? 0x03 : 0x02] + withUnsafeBytes(of: UInt64(body.count).bigEndian, Array.init) + body
    }
}

public enum RawTCPError: Error {
    case refused(port: Int)
    case cannotBind(String)
}

/// `host:port` as the socket calls take it (port 0: any free one).
public func loopbackAddress(port: Int, host: String = "127.0.0.1") -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr(host)
    return address
}
