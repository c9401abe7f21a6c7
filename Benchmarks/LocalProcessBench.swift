import Foundation
import Processes
import Synchronization

/// Local process figures: send throughput, spawn rate, memory per idle process.
enum LocalProcessBench {
    /// Messages/s from one process to another (one-way, Int payloads).
    static func sendThroughput(messages: Int = 2_000_000) async throws -> Double {
        let runtime = ProcessRuntime(node: "bench@localhost")
        return try await runtime.withProcess { context in
            let me = context.pid
            let receiver = context.spawn { inner in
                var count = 0
                while count < messages {
                    _ = try await inner.receive(Int.self)
                    count += 1
                }
                inner.send("done", to: me)
            }
            let start = ContinuousClock.now
            let sender = context.spawn { inner in
                for value in 0..<messages { inner.send(value, to: receiver) }
            }
            _ = sender
            _ = try await context.receive(String.self)
            return Double(messages) / seconds(ContinuousClock.now - start)
        }
    }

    /// `spawnIdle` in a new OS process of this benchmark binary.
    static func spawnInFreshProcess() throws -> (rate: Double, runningRate: Double, bytesPerProcess: Double) {
        let text = try runBenchChild(["spawn-once"])
        let fields = text.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        guard fields.count == 3 else { throw BenchError.badOutput(text) }
        return (fields[0], fields[1], fields[2])
    }

    enum BenchError: Error { case badOutput(String) }

    /// Processes of `spawnIdle` that have begun to run (a global: a body that captured it
    /// would allocate a context per process).
    private static let begun = Atomic<Int>(0)

    /// Spawns `count` processes that wait in receive; gives spawns/s (as `spawn` returns), the
    /// rate at which they began to run (a spawned process's task is made when it first runs,
    /// on another thread), and resident bytes per process.
    static func spawnIdle(count: Int = 100_000) async throws -> (rate: Double, runningRate: Double, bytesPerProcess: Double) {
        let runtime = ProcessRuntime(node: "bench@localhost")
        var pids: [Pid] = []
        pids.reserveCapacity(count)
        let before = residentBytes()
        let begunBefore = begun.load(ordering: .relaxed)  // a global: earlier calls counted too
        let start = ContinuousClock.now
        for _ in 0..<count {
            pids.append(runtime.spawn { context in
                begun.add(1, ordering: .relaxed)
                _ = try await context.receive(Int.self)
            })
        }
        let spawned = ContinuousClock.now - start
        while begun.load(ordering: .relaxed) - begunBefore < count { try await Task.sleep(for: .milliseconds(1)) }
        let running = ContinuousClock.now - start
        // Let every process reach its receive before measuring memory.
        try await Task.sleep(for: .milliseconds(500))
        let after = residentBytes()
        try await runtime.withProcess { context in
            var refs: [Ref] = []
            for pid in pids { refs.append(context.monitor(pid)) }
            for pid in pids { context.send(0, to: pid) }
            for _ in refs { _ = try await context.receive(Down.self) }
        }
        return (Double(count) / seconds(spawned), Double(count) / seconds(running), Double(after - before) / Double(count))
    }
}

extension LocalProcessBench {
    /// Round trip between two local processes (ping-pong), in microseconds: the cost of waking
    /// a waiting process, twice.
    static func localRoundTrip(count: Int = 20_000) async throws -> Double {
        let runtime = ProcessRuntime(node: "bench@localhost")
        return try await runtime.withProcess { context in
            let echo = context.spawn { inner in
                while true {
                    let from = try await inner.receive(Pid.self)
                    inner.send(from, to: from)
                }
            }
            let start = ContinuousClock.now
            for _ in 0..<count {
                context.send(context.pid, to: echo)
                _ = try await context.receive(Pid.self)
            }
            context.exit(echo, reason: .kill)
            return seconds(ContinuousClock.now - start) / Double(count) * 1e6
        }
    }
}

extension LocalProcessBench {
    struct Echo: GenServer {
        mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> { .reply(request) }
    }

    /// A GenServer call from code outside any process, as an HTTP handler makes one (it runs
    /// as a short-lived process): microseconds per call, one caller at a time.
    static func callFromTask(count: Int = 20_000) async throws -> Double {
        let runtime = ProcessRuntime(node: "bench@localhost")
        let server = try await runtime.withProcess { try await $0.startServer { _ in Echo() } }
        let start = ContinuousClock.now
        for index in 0..<count { _ = try await runtime.call(server, index) }
        return seconds(ContinuousClock.now - start) / Double(count) * 1e6
    }

    /// A GenServer call from a process, as Erlang's `gen_server:call` is always made: the
    /// mean in microseconds.
    static func callFromProcess(count: Int = 20_000) async throws -> Double {
        let runtime = ProcessRuntime(node: "bench@localhost")
        return try await runtime.withProcess { context in
            let server = try await context.startServer { _ in Echo() }
            let me = context.pid
            let (_, watch) = context.spawnMonitor { caller in
                let start = ContinuousClock.now
                for index in 0..<count { _ = try await caller.call(server, index) }
                caller.send(seconds(ContinuousClock.now - start) / Double(count) * 1e6, to: me)
            }
            // The figure, or the caller's failure (a failed call must not leave the bench waiting).
            let outcome = try await context.receive { message -> Result<Double, ExitReason>? in
                if let figure = message as? Double { return .success(figure) }
                if let down = message as? Down, down.ref == watch, down.reason != .normal { return .failure(down.reason) }
                return nil
            }
            return try outcome.get()
        }
    }

    /// An echo server that hibernates, as a list server does.
    struct DormantEcho: GenServer {
        static var hibernates: Bool { true }
        mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> { .reply(request) }
    }

    /// A call from a task to a hibernated server, as a request to a list asked now and then
    /// finds its server: microseconds per call, one caller at a time, to `servers` servers
    /// started and left idle first, each called once.
    static func callToHibernated(servers: Int = 10_000) async throws -> Double {
        let runtime = ProcessRuntime(node: "bench@localhost")
        let started = try await runtime.withProcess { context in
            var started: [ServerRef<DormantEcho>] = []
            for _ in 0..<servers { started.append(try await context.startServer { _ in DormantEcho() }) }
            return started
        }
        let start = ContinuousClock.now
        for (index, server) in started.enumerated() { _ = try await runtime.call(server, index) }
        let perCall = seconds(ContinuousClock.now - start) / Double(servers) * 1e6
        for server in started { runtime.exit(server.pid, reason: .kill, from: server.pid) }  // the next run starts bare
        return perCall
    }

    /// The same from 32 tasks at once, each to a server of its own (as 32 HTTP connections
    /// to 32 lists): calls per second.
    static func concurrentCallsFromTasks(callers: Int = 32, each: Int = 5_000) async throws -> Double {
        let runtime = ProcessRuntime(node: "bench@localhost")
        var servers: [ServerRef<Echo>] = []
        for _ in 0..<callers { servers.append(try await runtime.withProcess { try await $0.startServer { _ in Echo() } }) }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for server in servers {
                group.addTask { for index in 0..<each { _ = try await runtime.call(server, index) } }
            }
            try await group.waitForAll()
        }
        return Double(callers * each) / seconds(ContinuousClock.now - start)
    }
}
