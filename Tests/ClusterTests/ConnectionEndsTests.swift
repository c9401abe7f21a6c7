@testable import Cluster
import ClusterTestKit
import Glibc
import Testing

/// `ConnectionEnds` on a real connection: this test listens, a `RawTCP` connects from
/// 127.0.0.2, and the accepted descriptor is read as libzmq's would be.
@Suite struct ConnectionEndsTests {
    /// A listening socket on 127.0.0.1 and its port; the caller closes it.
    func listen() throws -> (descriptor: Int32, port: Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && Glibc.listen(listener, 8) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        try #require(ready)
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }

    @Test func theEndsOfAnAcceptedConnectionAreRead() throws {
        let (listener, port) = try listen()
        defer { close(listener) }
        let client = try RawTCP(port: port, from: "127.0.0.2")
        let accepted = accept(listener, nil, nil)
        defer { close(accepted) }
        let ends = try #require(ConnectionEnds(descriptor: accepted))
        #expect(ends.address == "127.0.0.2")
        #expect(Int(ends.localPort) == port)
        #expect(ends.remotePort != 0)
        #expect(ConnectionEnds(descriptor: listener) == nil, "a listening socket has no remote end")
        client.close()
    }

    @Test func whatTheRemoteSentIsCounted() async throws {
        let (listener, port) = try listen()
        defer { close(listener) }
        let client = try RawTCP(port: port)
        let accepted = accept(listener, nil, nil)
        defer { close(accepted) }
        let ends = try #require(ConnectionEnds(descriptor: accepted))
        #expect(!ends.hasSent(moreThan: 0, on: accepted))
        client.write([UInt8](repeating: 7, count: 300))
        try await eventually("the bytes arrive") { ends.hasSent(moreThan: 299, on: accepted) }
        #expect(!ends.hasSent(moreThan: 300, on: accepted))
    }

    @Test func aCutConnectionEndsForTheRemoteButTheDescriptorStaysOpen() async throws {
        let (listener, port) = try listen()
        defer { close(listener) }
        let client = try RawTCP(port: port)
        let accepted = accept(listener, nil, nil)
        defer { close(accepted) }
        let ends = try #require(ConnectionEnds(descriptor: accepted))
        ends.cut(accepted)
        #expect(try await client.waitForClose(within: .seconds(10)))
        #expect(fcntl(accepted, F_GETFD) != -1, "the descriptor is its owner's to close")
    }

    /// The descriptor holds another connection by the time a cut comes: it is left alone.
    @Test func aCutOfADescriptorThatHoldsAnotherConnectionDoesNothing() async throws {
        let (listener, port) = try listen()
        defer { close(listener) }
        let first = try RawTCP(port: port)
        let second = try RawTCP(port: port)
        let (one, two) = (accept(listener, nil, nil), accept(listener, nil, nil))
        defer { close(one); close(two) }
        let endsOfOne = try #require(ConnectionEnds(descriptor: one))
        endsOfOne.cut(two)
        #expect(endsOfOne.hasSent(moreThan: 1_000, on: two), "not this connection: nothing to cut")
        #expect(try await !second.waitForClose(within: .milliseconds(200)))
        first.close()
    }
}
