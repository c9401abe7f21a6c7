import Foundation
import OSProcess

/// Catch-up after downtime: two release nodes; the second is stopped while at least 10,000
/// writes go to 1,000 lists through the first; it is started again, and its own figure for
/// copying what it missed is read from its `/metrics`. The cost grows with the lists that
/// differ, not with all the data a node holds.
enum CatchUpBench {
    static let writes = 10_000
    static let lists = 1_000

    static func measure() async throws -> Double {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("todo-catchup-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let cluster = try WebBench.Cluster(size: 2, scratch: scratch)
        defer { cluster.stop() }
        try await cluster.start(count: 2)
        cluster.stopLast()
        try await waitForPeers(port: cluster.httpPorts[0], count: 0)

        try await write(through: cluster.httpPorts[0], scratch: scratch)

        try await cluster.start(count: 2)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let metrics = try WebBench.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(cluster.httpPorts[1])/metrics"])
            if value("todo_catch_up_lists_total", in: metrics) ?? 0 >= Double(lists), let seconds = value("todo_catch_up_last_seconds", in: metrics) {
                return seconds * 1_000
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchFailure("the restarted node did not catch up")
    }

    /// `wrk` writing `writes` entries round-robin over `lists` lists through `port`. wrk runs
    /// for its whole duration whatever its script says, so it is stopped from here once the
    /// node has answered that many (a few more may be in flight): at least `writes`.
    private static func write(through port: Int, scratch: URL) async throws {
        let script = scratch.appendingPathComponent("writes.lua")
        try """
            local sent = 0
            request = function()
              sent = sent + 1
              local list = "catch_" .. ((sent - 1) % \(lists) + 1)
              return wrk.format("POST", "/add_entry?list=" .. list .. "&date=2018-12-19&title=t" .. sent, nil, "")
            end
            """.write(to: script, atomically: true, encoding: .utf8)
        let writer = try ChildProcess("/usr/bin/wrk", ["-t1", "-c16", "-d300s", "-s", script.path, "http://127.0.0.1:\(port)/"])
        defer { writer.kill() }
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            let metrics = try WebBench.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/metrics"])
            if value(#"todo_request_duration_seconds_count{operation="add"}"#, in: metrics) ?? 0 >= Double(writes) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchFailure("the writes were not answered in 300 s")
    }

    private static func waitForPeers(port: Int, count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let body = try WebBench.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/health"])
            if let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
               (json["nodes"] as? [String])?.count == count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchFailure("peers never became \(count)")
    }

    /// A sample's value in Prometheus text (`name value` on a line of its own).
    private static func value(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }
}
