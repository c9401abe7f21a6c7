import Foundation
import Hummingbird
import OSProcess
import Todo

/// `wrk` against the HTTP front: the book's load (80 % `GET /entries`, 20 % `POST /add_entry`,
/// lists list_1..list_1000, December 2018 dates) on one node and through one node of three,
/// beside a trivial Hummingbird route in the same run (the HTTP stack's own ceiling).
enum WebBench {
    struct Load {
        var requestsPerSecond: Double
        var p99Milliseconds: Double
        var errors: Int
        /// The server processes' CPU time (user and system) per request, in microseconds:
        /// what a request costs them, without wrk's share or the idle time (it still moves
        /// with the machine's noise, by 15 to 20 % here).
        var cpuMicroseconds: Double
    }

    struct Figures {
        /// The median of every run of the trivial route (one before each run of the mix).
        var trivial: Load
        var oneNode: Load
        /// The mix's two halves alone, on the same node: what each kind of request costs.
        var oneNodeGets: Load
        var oneNodePosts: Load
        var cluster: Load
        /// The mix's rate as a share of the trivial route's, in %: the median of each mix
        /// run's share of the trivial run just before it.
        var oneNodeShare: Double
        var clusterShare: Double
        var memory: IdleMemory
    }

    /// Resident memory per idle list server, on one node and in a cluster of three.
    struct IdleMemory {
        var oneNode: Double
        /// On the node that runs the servers, with two peers joined: its peers watch every
        /// server (the global names' monitors), which it records too.
        var serversNode: Double
        /// On each peer, per global name it holds (a median of the two).
        var peer: Double
    }

    static let duration = 5
    static let runs = 3

