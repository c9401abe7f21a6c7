import Cluster
import Foundation
import Histogram
import Logging
import Processes

/// Two nodes in two OS processes over 127.0.0.1: remote round trip and one-way throughput,
/// 64-byte payloads, measured in the same run as raw ZeroMQ.
enum RemoteBench {
    static let payload = [UInt8](repeating: 7, count: 64)

    static func settings(_ name: String, mapperPort: Int) -> ClusterSettings {
        var settings = ClusterSettings(node: NodeName(name: name, host: "localhost"), cookie: "bench")
        settings.mapperPort = mapperPort
        return settings
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return logger
    }

    /// The child's side: an `echo` process and a `sink` that counts, until killed.
    static func runPeer(mapperPort: Int) async throws -> Never {
        let node = try await ClusterNode.start(settings("peer", mapperPort: mapperPort), logger: quietLogger)
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
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        while true { try await Task.sleep(for: .seconds(3_600)) }
    }

    struct Figures {
        var p50: Double
        var p99: Double
        var throughput: Double
    }

    /// Starts the peer process and measures against it.
    static func measure(runs: Int = 3) async throws -> Figures {
        let mapper = try PortMapperServer(port: 0, host: "127.0.0.1")
        defer { mapper.stop() }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["remote-peer", String(mapper.port)]
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        defer {
            child.terminate()
            child.waitUntilExit()
        }
        _ = output.fileHandleForReading.availableData  // "ready"
        let node = try await ClusterNode.start(settings("bench", mapperPort: mapper.port), logger: quietLogger)
        let peer = NodeName(name: "peer", host: "localhost")
        guard await node.connect(peer) else { throw BenchFailure("cannot reach the peer node") }
        defer { Task { await node.shutdown() } }

        var p50s: [Double] = [], p99s: [Double] = [], rates: [Double] = []
        for _ in 0..<runs {
            let (p50, p99) = try await roundTrips(node: node, peer: peer)
            p50s.append(p50)
            p99s.append(p99)
            rates.append(try await throughput(node: node, peer: peer))
        }
        return Figures(p50: p50s.sorted()[runs / 2], p99: p99s.sorted()[runs / 2], throughput: rates.sorted()[runs / 2])
    }

    static func roundTrips(node: ClusterNode, peer: NodeName, count: Int = 20_000) async throws -> (Double, Double) {
        try await node.runtime.withProcess { context in
            context.runtime.send(context.pid, toName: "echo", on: peer.description)
            guard let echo = try await context.receive(Pid.self, timeout: .seconds(10)) else { throw BenchFailure("no echo") }
            var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000_000)
            for _ in 0..<count {
                let start = ContinuousClock.now
                context.send(payload, to: echo)
                _ = try await context.receive([UInt8].self)
                histogram.record(UInt64(seconds(ContinuousClock.now - start) * 1e9))
            }
            return (Double(histogram.valueAtPercentile(50)) / 1000, Double(histogram.valueAtPercentile(99)) / 1000)
        }
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
