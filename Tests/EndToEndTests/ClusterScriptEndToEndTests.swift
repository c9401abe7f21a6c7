import Foundation
import OSProcess
import Testing

/// `make cluster` and `make stop`'s script, on ports, folders and a port mapper of the test's
/// own: nodes started joined, a second start that changes nothing, and pid files that have
/// outlived their nodes, whose numbers another program now has.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ClusterScriptEndToEndTests {
    static let script = Binaries.script("cluster.sh")

    @Test func startsJoinedNodesOnceAndStopsOnlyItsOwn() async throws {
        try await withEndToEnd { e2e in
            let (first, second) = try twoFreePortsInARow()
            let run = e2e.directory.appendingPathComponent("run")
            var environment = e2e.environment
            environment["CLUSTER_BIN"] = Binaries.node.path
            environment["CLUSTER_RUN_DIR"] = run.path
            environment["CLUSTER_DATA_DIR"] = e2e.directory.appendingPathComponent("persist").path
            environment["CLUSTER_HTTP_PORT"] = String(first)
            // Whatever becomes of the test, no node the script started outlives it.
            defer { for pid in processes(matching: "--data-dir \(e2e.directory.path)/persist/") { kill(pid, SIGKILL) } }
            // The script waits up to 30 s for nodes to join: off the pool's threads.
            func script(_ arguments: String...) async throws -> String {
                let finished = try await offPool { [environment] in
                    Result { try ChildProcess.run(Self.script.path, arguments, environment: environment) }
                }.get()
                guard finished.status == 0 else {
                    throw E2EError("cluster.sh \(arguments.joined(separator: " ")) exited \(finished.status): \(finished.errors)")
                }
                return finished.output
            }
            func pid(_ name: String) throws -> Int32 {
                let text = try String(contentsOf: run.appendingPathComponent("\(name).pid"), encoding: .utf8)
                return try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
            }

            #expect(try await script("start", "2").contains("The cluster is up: todo1..todo2@localhost, HTTP on ports \(first)..\(second)."))
            try await e2e.waitForPeers(httpPort: first) { $0 == ["todo2@localhost"] }
            try await e2e.waitForPeers(httpPort: second) { $0 == ["todo1@localhost"] }
            let started = (try pid("todo1"), try pid("todo2"))
            let again = try await script("start", "2")
            #expect(again.contains("todo1@localhost is already running (pid \(started.0))"))
            #expect(again.contains("todo2@localhost is already running (pid \(started.1))"))

            // todo2 dies, and its pid file now names another program.
            kill(started.1, SIGKILL)
            try await e2e.waitForPeers(httpPort: first) { $0.isEmpty }
            let stranger = try e2e.start(URL(fileURLWithPath: "/bin/sleep"), ["600"], log: "stranger.log")
            try "\(stranger.pid)\n".write(to: run.appendingPathComponent("todo2.pid"), atomically: true, encoding: .utf8)
            #expect(!(try await script("start", "2").contains("todo2@localhost is already running")))
            try await e2e.waitForPeers(httpPort: first) { $0 == ["todo2@localhost"] }
            #expect(try pid("todo2") != stranger.pid)

            // A pid file left by a node that is gone, naming the stranger too.
            try "\(stranger.pid)\n".write(to: run.appendingPathComponent("todo3.pid"), atomically: true, encoding: .utf8)
            let stopped = try await script("stop")
            #expect(stopped.contains("stopped todo1@localhost") && stopped.contains("stopped todo2@localhost"))
            #expect(stopped.contains("todo3@localhost was not running"))
            #expect(stranger.child.isRunning)
            #expect(processes(matching: "--data-dir \(e2e.directory.path)/persist/").isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: run.path).filter { $0.hasSuffix(".pid") }.isEmpty)
        }
    }
}
