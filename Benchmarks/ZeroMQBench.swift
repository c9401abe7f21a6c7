import Foundation
import Histogram
import Synchronization
import ZeroMQ

/// Raw ZeroMQ reference figures: DEALER to ROUTER over tcp on 127.0.0.1, two threads or (the
/// floors of our node-to-node figures) one or two echoes in OS processes of their own; in the
/// clear, or with CURVE (`keys`) as the cluster's links are.
enum ZeroMQBench {
    static let payload = [UInt8](repeating: 7, count: 64)

    /// Runs `serve` on its own thread with a ROUTER bound to a free loopback port (a socket
    /// stays on the thread that made it); returns the endpoint once it is bound.
    static func router(
        _ context: Context, keys: CurveKeyPair?, done: DispatchSemaphore, _ serve: @escaping @Sendable (Socket) -> Void
    ) throws -> String {
        let bound = DispatchSemaphore(value: 0)
        let endpoint = Mutex<Result<String, ZMQError>?>(nil)
        Thread {
            do {
                let router = try context.socket(.router)
                try router.setReceiveHighWaterMark(0)
                if let keys { try router.makeCurveServer(secretKey: keys.secretKey) }
                try router.bind("tcp://127.0.0.1:*")
                let address = try router.lastEndpoint()
                endpoint.withLock { $0 = .success(address) }
                bound.signal()
                serve(router)
            } catch let error as ZMQError {
                endpoint.withLock { $0 = .failure(error) }
                bound.signal()
            } catch {}
            done.signal()
        }.start()
        bound.wait()
        guard let result = endpoint.withLock({ $0 }) else { throw ZMQError(code: 0, operation: "router thread") }
        return try result.get()
    }

    /// Round trips of a 64-byte message; returns (p50, p99) in microseconds.
    static func roundTrip(count: Int = 20_000, keys: CurveKeyPair? = nil) throws -> (p50: Double, p99: Double) {
        let context = try Context()
        let done = DispatchSemaphore(value: 0)
        let endpoint = try router(context, keys: keys, done: done) { router in
            for _ in 0..<count {  // echo each message to its sender
                guard let message = try? router.receiveMessage() else { return }
                _ = try? router.send(message)
            }
        }
        let figures = try rounds(context, to: [endpoint], keys: keys, count: count)
        done.wait()
        return figures
    }

