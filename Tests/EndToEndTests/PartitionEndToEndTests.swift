import Foundation
import Testing

/// Three real nodes on three hosts (network namespaces on one bridge). One host's cable is
/// pulled, both sides write to the same list, the cable goes back in: every node must end
/// with every write exactly once, served and stored.
struct PartitionEndToEndTests {
    static let day = "2018-12-19"

    @Test func aHealedPartitionConvergesToEveryWriteOfBothSidesExactlyOnce() async throws {
        let network = try TestNetwork(hosts: 3)
        defer { network.remove() }
        try await withEndToEnd { e2e in
            let port = try freePort()
            let names = (1...3).map { "n\($0)@\(network.address($0))" }
            func startNode(_ host: Int, connecting: Bool) throws -> RunningProgram {
                let peers = connecting ? names.filter { $0 != names[host - 1] }.flatMap { ["--connect", $0] } : []
                return try e2e.start(in: network.namespace(host), Binaries.node,
                                     ["--name", names[host - 1], "--http-port", String(port), "--tick-time", "2"] + peers,
                                     log: "n\(host)-\(e2e.programs.count).log")
            }
            func get(_ host: Int, _ path: String) async throws -> String? {
                try await e2e.curl(in: network.namespace(host), ["http://127.0.0.1:\(port)\(path)"])
            }
            func post(_ host: Int, _ arguments: [String]) async throws {
                let answer = try await e2e.curl(in: network.namespace(host), ["-w", " %{http_code}"] + arguments)
                guard let answer, answer.hasSuffix(" 200") || answer.hasSuffix(" 201") || answer.hasSuffix(" 204") else {
                    throw E2EError("curl \(arguments.joined(separator: " ")) on host \(host): \(answer ?? "failed")")
                }
            }
            func add(_ host: Int, _ title: String) async throws {
                try await post(host, ["-d", "", "http://127.0.0.1:\(port)/add_entry?list=shared&date=\(Self.day)&title=\(title)"])
            }
            func peers(_ host: Int) async throws -> [String]? {
                guard let body = try await get(host, "/health"),
                      let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
                return (json["nodes"] as? [String])?.sorted()
            }
            func waitForPeers(_ host: Int, _ expected: [String]) async throws {
                try await eventually("host \(host) sees \(expected)", within: .seconds(30)) { try await peers(host) == expected.sorted() }
            }
            func entries(_ host: Int) async throws -> String? { try await get(host, "/entries?list=shared&date=\(Self.day)") }

            // Host 1 first: a node joins through the first of its --connect nodes that answers,
            // so two nodes started at once could join each other before host 1 is up.
            var nodes = [try startNode(1, connecting: false)]
            try await waitForPeers(1, [])
            nodes += try (2...3).map { try startNode($0, connecting: true) }
            for host in 1...3 { try await waitForPeers(host, names.filter { $0 != names[host - 1] }) }
            try await add(1, "p1")
            try await add(1, "p2")
            #expect(try await entries(3) == "\(Self.day) p1\n\(Self.day) p2")

            try network.cut(3)
            try await waitForPeers(1, [names[1]])
            try await waitForPeers(3, [])
            // Side A (n1, n2) and side B (n3) each write, edit and delete.
            try await add(1, "a1")
            try await add(2, "a2")
            try await post(1, ["-X", "PUT", "-d", #"{"title":"p2-edited"}"#, "http://127.0.0.1:\(port)/lists/shared/entries/2.n1"])
            try await add(3, "b1")
            try await add(3, "b2")
            try await post(3, ["-X", "DELETE", "http://127.0.0.1:\(port)/lists/shared/entries/1.n1"])
            #expect(try await entries(3) == ["p2", "b1", "b2"].map { "\(Self.day) \($0)" }.joined(separator: "\n"))

            try network.restore(3)
            let healed = ContinuousClock.now
            // In id order: 2.n1, then each counter's n1 entry before its n3 entry.
            let expected = ["p2-edited", "a1", "b1", "a2", "b2"].map { "\(Self.day) \($0)" }.joined(separator: "\n")
            try await eventually("every node serves both sides' writes once", within: .seconds(60)) {
                for host in 1...3 where try await entries(host) != expected { return false }
                return true
            }
            let converged = ContinuousClock.now - healed
            print("partition: converged \(converged) after the link came back up")

            // Every node's own copy holds them too: each restarted alone serves its copy.
            for node in nodes { node.signal(SIGTERM) }
            for node in nodes { #expect(try await node.exitCode(within: .seconds(15)) == 0) }
            nodes = try (1...3).map { try startNode($0, connecting: false) }
            for host in 1...3 {
                try await eventually("n\(host) up alone", within: .seconds(20)) { try await peers(host) == [] }
                #expect(try await entries(host) == expected, "n\(host)'s own copy")
            }
        }
    }
}

/// Polls `condition` until it holds, or throws after `limit` (never a fixed sleep).
func eventually(_ what: String, within limit: Duration, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw E2EError("timed out waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(100))
    }
}