    /// The child's side of the trivial route: `GET /hello` → `OK`.
    static func serveTrivial(port: Int) async throws -> Never {
        let router = Router()
        router.get("/hello") { _, _ in "OK" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await app.runService()
        exit(0)
    }

    static func measure() async throws -> Figures {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("todo-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        func write(_ name: String, getShare: Double) throws -> URL {
            let script = scratch.appendingPathComponent(name)
            try loadScript(getShare: getShare).write(to: script, atomically: true, encoding: .utf8)
            return script
        }
        let script = try write("mix.lua", getShare: 0.8)
        let gets = try write("gets.lua", getShare: 1), posts = try write("posts.lua", getShare: 0)

        // The trivial route's server stays up, idle but for its runs, so that each run of the
        // mix has one of it just before: this machine's speed moves by 20 to 30 % within an
        // hour, and a share taken across minutes moved with it.
        let trivialPort = try freeBenchPort()
        let trivial = try launch(CommandLine.arguments[0], ["trivial-http", String(trivialPort)], in: scratch)
        defer { stop(trivial) }
        try await waitForHTTP(port: trivialPort, path: "/hello")
        var trivialRuns: [Load] = []
        func trivialRun() throws -> Load {
            let load = try wrk(port: trivialPort, path: "/hello", script: nil, servers: [trivial.pid])
            trivialRuns.append(load)
            return load
        }

        let cluster = try Cluster(size: 3, scratch: scratch)
        defer { cluster.stop() }
        func run(_ script: URL) throws -> Load {
            try wrk(port: cluster.httpPorts[0], path: "/", script: script, servers: cluster.pids)
        }
        /// The mix's runs, each after a trivial one: the median run, and the median share.
        func mixRuns() throws -> (load: Load, share: Double) {
            var loads: [Load] = [], shares: [Double] = []
            for _ in 0..<runs {
                let reference = try trivialRun()
                let load = try run(script)
                loads.append(load)
                shares.append(100 * load.requestsPerSecond / max(reference.requestsPerSecond, 1))
            }
            return (medianLoad(of: loads), median(shares))
        }
        // One node alone first, then the same node with two peers joined.
        try await cluster.start(count: 1)
        _ = try wrk(port: cluster.httpPorts[0], path: "/", script: script, servers: [])  // starts the list servers
        let oneNode = try mixRuns()
        let oneNodeGets = try medianLoad(of: (0..<runs).map { _ in try run(gets) })
        let oneNodePosts = try medianLoad(of: (0..<runs).map { _ in try run(posts) })
        try await cluster.start(count: 3)
        _ = try wrk(port: cluster.httpPorts[0], path: "/", script: script, servers: [])
        let threeNodes = try mixRuns()
        cluster.stop()
        stop(trivial)

        let alone = try await idleServerMemory(nodes: 1, scratch: scratch)
        let three = try await idleServerMemory(nodes: 3, scratch: scratch)
        let memory = IdleMemory(oneNode: alone[0], serversNode: three[0], peer: median(Array(three.dropFirst())))
        return Figures(trivial: medianLoad(of: trivialRuns), oneNode: oneNode.load, oneNodeGets: oneNodeGets, oneNodePosts: oneNodePosts,
                       cluster: threeNodes.load, oneNodeShare: oneNode.share, clusterShare: threeNodes.share, memory: memory)
    }

    /// Resident memory that each node of a fresh cluster of `nodes` gains, per list, as the
    /// first node loads 10,000 list servers, once they are idle: after `hibernateAfter`
    /// without mail each has hibernated. The first node's figure is its servers'; a peer's is
    /// what it keeps for each server's global name.
    static func idleServerMemory(lists: Int = 10_000, nodes: Int, scratch: URL) async throws -> [Double] {
        let cluster = try Cluster(size: nodes, scratch: scratch.appendingPathComponent("memory-\(nodes)"))
        defer { cluster.stop() }
        try await cluster.start(count: nodes)
        let port = cluster.httpPorts[0]
        let urls = scratch.appendingPathComponent("urls.txt")
        let warm = (1...100).map { "url = \"http://127.0.0.1:\(port)/entries?list=warm_\($0)&date=2018-12-19\"\noutput = /dev/null\n" }
        try warm.joined().write(to: urls, atomically: true, encoding: .utf8)
        try run("/usr/bin/curl", ["-s", "-K", urls.path])
        let before = cluster.pids.map(residentBytes)
        let lines = (1...lists).map { "url = \"http://127.0.0.1:\(port)/entries?list=idle_\($0)&date=2018-12-19\"\noutput = /dev/null\n" }
        try lines.joined().write(to: urls, atomically: true, encoding: .utf8)
        try run("/usr/bin/curl", ["-s", "-K", urls.path])
        // Well past a list server's `hibernateAfter`, so every server has hibernated.
        try await Task.sleep(for: TodoServer.hibernateAfter * 6)
        return zip(cluster.pids.map(residentBytes), before).map { Double($0 - $1) / Double(lists) }
    }

    /// The book's load, spread over 1,000 lists and December 2018: `getShare` of the requests
    /// are `GET /entries`, the rest `POST /add_entry` (the book's mix is 0.8).
    static func loadScript(getShare: Double) -> String {
        """
        math.randomseed(os.time())
        request = function()
          local list = "list_" .. math.random(1, 1000)
          local date = string.format("2018-12-%02d", math.random(1, 31))
          if math.random() < \(getShare) then
            return wrk.format("GET", "/entries?list=" .. list .. "&date=" .. date)
          else
            return wrk.format("POST", "/add_entry?list=" .. list .. "&date=" .. date .. "&title=Task", nil, "")
          end
        end
        """
    }

    /// One `wrk` run: one thread, 32 connections; `servers` are the processes that serve it
    /// (all of a cluster's nodes), whose CPU time it counts.
    static func wrk(port: Int, path: String, script: URL?, servers: [Int32]) throws -> Load {
        var arguments = ["-t1", "-c32", "-d\(duration)s", "--latency"]
        if let script { arguments += ["-s", script.path] }
        arguments.append("http://127.0.0.1:\(port)\(path)")
        let meter = CPUMeter(servers)
        let output = try run("/usr/bin/wrk", arguments)
        guard let rate = number(after: "Requests/sec:", in: output), let requests = number(before: " requests in", in: output),
              let p99Line = output.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("99%") })
        else { throw BenchFailure("cannot read wrk's output: \(output)") }
        let errors = Int(number(after: "Non-2xx or 3xx responses:", in: output) ?? 0)
        return Load(requestsPerSecond: rate, p99Milliseconds: milliseconds(String(p99Line.split(separator: " ").last ?? "")), errors: errors,
                    cpuMicroseconds: meter.microseconds(per: requests))
    }

    static func medianLoad(of loads: [Load]) -> Load {
        let sorted = loads.sorted { $0.requestsPerSecond < $1.requestsPerSecond }
        var middle = sorted[sorted.count / 2]
        middle.p99Milliseconds = median(loads.map(\.p99Milliseconds))
        middle.cpuMicroseconds = median(loads.map(\.cpuMicroseconds))
        middle.errors = loads.map(\.errors).reduce(0, +)
        return middle
    }

    private static func number(after label: String, in text: String) -> Double? {
        guard let range = text.range(of: label) else { return nil }
        return Double(text[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" }).first ?? "")
    }

    /// The number just before `label` (wrk's `12345 requests in 5.00s`).
    private static func number(before label: String, in text: String) -> Double? {
        guard let range = text.range(of: label) else { return nil }
        return Double(text[..<range.lowerBound].split(whereSeparator: { $0 == " " || $0 == "\n" }).last ?? "")
    }

    /// wrk writes latencies as `812.00us`, `12.34ms` or `1.20s`.
    private static func milliseconds(_ text: String) -> Double {
        if text.hasSuffix("us") { return (Double(text.dropLast(2)) ?? 0) / 1_000 }
        if text.hasSuffix("ms") { return Double(text.dropLast(2)) ?? 0 }
        if text.hasSuffix("s") { return (Double(text.dropLast()) ?? 0) * 1_000 }
        return Double(text) ?? 0
    }

    /// Up to three release `todo-node`s with a port mapper and data of their own.
    final class Cluster {
        let scratch: URL
        let mapperPort: Int
        let httpPorts: [Int]
        var processes: [ChildProcess] = []
        var pids: [Int32] { processes.map(\.pid) }

        init(size: Int, scratch: URL) throws {
            self.scratch = scratch
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            mapperPort = try freeBenchPort()
            httpPorts = try (0..<size).map { _ in try freeBenchPort() }
        }

        func start(count: Int) async throws {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("todo-node").path
            while processes.count < count {
                let index = processes.count
                var arguments = ["--name", "bench\(index + 1)@localhost", "--http-port", String(httpPorts[index]),
                                 "--mapper-port", String(mapperPort), "--cookie", "bench", "--log-level", "warning",
                                 "--server-idle-timeout", "3600"]
                if index > 0 { arguments += ["--connect", "bench1@localhost"] }
                processes.append(try launch(binary, arguments, in: scratch))
                try await waitForHTTP(port: httpPorts[index], path: "/health")
            }
            try await waitForPeers(count - 1)
        }

        private func waitForPeers(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if let body = try? run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(httpPorts[0])/health"]),
                   let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                   (json["nodes"] as? [String])?.count == count { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw BenchFailure("the bench cluster did not join")
        }

        /// Stops the node started last (gracefully); `start` starts it again.
        func stopLast() {
            guard let last = processes.popLast() else { return }
            WebBench.stop(last)
        }

        func stop() {
            for process in processes { WebBench.stop(process) }
            processes.removeAll()
            for pid in benchProcesses(matching: "--mapper-port \(mapperPort)") { kill(pid, SIGKILL) }
        }
    }

    static func launch(_ path: String, _ arguments: [String], in directory: URL) throws -> ChildProcess {
        try ChildProcess(path, arguments, directory: directory.path)
    }

    /// Stops a node gracefully (SIGTERM), as a user does.
    static func stop(_ process: ChildProcess) {
        guard process.isRunning else { return }
        process.signal(SIGTERM)
        process.waitForExit()
    }

    @discardableResult
    static func run(_ path: String, _ arguments: [String]) throws -> String {
        try ChildProcess.run(path, arguments).output
    }

    static func waitForHTTP(port: Int, path: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let answer = try? run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)\(path)"]),
               answer == "200" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchFailure("nothing answers HTTP on port \(port)")
    }

    static func residentBytes(of pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// A TCP port nobody listens on, below the kernel's ephemeral range.
func freeBenchPort() throws -> Int {
    for _ in 0..<100 {
        let port = Int.random(in: 20_000..<32_000)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { return port }
    }
    throw BenchFailure("no free port")
}

/// OS processes whose command line contains `text`.
func benchProcesses(matching text: String) -> [Int32] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
        return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text) ? pid : nil
    }
}
