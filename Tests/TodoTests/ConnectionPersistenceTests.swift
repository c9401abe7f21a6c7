import ClusterTestKit
import NIOHTTP1
import Testing
@testable import Todo

/// A connection ends after a request exactly when the request's HTTP version says so:
/// HTTP/1.0 unless it asks `keep-alive`, HTTP/1.1 when it says `close` however it spells it.
@Suite(.timeLimit(.minutes(1)))
struct ConnectionPersistenceTests {
    @Test func theRequestsVersionAndConnectionHeaderDecide() {
        func request(_ version: HTTPVersion, _ connection: String?) -> HTTPRequestHead {
            HTTPRequestHead(version: version, method: .GET, uri: "/", headers: HTTPHeaders(connection.map { [("Connection", $0)] } ?? []))
        }
        let answer = HTTPResponseHead(version: .http1_1, status: .ok)
        let cases: [(HTTPRequestHead, read: String?, answered: String?)] = [
            (request(.http1_0, nil), "close", "close"),
            (request(.http1_0, "Keep-Alive"), "Keep-Alive", "keep-alive"),
            (request(.http1_1, nil), nil, nil),
            (request(.http1_1, "keep-alive"), "keep-alive", nil),
            (request(.http1_1, "Close"), "close", "close"),
            (request(.http1_1, "TE, close"), "close", "close"),
        ]
        for (head, read, answered) in cases {
            #expect(ConnectionPersistence.asRead(head).headers.first(name: "Connection") == read, "\(head)")
            #expect(ConnectionPersistence.answer(answer, to: head).headers.first(name: "Connection") == answered, "\(head)")
        }
    }

    /// The idle timeout is far longer than the waits: a connection that ends, ends for its request.
    static let limits = HTTPLimits(maxConnections: 8, idleTimeout: .seconds(60))

    @Test func anHTTP10RequestIsAnsweredAndItsConnectionEnds() async throws {
        try await withHTTPServer(Self.limits) { port in
            let client = try RawTCP(port: port)
            client.write(Array("GET /hello HTTP/1.0\r\n\r\n".utf8))
            let answer = try await Self.answer(on: client)
            #expect(answer.hasPrefix("HTTP/1.1 200") && answer.contains("Connection: close\r\n") && answer.contains("Content-Length: 5\r\n"), "\(answer)")
            #expect(try await client.waitForClose(within: .seconds(10)), "an HTTP/1.0 request's connection stayed open")
        }
    }

    @Test func anHTTP10RequestThatAsksKeepAliveKeepsItsConnection() async throws {
        try await withHTTPServer(Self.limits) { port in
            let client = try RawTCP(port: port)
            for _ in 1...2 {
                client.write(Array("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8))
                let answer = try await Self.answer(on: client)
                #expect(answer.hasPrefix("HTTP/1.1 200") && answer.contains("Connection: keep-alive\r\n"), "\(answer)")
            }
        }
    }

    @Test func anHTTP11RequestEndsItsConnectionOnlyWhenItSaysClose() async throws {
        try await withHTTPServer(Self.limits) { port in
            let client = try RawTCP(port: port)
            client.write(Array("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
            #expect(try await Self.answer(on: client).hasPrefix("HTTP/1.1 200"))
            client.write(Array("GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: Close\r\n\r\n".utf8))
            let last = try await Self.answer(on: client)
            #expect(last.hasPrefix("HTTP/1.1 200") && last.contains("Connection: close\r\n"), "\(last)")
            #expect(try await client.waitForClose(within: .seconds(10)), "a request that said Close left its connection open")
        }
    }

    /// One whole answer to `GET /hello`, head and body.
    static func answer(on client: RawTCP) async throws -> String {
        var answer: [UInt8] = []
        try await eventually("a whole answer came", within: .seconds(10)) {
            answer += try await client.read(within: .milliseconds(100)) ?? []
            return String(decoding: answer, as: UTF8.self).hasSuffix("\r\n\r\nhello")
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
