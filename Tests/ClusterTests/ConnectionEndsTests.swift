@testable import Cluster
import ClusterTestKit
import Glibc
import Testing

/// `ConnectionEnds` on a real connection: this test listens, a `RawTCP` connects from
/// 127.0.0.2, and the accepted descriptor is read as libzmq's would be.
@Suite struct ConnectionEndsTests {
    @Test func theEndsOfAnAcceptedConnectionAreRead() throws {
        let listener = try Listener()
        let client = try RawTCP(port: listener.port, from: "127.0.0.2")
        let ends = try #require(ConnectionEnds(descriptor: try listener.accept()))
        #expect(ends.address == "127.0.0.2")
        #expect(Int(ends.localPort) == listener.port)
        #expect(ends.remotePort != 0)
        #expect(ConnectionEnds(descriptor: listener.descriptor) == nil, "a listening socket has no remote end")
        client.close()
    }

    @Test func whatTheRemoteSentIsCounted() async throws {
        let listener = try Listener()
        let client = try RawTCP(port: listener.port)
        let accepted = try listener.accept()
        let ends = try #require(ConnectionEnds(descriptor: accepted))
        #expect(!ends.hasSent(moreThan: 0, on: accepted))
        client.write([UInt8](repeating: 7, count: 300))
        try await eventually("the bytes arrive") { ends.hasSent(moreThan: 299, on: accepted) }
        #expect(!ends.hasSent(moreThan: 300, on: accepted))
    }

    @Test func aCutConnectionEndsForTheRemoteButTheDescriptorStaysOpen() async throws {
        let listener = try Listener()
        let client = try RawTCP(port: listener.port)
        let accepted = try listener.accept()
        try #require(ConnectionEnds(descriptor: accepted)).cut(accepted)
        #expect(try await client.waitForClose(within: .seconds(10)))
        #expect(fcntl(accepted, F_GETFD) != -1, "the descriptor is its owner's to close")
    }

    /// The descriptor holds another connection by the time a cut comes: it is left alone.
    @Test func aCutOfADescriptorThatHoldsAnotherConnectionDoesNothing() async throws {
        let listener = try Listener()
        let (first, second) = (try RawTCP(port: listener.port), try RawTCP(port: listener.port))
        let (one, two) = (try listener.accept(), try listener.accept())
        let endsOfOne = try #require(ConnectionEnds(descriptor: one))
        endsOfOne.cut(two)
        #expect(endsOfOne.hasSent(moreThan: 1_000, on: two), "not this connection: nothing to cut")
        #expect(try await !second.waitForClose(within: .milliseconds(200)))
        first.close()
    }
}

/// A listening socket on 127.0.0.1 that closes itself and what it accepted when released.
private final class Listener {
    let descriptor: Int32
    let port: Int
    private var accepted: [Int32] = []

    init() throws {
        let listening = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listening, $0, length) == 0 && listen(listening, 8) == 0 && getsockname(listening, $0, &length) == 0
            }
        }
        if !ready { close(listening) }
        try #require(ready)
        (descriptor, port) = (listening, Int(UInt16(bigEndian: address.sin_port)))
    }

    func accept() throws -> Int32 {
        let connection = Glibc.accept(descriptor, nil, nil)
        try #require(connection >= 0)
        accepted.append(connection)
        return connection
    }

    deinit {
        for connection in accepted { close(connection) }
        close(descriptor)
    }
}
