import ClusterTestKit
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Todo

/// The HTTP front through Hummingbird's test client, on one real node with its own database.
@Suite(.timeLimit(.minutes(2)))
struct TodoRoutesTests {
    func withApp(
        token: String? = nil, _ testing: TestingSetup = .router, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        try await withTodoCluster { todo in
            let system = try await todo.startSystems(1)[0]
            let app = Application(router: TodoRoutes.router(system: system, token: token))
            try await app.test(testing, body)
        }
    }

    /// A web page on another site makes the user's browser write into a local node: the
    /// browser says so (Origin, Sec-Fetch-Site), and the node refuses with 403. Reads, and
    /// clients that are not browsers, go on as before.
    @Test func aCrossSiteBrowserRequestMayNotChangeData() async throws {
        try await withApp(.live) { client in
            let add = "/add_entry?list=bob&date=2018-12-19&title=Dentist"
            let refused: [HTTPFields] = [
                [.origin: "http://evil.example"], [.origin: "null"], [.origin: "http://localhost:3000"],
                [RequestChecks.secFetchSite: "cross-site"], [RequestChecks.secFetchSite: "same-site"],
            ]
            for headers in refused {
                try await client.execute(uri: add, method: .post, headers: headers) { response in
                    #expect(response.status == .forbidden, "\(headers)")
                    #expect(String(buffer: response.body).hasPrefix("a request from another site may not change data"))
                }
                try await client.execute(uri: "/lists/bob/entries", method: .post, headers: headers,
                                         body: ByteBuffer(string: #"{"date":"2018-12-19","title":"x"}"#)) { response in
                    #expect(response.status == .forbidden, "\(headers)")
                }
            }
            try await client.execute(uri: "/entries?list=bob&date=2018-12-19", method: .get) { response in
                #expect(String(buffer: response.body) == "", "a refused write left a trace")
            }
            try await client.execute(uri: "/entries?list=bob&date=2018-12-19", method: .get, headers: [.origin: "http://evil.example"]) { response in
                #expect(response.status == .ok)
            }
            for headers: HTTPFields in [[:], [RequestChecks.secFetchSite: "same-origin"], [RequestChecks.secFetchSite: "none"]] {
                try await client.execute(uri: add, method: .post, headers: headers) { response in
                    #expect(response.status == .ok, "\(headers)")
                }
            }
        }
    }

    @Test func theOriginOfThisNodeMayWrite() {
        #expect(RequestChecks.crossSiteRefusal([.origin: "http://localhost:5454"], authority: "localhost:5454") == nil)
        #expect(RequestChecks.crossSiteRefusal([.origin: "http://localhost:5454"], authority: "localhost:5455") != nil)
        #expect(RequestChecks.crossSiteRefusal([.origin: "http://localhost:5454"], authority: nil) != nil)
    }

    /// The guard stands in front of the router: a path no route takes asks for the token too,
    /// and with it is the book's 404.
    @Test func aTokenIsRequiredOnEveryRouteButHealth() async throws {
        try await withApp(token: "s3cret") { client in
            for (uri, method) in [("/entries?list=bob&date=2018-12-19", HTTPRequest.Method.get), ("/metrics", .get),
                                  ("/add_entry?list=bob&date=2018-12-19&title=x", .post), ("/lists/bob/entries", .get),
                                  ("/nothing", .get), ("/entries?list=bob&date=2018-12-19", .delete)] {
                for headers: HTTPFields in [[:], [.authorization: "Bearer wrong!"], [.authorization: "s3cret"], [.authorization: "Bearer s3cre"]] {
                    try await client.execute(uri: uri, method: method, headers: headers) { response in
                        #expect(response.status == .unauthorized, "\(method) \(uri) \(headers)")
                        #expect(response.headers[.wwwAuthenticate] == "Bearer")
                    }
                }
                try await client.execute(uri: uri, method: method, headers: [.authorization: "Bearer s3cret"]) { response in
                    #expect(response.status != .unauthorized, "\(method) \(uri)")
                }
            }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/nothing", method: .get, headers: [.authorization: "Bearer s3cret"]) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body) == "not found")
            }
        }
    }

