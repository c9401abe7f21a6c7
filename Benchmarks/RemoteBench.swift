import Cluster
import Foundation
import Histogram
import Logging
import OSProcess
import Processes

/// Two nodes in two OS processes over 127.0.0.1: remote round trip and one-way throughput,
/// 64-byte payloads, measured in the same run as raw ZeroMQ.
enum RemoteBench {
    static let payload = [UInt8](repeating: 7, count: 64)

    static func settings(_ name: String, mapperPort: Int, encrypted: Bool = true) -> ClusterSettings {
        var settings = ClusterSettings(node: NodeName(name: name, host: "localhost"), cookie: "bench")
        settings.mapperPort = mapperPort
        settings.encrypted = encrypted
        return settings
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return logger
    }

    /// The child's side: an `echo` process and a `sink` that counts, until killed.
    static func runPeer(name: String, mapperPort: Int, encrypted: Bool) async throws -> Never {
        let node = try await ClusterNode.start(settings(name, mapperPort: mapperPort, encrypted: encrypted), logger: quietLogger)
        node.rpc.register("echo") { (value: Int) in value }
        let echo = node.runtime.spawn { context in
            var client: Pid?
            while true {
                let message = try await context.receiveAny()
                if let pid = message as? Pid {
                    client = pid
                    context.send(context.pid, to: pid)
                } else if let client {
                    context.send(message, to: client)
                }
            }
        }
        try node.runtime.register("echo", echo)
        let sink = node.runtime.spawn { context in
            while true {
                let requester = try await context.receive(Pid.self)
                let count = try await context.receive(Int.self)
                context.send(context.pid, to: requester)
                for _ in 0..<count { _ = try await context.receive([UInt8].self) }
                context.send("done", to: requester)
            }
        }
        try node.runtime.register("sink", sink)
        registerCallMessages(in: node)
        let server = try await node.runtime.withProcess { context in
            try await context.startServer(name: .local("echo_server")) { _ in EchoServer() }
        }
        node.rpc.register("echo_server") { (_: Int) in server.pid }
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        while true { try await Task.sleep(for: .seconds(3_600)) }
    }

    /// Answers each call with its request.
    struct EchoServer: GenServer {
        mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> {
            .reply(request)
        }
    }

    static func registerCallMessages(in node: ClusterNode) {
        node.registry.register(CallMessage<Int>.self, as: "bench.call")
        node.registry.register(CallReply<Int>.self, as: "bench.reply")
    }

    struct Figures {
        var p50: Double
        var p99: Double
        /// CPU time of both processes (every thread of each) per round trip, in microseconds.
        var cpu: Double
        var throughput: Double
    }

    struct ServiceFigures {
        var register: Double
        var lookup: Double
        var multicall: Double
        var call: Double
        var multicallPeers: Double
        /// A GenServer call to a server on a peer (monitor, request, reply, demonitor).
        var serverCall: Double
        /// The median single call of each kind, to set beside the round trip's median.
        var callP50: Double
        var multicallPeersP50: Double
        var serverCallP50: Double
        /// GenServer.multi_call to the server registered on both peers.
        var serverMulticallPeersP50: Double
        /// CPU time of the three processes (every thread of each) per multicall to the two
        /// peers, in microseconds.
        var multicallPeersCPU: Double
    }

    /// Microseconds: the mean run, and the median and 99th percentile single run.
    typealias Timing = (mean: Double, p50: Double, p99: Double)