    /// Rounds from one DEALER to each echoing ROUTER of `endpoints`: a 64-byte message to
    /// every one, then every answer taken. (p50, p99) of a round in microseconds.
    private static func rounds(
        _ context: Context, to endpoints: [String], keys: CurveKeyPair?, count: Int
    ) throws -> (p50: Double, p99: Double) {
        let dealers = try endpoints.map { endpoint in
            let dealer = try context.socket(.dealer)
            if let keys { try dealer.makeCurveClient(serverKey: keys.publicKey, keyPair: keys) }
            try dealer.connect(endpoint)
            return dealer
        }
        var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000_000)
        for _ in 0..<count {
            let start = ContinuousClock.now
            for dealer in dealers { try dealer.send([payload]) }
            for dealer in dealers { _ = try dealer.receiveMessage() }
            histogram.record(UInt64(seconds(ContinuousClock.now - start) * 1e9))
        }
        return (Double(histogram.valueAtPercentile(50)) / 1000, Double(histogram.valueAtPercentile(99)) / 1000)
    }

    /// `rounds` to `echoes` CURVE ROUTERs, each in an OS process of its own (`zmq-echo`), as
    /// peer nodes are: each side then has its own I/O thread, so a message wakes three
    /// threads, not two.
    /// With (p50, p99), `cpu`: the CPU time of this process and the echoes' (every thread of
    /// each) per round, in microseconds.
    private static func roundsAcrossProcesses(echoes: Int, count: Int, keys: CurveKeyPair) throws -> (p50: Double, p99: Double, cpu: Double) {
        try withEchoes(echoes, keys: keys) { endpoints, pids in
            let meter = CPUMeter([getpid()] + pids)
            let (p50, p99) = try rounds(try Context(), to: endpoints, keys: keys, count: count)
            return (p50, p99, meter.microseconds(per: Double(count)))
        }
    }

    /// Runs `body` with the endpoints and process ids of `count` echoes (`zmq-echo`, `polled`
    /// or blocking), each in an OS process of its own, killed after.
    private static func withEchoes<T>(
        _ count: Int, keys: CurveKeyPair, polled: Bool = false, _ body: ([String], [Int32]) throws -> T
    ) throws -> T {
        let children = try (0..<count).map { _ in
            try startReadingOutput(CommandLine.arguments[0], ["zmq-echo", keys.publicKey, keys.secretKey] + (polled ? ["polled"] : []))
        }
        defer {
            for (child, _) in children {
                child.signal(SIGKILL)
                child.waitForExit()
            }
        }
        let endpoints = children.map { _, output in
            String(decoding: output.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return try body(endpoints, children.map(\.0.pid))
    }

    /// The floor of a node-to-node round trip over libzmq.
    static func roundTripAcrossProcesses(count: Int = 20_000, keys: CurveKeyPair) throws -> (p50: Double, p99: Double, cpu: Double) {
        try roundsAcrossProcesses(echoes: 1, count: count, keys: keys)
    }

    /// `roundTripAcrossProcesses` with libzmq driven as a node's transport drives it: each side
    /// waits in epoll on its socket's descriptor (ZMQ_FD), reads until nothing is left, and
    /// looks at the socket's events after each send, and does nothing else. Beside the
    /// blocking figure, it tells how much of our round trip's distance from that floor is
    /// this way of waiting and how much is our own code.
    static func polledRoundTripAcrossProcesses(count: Int = 20_000, keys: CurveKeyPair) throws -> (p50: Double, p99: Double) {
        try withEchoes(1, keys: keys, polled: true) { endpoints, _ in
            let dealer = try Context().socket(.dealer)
            try dealer.makeCurveClient(serverKey: keys.publicKey, keyPair: keys)
            try dealer.connect(endpoints[0])
            let poller = try DescriptorPoller()
            try poller.add(try dealer.fileDescriptor())
            var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000_000)
            for _ in 0..<count {
                let start = ContinuousClock.now
                _ = try dealer.send(payload)
                // The send may have taken in the descriptor's signal: look before waiting on it.
                var waiting = !(try dealer.events()).contains(.readable)
                var answered = false
                while !answered {
                    if waiting { try poller.wait(timeoutMilliseconds: -1) }
                    while try dealer.receiveMessage(dontWait: true) != nil { answered = true }
                    waiting = true
                }
                histogram.record(UInt64(seconds(ContinuousClock.now - start) * 1e9))
            }
            return (Double(histogram.valueAtPercentile(50)) / 1000, Double(histogram.valueAtPercentile(99)) / 1000)
        }
    }

    /// The floor of a multicall to two nodes over libzmq. On this machine's two cores the two
    /// echoes' threads and ours take turns, so it is not the round trip's figure.
    static func multicallAcrossProcesses(count: Int = 20_000, keys: CurveKeyPair) throws -> (p50: Double, p99: Double, cpu: Double) {
        try roundsAcrossProcesses(echoes: 2, count: count, keys: keys)
    }

    /// The child's side of `roundsAcrossProcesses`: a CURVE ROUTER that echoes, until killed;
    /// `polled`, as `polledRoundTripAcrossProcesses` describes.
    static func serveEcho(publicKey: String, secretKey: String, polled: Bool = false) throws -> Never {
        let context = try Context()
        let router = try context.socket(.router)
        try router.makeCurveServer(secretKey: secretKey)
        try router.bind("tcp://127.0.0.1:*")
        FileHandle.standardOutput.write(Data("\(try router.lastEndpoint())\n".utf8))
        guard polled else {
            while true {
                guard let message = try? router.receiveMessage() else { continue }
                _ = try? router.send(message)
            }
        }
        let poller = try DescriptorPoller()
        try poller.add(try router.fileDescriptor())
        while true {
            var sent = false
            while let message = try? router.receiveMessage(dontWait: true) {
                _ = try? router.send(message)
                sent = true
            }
            // As the transport does after a send: mail its signal went to is read at once.
            if sent, (try? router.events())?.contains(.readable) == true { continue }
            try? poller.wait(timeoutMilliseconds: -1)
        }
    }

    /// One-way two-frame 64-byte messages per second, sender and receiver on two threads.
    static func throughput(count: Int = 1_000_000, keys: CurveKeyPair? = nil) throws -> Double {
        let context = try Context()
        let done = DispatchSemaphore(value: 0)
        let window = Mutex<(start: ContinuousClock.Instant, end: ContinuousClock.Instant)>((.now, .now))
        let endpoint = try router(context, keys: keys, done: done) { router in
            for index in 0..<count {
                guard (try? router.receiveMessage()) != nil else { return }
                if index == 0 { window.withLock { $0.start = .now } }
            }
            window.withLock { $0.end = .now }
        }
        let dealer = try context.socket(.dealer)
        try dealer.setSendHighWaterMark(0)
        if let keys { try dealer.makeCurveClient(serverKey: keys.publicKey, keyPair: keys) }
        try dealer.connect(endpoint)
        let header: [UInt8] = [1]
        for _ in 0..<count {
            try dealer.send(header, more: true)
            try dealer.send(payload)
        }
        done.wait()
        let (start, end) = window.withLock { $0 }
        return Double(count - 1) / seconds(end - start)
    }
}