    @Test func theBookRoutesAnswerExactlyAsTheBookDoes() async throws {
        try await withApp { client in
            try await client.execute(uri: "/add_entry?list=bob&date=2018-12-19&title=Dentist", method: .post) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
                #expect(String(buffer: response.body) == "OK")
            }
            try await client.execute(uri: "/add_entry?list=bob&date=2018-12-19&title=Buy+oat%20milk", method: .post, body: ByteBuffer(string: "ignored")) { response in
                #expect(String(buffer: response.body) == "OK")
            }
            try await client.execute(uri: "/entries?list=bob&date=2018-12-19", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
                #expect(String(buffer: response.body) == "2018-12-19 Dentist\n2018-12-19 Buy oat milk")
            }
            try await client.execute(uri: "/entries?list=bob&date=2018-12-20", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "")
            }
            for (uri, method) in [("/add_entry?list=bob&date=2018-12-19&title=x", HTTPRequest.Method.get),
                                  ("/entries?list=bob&date=2018-12-19", .post), ("/nothing", .get), ("/", .get)] {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .notFound, "\(method) \(uri)")
                    #expect(String(buffer: response.body) == "not found")
                }
            }
        }
    }

    @Test func badInputIsA400WithOneLineNeverA500() async throws {
        let cases: [(String, HTTPRequest.Method, String)] = [
            ("/add_entry?date=2018-12-19&title=x", .post, "missing parameter: list"),
            ("/add_entry?list=bob&title=x", .post, "missing parameter: date"),
            ("/add_entry?list=bob&date=2018-12-19", .post, "missing parameter: title"),
            ("/add_entry?list=bob&date=2018-02-30&title=x", .post, "bad date \"2018-02-30\": expected YYYY-MM-DD"),
            ("/add_entry?list=bob&date=2018-12-19&title=" + String(repeating: "x", count: 1_001), .post, "the title is longer than 1000 bytes"),
            ("/add_entry?list=" + String(repeating: "b", count: 201) + "&date=2018-12-19&title=x", .post, "the list name is longer than 200 bytes"),
            ("/add_entry?list=bob%0A&date=2018-12-19&title=x", .post, "the list name contains control characters"),
            ("/add_entry?list=bob&date=2018-12-19&title=%ZZ", .post, "bad encoding in parameter title"),
            ("/entries?list=bob", .get, "missing parameter: date"),
            ("/entries?list=bob&date=yesterday", .get, "bad date \"yesterday\": expected YYYY-MM-DD"),
            ("/lists/bob/entries?date=2018-1-1", .get, "bad date \"2018-1-1\": expected YYYY-MM-DD"),
            ("/lists/bob/entries/abc", .delete, "bad entry id \"abc\": expected an id as printed by add, like 3.todo1"),
        ]
        try await withApp { client in
            for (uri, method, words) in cases {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .badRequest, "\(uri)")
                    #expect(String(buffer: response.body) == words)
                }
            }
            for body in ["not json", "{\"date\":\"2018-12-19\"}", "{\"date\":5,\"title\":\"x\"}", String(repeating: "x", count: 70_000)] {
                try await client.execute(uri: "/lists/bob/entries", method: .post, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .badRequest, "\(body.prefix(20))")
                    #expect(!String(buffer: response.body).contains("\n"))
                }
            }
        }
    }

    @Test func theJSONRoutesCreateReadChangeAndDelete() async throws {
        try await withApp { client in
            try await client.execute(uri: "/lists/my%20list/entries", method: .post,
                                     body: ByteBuffer(string: #"{"date":"2018-12-19","title":"Dentist"}"#)) { response in
                #expect(response.status == .created)
                #expect(response.headers[.contentType] == "application/json")
                #expect(String(buffer: response.body) == #"{"date":"2018-12-19","id":"1.n1","title":"Dentist"}"#)
            }
            try await client.execute(uri: "/lists/my%20list/entries", method: .post,
                                     body: ByteBuffer(string: #"{"date":"2018-12-20","title":"Gym"}"#)) { _ in }
            try await client.execute(uri: "/lists/my%20list/entries/2.n1", method: .put, body: ByteBuffer(string: #"{"title":"Swim"}"#)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"date":"2018-12-20","id":"2.n1","title":"Swim"}"#)
            }
            // An id may also be given in full (percent-encoded or not), or as its bare counter.
            for (index, id) in ["2.n1@localhost", "2.n1%40localhost", "2"].enumerated() {
                try await client.execute(uri: "/lists/my%20list/entries/\(id)", method: .put,
                                         body: ByteBuffer(string: #"{"title":"Swim\#(index)"}"#)) { response in
                    #expect(response.status == .ok, "\(id)")
                    #expect(String(buffer: response.body) == #"{"date":"2018-12-20","id":"2.n1","title":"Swim\#(index)"}"#)
                }
            }
            try await client.execute(uri: "/lists/my%20list/entries/2", method: .put, body: ByteBuffer(string: #"{"title":"Swim"}"#)) { _ in }
            try await client.execute(uri: "/lists/my%20list/entries?date=2018-12-20", method: .get) { response in
                #expect(String(buffer: response.body) == #"[{"date":"2018-12-20","id":"2.n1","title":"Swim"}]"#)
            }
            try await client.execute(uri: "/lists/my%20list/entries/1.n1", method: .delete) { response in
                #expect(response.status == .noContent)
            }
            for method in [HTTPRequest.Method.delete, .put] {
                try await client.execute(uri: "/lists/my%20list/entries/1.n1", method: method, body: ByteBuffer(string: #"{"title":"x"}"#)) { response in
                    #expect(response.status == .notFound)
                }
            }
            try await client.execute(uri: "/entries?list=my+list&date=2018-12-20", method: .get) { response in
                #expect(String(buffer: response.body) == "2018-12-20 Swim")
            }
            try await client.execute(uri: "/lists/nobody/entries", method: .get) { response in
                #expect(String(buffer: response.body) == "[]")
            }
        }
    }

    @Test func anUnreachableListServerIsA503WithRetryAfterNotAHang() async throws {
        try await withTodoCluster { todo in
            let node = try await todo.cluster.startNode("n1")
            let system = try await todo.startSystem(on: node, deadline: .milliseconds(300))
            let silent = node.runtime.spawn { context in _ = try await context.receive { _ -> Int? in nil } }
            #expect(try await node.global.register(TodoServer.globalName("stuck"), silent) == nil)
            let app = Application(router: TodoRoutes.router(system: system))
            try await app.test(.router) { client in
                try await client.execute(uri: "/add_entry?list=stuck&date=2018-12-19&title=x", method: .post) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(String(buffer: response.body) == "the list's server did not answer in time")
                }
            }
            node.runtime.exit(silent, reason: .kill, from: silent)
        }
    }

    @Test func healthAndMetricsDescribeTheNode() async throws {
        try await withApp { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                #expect(body.contains(#""node":"n1@localhost""#))
                #expect(body.contains(#""nodes":[]"#))
                #expect(body.contains(#""hidden":[]"#))
                #expect(body.contains(#""uptime_s":"#))
            }
            try await client.execute(uri: "/entries?list=m&date=2018-12-19", method: .get) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                #expect(body.contains("# TYPE todo_request_duration_seconds histogram"))
                #expect(body.contains(#"todo_request_duration_seconds_count{operation="entries"} 1"#))
                #expect(body.contains("todo_visible_nodes 0"))
                let resident = body.split(separator: "\n").first { $0.hasPrefix("process_resident_memory_bytes ") }
                #expect(resident.flatMap { Double($0.split(separator: " ")[1]) }.map { $0 > 1e6 } == true, "\(body)")
            }
        }
    }
}