    /// Times `count` runs of `body`, one after another.
    static func timed(_ count: Int, _ body: () async throws -> Void) async rethrows -> Timing {
        var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000_000)
        let first = ContinuousClock.now
        for _ in 0..<count {
            let start = ContinuousClock.now
            try await body()
            histogram.record(UInt64(seconds(ContinuousClock.now - start) * 1e9))
        }
        return (seconds(ContinuousClock.now - first) / Double(count) * 1e6,
                Double(histogram.valueAtPercentile(50)) / 1000, Double(histogram.valueAtPercentile(99)) / 1000)
    }

    /// Starts a peer node in a process of its own; it is stopped when the returned process is.
    static func startPeer(_ name: String, mapperPort: Int, encrypted: Bool = true) throws -> ChildProcess {
        let (child, output) = try startReadingOutput(
            CommandLine.arguments[0], ["remote-peer", name, String(mapperPort)] + (encrypted ? [] : ["clear"]))
        _ = output.availableData  // "ready"
        return child
    }

    /// Runs `body` with this process's node connected to peer nodes in their own processes.
    static func withPeers<T>(
        _ names: [String], encrypted: Bool = true, _ body: (ClusterNode, [NodeName]) async throws -> T
    ) async throws -> T {
        let mapper = try PortMapperServer(port: 0, host: "127.0.0.1")
        defer { mapper.stop() }
        let children = try names.map { try startPeer($0, mapperPort: mapper.port, encrypted: encrypted) }
        defer {
            for child in children {
                child.signal(SIGTERM)
                child.waitForExit()
            }
        }
        let node = try await ClusterNode.start(settings("bench", mapperPort: mapper.port, encrypted: encrypted), logger: quietLogger)
        node.rpc.register("echo") { (value: Int) in value }
        registerCallMessages(in: node)
        let peers = names.map { NodeName(name: $0, host: "localhost") }
        for peer in peers {
            guard await node.connect(peer) else { throw BenchFailure("cannot reach \(peer)") }
        }
        let result = try await body(node, peers)
        await node.shutdown()
        return result
    }

    /// This process and the OS processes of `peers` (started by `withPeers` for `node`).
    static func processes(of node: ClusterNode, peers: [NodeName]) -> [Int32] {
        [getpid()] + peers.flatMap { benchProcesses(matching: "remote-peer \($0.name) \(node.settings.mapperPort)") }
    }

    /// Milliseconds from `kill -9` of a peer's process to this node's `nodedown`.
    static func nodedownAfterKill(runs: Int = 5) async throws -> Double {
        let mapper = try PortMapperServer(port: 0, host: "127.0.0.1")
        defer { mapper.stop() }
        let node = try await ClusterNode.start(settings("bench", mapperPort: mapper.port), logger: quietLogger)
        var times: [Double] = []
        for run in 0..<runs {
            let name = "victim\(run)"
            let child = try startPeer(name, mapperPort: mapper.port)
            let peer = NodeName(name: name, host: "localhost")
            guard await node.connect(peer) else { throw BenchFailure("cannot reach \(peer)") }
            let elapsed = try await node.runtime.withProcess { context -> Double in
                node.monitorNode(peer, for: context.pid)
                let start = ContinuousClock.now
                child.signal(SIGKILL)
                guard try await context.receive(NodeDown.self, timeout: .seconds(30)) != nil else { throw BenchFailure("no nodedown") }
                return seconds(ContinuousClock.now - start) * 1_000
            }
            child.waitForExit()
            times.append(elapsed)
        }
        await node.shutdown()
        return median(times)
    }

    /// Global register and lookup on two nodes, and multicall to this node and two peers.
    /// Called on the process scheduler, as a process calls (and as `roundTrips` measures).
    static func measureServices(runs: Int = 3) async throws -> ServiceFigures {
        try await withPeers(["peer", "peer2"]) { node, peers in try await withTaskExecutorPreference(node.runtime.scheduler) {
            try await node.global.sync()
            var registers: [Double] = [], lookups: [Double] = [], multicalls: [Double] = []
            var calls: [Timing] = [], peerMulticalls: [Timing] = [], serverCalls: [Timing] = [], serverMulticalls: [Timing] = []
            var peerMulticallCPUs: [Double] = []
            let processes = processes(of: node, peers: peers)
            let server = try await node.rpc.call(peers[0], "echo_server", 0, returning: Pid.self)
            for run in 0..<runs {
                let pid = node.runtime.spawn { context in _ = try await context.receive(Int.self) }
                let count = 2_000
                var start = ContinuousClock.now
                for index in 0..<count { _ = try await node.global.register("bench-\(run)-\(index)", pid) }
                registers.append(seconds(ContinuousClock.now - start) / Double(count) * 1e6)
                start = ContinuousClock.now
                var found = 0
                for index in 0..<1_000_000 where node.global.whereis("bench-\(run)-\(index % count)") != nil { found += 1 }
                lookups.append(seconds(ContinuousClock.now - start) / 1e6 * 1e6)
                multicalls.append(await timed(2_000) { _ = await node.rpc.multicall("echo", 1, returning: Int.self) }.mean)
                calls.append(try await timed(2_000) { _ = try await node.rpc.call(peers[0], "echo", 1, returning: Int.self) })
                let meter = CPUMeter(processes)
                peerMulticalls.append(await timed(2_000) { _ = await node.rpc.multicall(on: peers, "echo", 1, returning: Int.self) })
                peerMulticallCPUs.append(meter.microseconds(per: 2_000))
                serverCalls.append(try await timedCalls(to: server, from: node, count: 2_000))
                serverMulticalls.append(await timed(2_000) { _ = await node.multiCall(on: peers, "echo_server", 1, replyType: Int.self) })
                node.runtime.send(0, to: pid)
            }
            return ServiceFigures(register: median(registers), lookup: median(lookups), multicall: median(multicalls),
                                  call: median(calls.map(\.mean)), multicallPeers: median(peerMulticalls.map(\.mean)),
                                  serverCall: median(serverCalls.map(\.mean)), callP50: median(calls.map(\.p50)),
                                  multicallPeersP50: median(peerMulticalls.map(\.p50)), serverCallP50: median(serverCalls.map(\.p50)),
                                  serverMulticallPeersP50: median(serverMulticalls.map(\.p50)), multicallPeersCPU: median(peerMulticallCPUs))
        } }
    }

    /// The p50 of multicalls to `peers` (rpc's of `echo`, or with `servers` GenServer's to
    /// `echo_server`), on the process scheduler, and the CPU time of this process and the
    /// peers' per multicall (for profiling).
    static func multicalls(node: ClusterNode, peers: [NodeName], servers: Bool = false, count: Int = 50_000) async -> (p50: Double, cpu: Double) {
        let meter = CPUMeter(processes(of: node, peers: peers))
        let p50 = await withTaskExecutorPreference(node.runtime.scheduler) {
            await timed(count) {
                if servers {
                    _ = await node.multiCall(on: peers, "echo_server", 1, replyType: Int.self)
                } else {
                    _ = await node.rpc.multicall(on: peers, "echo", 1, returning: Int.self)
                }
            }.p50
        }
        return (p50, meter.microseconds(per: Double(count)))
    }

    /// `count` GenServer calls to `server`, one after another from one process of `node`.
    static func timedCalls(to server: Pid, from node: ClusterNode, count: Int) async throws -> Timing {
        try await node.runtime.withProcess { context in
            try await timed(count) { _ = try await context.call(server, 1, replyType: Int.self) }
        }
    }

    /// The (p50, p99) of GenServer calls to the echo server on `peer`, on the process
    /// scheduler (for profiling beside `roundTrips`).
    static func serverCalls(node: ClusterNode, peer: NodeName, count: Int = 100_000) async throws -> (Double, Double) {
        let server = try await node.rpc.call(peer, "echo_server", 0, returning: Pid.self)
        let times = try await withTaskExecutorPreference(node.runtime.scheduler) {
            try await timedCalls(to: server, from: node, count: count)
        }
        return (times.p50, times.p99)
    }

    /// Starts the peer process and measures against it, over encrypted links or (for the
    /// cost of encryption) in the clear.
    static func measure(runs: Int = 3, encrypted: Bool = true) async throws -> Figures {
        try await withPeers(["peer"], encrypted: encrypted) { node, peers in try await measure(node: node, peer: peers[0], runs: runs) }
    }

    static func measure(node: ClusterNode, peer: NodeName, runs: Int) async throws -> Figures {
        var p50s: [Double] = [], p99s: [Double] = [], cpus: [Double] = [], rates: [Double] = []
        let processes = processes(of: node, peers: [peer])
        for _ in 0..<runs {
            let count = 20_000
            let meter = CPUMeter(processes)
            let (p50, p99) = try await roundTrips(node: node, peer: peer, count: count)
            cpus.append(meter.microseconds(per: Double(count)))
            p50s.append(p50)
            p99s.append(p99)
            rates.append(try await throughput(node: node, peer: peer))
        }
        return Figures(p50: median(p50s), p99: median(p99s), cpu: median(cpus), throughput: median(rates))
    }

    /// From a process, as a program's would be: on the process scheduler.
    static func roundTrips(node: ClusterNode, peer: NodeName, count: Int = 20_000) async throws -> (Double, Double) {
        try await withTaskExecutorPreference(node.runtime.scheduler) { try await node.runtime.withProcess { context in
            context.runtime.send(context.pid, toName: "echo", on: peer.description)
            guard let echo = try await context.receive(Pid.self, timeout: .seconds(10)) else { throw BenchFailure("no echo") }
            let times = try await timed(count) {
                context.send(payload, to: echo)
                _ = try await context.receive([UInt8].self)
            }
            return (times.p50, times.p99)
        } }
    }

    static func throughput(node: ClusterNode, peer: NodeName, count: Int = 1_000_000) async throws -> Double {
        try await node.runtime.withProcess { context in
            context.runtime.send(context.pid, toName: "sink", on: peer.description)
            context.runtime.send(count, toName: "sink", on: peer.description)
            guard let sink = try await context.receive(Pid.self, timeout: .seconds(10)) else { throw BenchFailure("no sink") }
            let start = ContinuousClock.now
            for _ in 0..<count { context.send(payload, to: sink) }
            guard try await context.receive(String.self, timeout: .seconds(120)) != nil else { throw BenchFailure("sink never finished") }
            return Double(count) / seconds(ContinuousClock.now - start)
        }
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
