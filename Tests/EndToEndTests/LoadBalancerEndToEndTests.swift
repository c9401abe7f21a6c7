import Foundation
import Testing

/// `make lb`'s script: haproxy in front of three real nodes, health-checked on `/health`.
/// A client writing through it keeps working while a node is killed.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct LoadBalancerEndToEndTests {
    @Test func writesThroughTheBalancerGoOnWhileANodeIsKilled() async throws {
        let runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("todo-lb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: runDirectory) }
        try await withEndToEnd { e2e in
            let (nodes, ports) = try await e2e.startMesh(3)
            let balancer = try LoadBalancer(httpPorts: ports, runDirectory: runDirectory)
            defer { balancer.stop() }
            try await e2e.waitFor("haproxy to answer", within: .seconds(20)) { await httpGet(port: balancer.port, "/health")?.status == 200 }

            var written: [String] = []
            var failures: [String] = []
            /// One write, repeated while the answer is a 503 (the node cannot reach the list's
            /// server yet), as a client honouring `Retry-After` does.
            func write(_ title: String) async throws {
                let deadline = ContinuousClock.now + .seconds(15)
                while true {
                    let status = await offPool { httpPost(port: balancer.port, "/add_entry?list=lb&date=2018-12-19&title=\(title)") }
                    if status == 200 { return written.append(title) }
                    guard status == 503, ContinuousClock.now < deadline else { return failures.append("\(title): \(status.map(String.init) ?? "no answer")") }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            for index in 0..<10 { try await write("before-\(index)") }
            nodes[0].signal(SIGKILL)  // n1 runs the list's server and gets a third of the requests
            for index in 0..<30 { try await write("after-\(index)") }

            #expect(failures.isEmpty, "\(failures)")
            let body = try #require(await httpGet(port: balancer.port, "/entries?list=lb&date=2018-12-19")).body
            #expect(entryTitles(in: body) == written)
            for port in ports.dropFirst() {
                #expect(await httpGet(port: port, "/entries?list=lb&date=2018-12-19")?.body == body)
            }
        }
    }
}

/// `scripts/lb.sh` on a port of the test's own, its files in `runDirectory`.
struct LoadBalancer {
    let port: Int
    let environment: [String: String]

    static let script = Binaries.script("lb.sh")

    init(httpPorts: [Int], runDirectory: URL) throws {
        port = try freePort()
        var environment = ProcessInfo.processInfo.environment
        environment["LB_PORT"] = String(port)
        environment["LB_HTTP_PORTS"] = httpPorts.map(String.init).joined(separator: " ")
        environment["LB_RUN_DIR"] = runDirectory.path
        self.environment = environment
        let (status, errors) = try runToEnd(Self.script, ["start", String(httpPorts.count)], environment: environment)
        guard status == 0 else { throw E2EError("scripts/lb.sh start failed: \(errors)") }
    }

    func stop() {
        _ = try? runToEnd(Self.script, ["stop"], environment: environment)
    }
}
