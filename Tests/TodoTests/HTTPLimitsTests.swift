import ClusterTestKit
import Testing
@testable import Todo

/// HTTP clients cannot hold more of a node than `HTTPLimits` allow: connections beyond the
/// bound wait in the kernel's queue, and a connection that sends nothing whole is closed.
@Suite(.timeLimit(.minutes(1)))
struct HTTPLimitsTests {
    static let hello = Array("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)

    @Test func aShareOfTheDescriptorsIsKeptForTheNode() {
        #expect(HTTPLimits(descriptors: 1_024).maxConnections == 768)
        #expect(HTTPLimits(descriptors: 20_000).maxConnections == 15_000)
        #expect(HTTPLimits(descriptors: 300).maxConnections == 172)
        #expect(HTTPLimits(descriptors: 100).maxConnections == 16)
    }

    @Test func anIdleOrTricklingConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withHTTPServer(HTTPLimits(maxConnections: 8, idleTimeout: .milliseconds(300))) { port in
            let idle = try RawTCP(port: port)
            let trickling = try RawTCP(port: port)
            trickling.write(Array("GET /hello HTTP/1.1\r\nHo".utf8))
            #expect(try await idle.waitForClose(within: .seconds(10)), "an idle connection stayed open")
            #expect(try await trickling.waitForClose(within: .seconds(10)), "a request's head trickling in kept its connection")
            let client = try RawTCP(port: port)
            client.write(Self.hello)
            #expect(try await Self.answered(client))
        }
    }

    @Test func aConnectionPastTheBoundWaitsUntilAnotherCloses() async throws {
        try await withHTTPServer(HTTPLimits(maxConnections: 2, idleTimeout: .seconds(30))) { port in
            let first = try RawTCP(port: port), second = try RawTCP(port: port)
            for open in [first, second] {
                open.write(Self.hello)
                #expect(try await Self.answered(open))
            }
            let third = try RawTCP(port: port)
            third.write(Self.hello)
            #expect(try await third.read(within: .milliseconds(500)) == [], "a third connection was served beside two open ones")
            first.close()
            #expect(try await Self.answered(third), "the waiting connection was not served once another closed")
        }
    }

    static func answered(_ connection: RawTCP) async throws -> Bool {
        let answer = try await connection.read(within: .seconds(10)) ?? []
        return String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 200")
    }
}
