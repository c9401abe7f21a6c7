import ClusterTestKit
import NIOHTTP1
import Testing
@testable import Todo

/// A client that sends `Expect: 100-continue` hears `100 Continue` before it sends its body,
/// and then its answer, as any other.
@Suite(.timeLimit(.minutes(1)))
struct ExpectContinueTests {
    @Test func onlyAnHTTP11RequestThatExpectsContinueWaitsForIt() {
        func request(_ version: HTTPVersion, _ expect: String?) -> HTTPRequestHead {
            HTTPRequestHead(version: version, method: .POST, uri: "/", headers: HTTPHeaders(expect.map { [("Expect", $0)] } ?? []))
        }
        #expect(ExpectContinue.waitsForContinue(request(.http1_1, "100-continue")))
        #expect(ExpectContinue.waitsForContinue(request(.http1_1, "100-Continue")))
        #expect(!ExpectContinue.waitsForContinue(request(.http1_1, nil)))
        #expect(!ExpectContinue.waitsForContinue(request(.http1_1, "something-else")))
        #expect(!ExpectContinue.waitsForContinue(request(.http1_0, "100-continue")))  // RFC 9110: ignored
    }

    @Test func aClientThatWaitsForContinueHearsItThenItsAnswer() async throws {
        try await withHTTPServer(HTTPLimits(maxConnections: 8, idleTimeout: .seconds(60))) { port in
            let client = try RawTCP(port: port)
            let head = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
            client.write(Array((head + "\r\n").utf8))
            let interim = String(decoding: try await client.read(within: .seconds(10)) ?? [], as: UTF8.self)
            #expect(interim == "HTTP/1.1 100 Continue\r\n\r\n", "no 100 Continue before the body was sent")
            client.write(Array("hello".utf8))
            let answer = try await ConnectionPersistenceTests.answer(on: client)
            #expect(answer.hasPrefix("HTTP/1.1 200") && !answer.contains("100 Continue"), "\(answer)")

            // The 100 is not taken for the answer: the last request's says the connection ends.
            client.write(Array((head + "Connection: close\r\n\r\n").utf8))
            #expect(String(decoding: try await client.read(within: .seconds(10)) ?? [], as: UTF8.self).hasPrefix("HTTP/1.1 100 Continue"))
            client.write(Array("hello".utf8))
            let last = try await ConnectionPersistenceTests.answer(on: client)
            #expect(last.contains("Connection: close\r\n"), "\(last)")
            #expect(try await client.waitForClose(within: .seconds(10)))
        }
    }
}
