@testable import Cluster
import ClusterTestKit
import Processes
import Testing
import ZeroMQ

/// A server that answers an Int call with the Int doubled, or never for a negative one.
struct Doubler: GenServer {
    mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> {
        if request < 0 { return .noReply }
        if request == 0 { throw ExitReason.other("zero is not allowed") }
        return .reply(request * 2)
    }
}

func callRegistry() -> WireRegistry {
    let registry = WireRegistry()
    registry.registerCodable(CallMessage<Int>.self, as: "test.call.int")
    registry.registerCodable(CallReply<Int>.self, as: "test.reply.int")
    return registry
}

@Suite(.timeLimit(.minutes(2)))
struct RemoteProcessTests {
    @Test func sendToARegisteredNameOnAnotherNode() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            try await a.runtime.withProcess { context async throws in
                let me = context.pid
                let shell = b.runtime.spawn { inner in
                    let text = try await inner.receive(String.self)
                    inner.send("b got \(text)", to: me)
                }
                try b.runtime.register("shell", shell)
                a.runtime.send("hello", toName: "shell", on: b.name.description)
                #expect(try await context.receive(String.self, timeout: .seconds(10)) == "b got hello")
            }
        }
    }

    @Test func remoteMonitorsAndLinksCarryTheRealReason() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            try await a.runtime.withProcess { context async throws in
                let remote = b.runtime.spawn { inner in
                    _ = try await inner.receive(String.self)
                    throw ExitReason.other("remote failure")
                }
                let ref = context.monitor(remote)
                context.trapExit()
                context.link(remote)
                context.send("die", to: remote)
                let down = try await context.receive(timeout: .seconds(10)) { ($0 as? Down).flatMap { $0.ref == ref ? $0 : nil } }
                #expect(down?.reason == .other("remote failure"))
                #expect(try await context.receive(Exit.self, timeout: .seconds(10)) == Exit(from: remote, reason: .other("remote failure")))
            }
        }
    }

    @Test func aDownThatArrivesAfterDemonitorIsNotDelivered() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            let target = b.runtime.spawn { inner in _ = try await inner.receive(String.self) }
            try await a.runtime.withProcess { context async throws in
                let kept = context.monitor(target)
                let ended = context.monitor(target)
                context.demonitor(ended, target: target)
                // What the peer sends when the target ends while `ended`'s demonitor is on its
                // way: a Down of each monitor. Then a marker, delivered after them.
                let loop = try #require(a.transport.loop)
                for message: any Sendable in [Down(ref: ended, pid: target, reason: .normal), Down(ref: kept, pid: target, reason: .normal), "marker"] {
                    var writer = WireWriter()
                    try a.registry.encode(message, to: &writer)
                    var reader = WireReader(writer.bytes)
                    loop.deliverMessage(to: context.pid, reading: &reader, from: b.name)
                }
                #expect(try await context.receive(String.self, timeout: .seconds(10)) == "marker")
                #expect(try await context.receive(Down.self, timeout: .zero)?.ref == kept)
                #expect(try await context.receive(Down.self, timeout: .zero) == nil)
            }
        }
    }

    @Test func aLocalCrashKillsALinkedRemoteProcess() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            try await b.runtime.withProcess { watcher async throws in
                let remote = b.runtime.spawn(idle)
                let ref = watcher.monitor(remote)
                a.runtime.spawn { local in
                    local.link(remote)
                    throw ExitReason.other("local crash")
                }
                let down = try await watcher.receive(timeout: .seconds(10)) { ($0 as? Down).flatMap { $0.ref == ref ? $0 : nil } }
                #expect(down?.reason == .other("local crash"))
            }
        }
    }

    @Test func losingTheNodeFiresMonitorsAndLinksWithNoconnection() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            try await a.runtime.withProcess { context async throws in
                let remote = b.runtime.spawn(idle)
                let ref = context.monitor(remote)
                context.trapExit()
                context.link(remote)
                // The link must reach b before b goes: a round trip through b proves it.
                try #require(await remotePing(from: context, to: b))
                await b.shutdown()
                let down = try await context.receive(timeout: .seconds(10)) { ($0 as? Down).flatMap { $0.ref == ref ? $0 : nil } }
                #expect(down?.reason == .noconnection)
                #expect(try await context.receive(Exit.self, timeout: .seconds(10)) == Exit(from: remote, reason: .noconnection))
                // Monitoring a process of a node that is not connected answers at once.
                let late = context.monitor(remote)
                let again = try await context.receive(timeout: .seconds(10)) { ($0 as? Down).flatMap { $0.ref == late ? $0 : nil } }
                #expect(again?.reason == .noconnection)
            }
        }
    }

    @Test func callsToRemoteServersAnswerTimeOutOrFail() async throws {
        try await withTestCluster { cluster in
            let (a, _, server) = try await doublerOnSecondNode(cluster)
            try await a.runtime.withProcess { context async throws in
                #expect(try await context.call(server, 21) == 42)
                await #expect(throws: CallError.timeout) { try await context.call(server, -1, timeout: .milliseconds(200)) }
                await #expect(throws: CallError.exited(.other("zero is not allowed"))) { try await context.call(server, 0) }
                await #expect(throws: CallError.noproc) { try await context.call(server, 1) }
            }
        }
    }

    /// A call's monitor rides in its request's frame, and the demonitor after it rides in the
    /// next call's: a call costs the server's node one frame to read, not three.
    @Test func aRemoteCallIsOneFrameToTheServersNode() async throws {
        try await withTestCluster { cluster in
            let (a, b, server) = try await doublerOnSecondNode(cluster)
            let calls = 200
            let before = try #require(b.transport.loop).receivedFrames
            try await a.runtime.withProcess { context async throws in
                for index in 1...calls { #expect(try await context.call(server, index) == index * 2) }
            }
            let frames = try #require(b.transport.loop).receivedFrames - before
            // Without riders, each call was a monitor, a request and a demonitor: two frames
            // at least. A few more may carry other traffic, or a rider the transport sent alone.
            #expect(frames < calls * 3 / 2, "\(frames) frames for \(calls) calls")
            // Every demonitor reached the server's node, the last one with no packet to ride on.
            try await eventually("the peer drops every monitor") { b.shared.withLock { $0.book.monitorCount(byRemote: a.name) } == 0 }
        }
    }

    /// A demonitor with no packet after it still reaches the target's node (with the transport
    /// thread's next round), so the peer does not keep the monitor.
    @Test func aDemonitorWithNothingToRideOnStillLeaves() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            let target = b.runtime.spawn(idle)
            try await a.runtime.withProcess { context async throws in
                let ref = context.monitor(target)
                try await eventually("the monitor reaches b") { b.shared.withLock { $0.book.monitorCount(byRemote: a.name) } == 1 }
                // Both books keep it by serials (`RemoteBook`).
                #expect(a.shared.withLock { $0.book.monitorOfRemote(ref, peer: b.name)?.target } == target)
                #expect(a.shared.withLock { $0.book.monitorsKeptWhole } == 0 && b.shared.withLock { $0.book.monitorsKeptWhole } == 0)
                context.demonitor(ref, target: target)
                try await eventually("the demonitor reaches b") { b.shared.withLock { $0.book.monitorCount(byRemote: a.name) } == 0 }
                // b's process ending now sends no Down (b no longer has the monitor); had the
                // demonitor been lost, a would drop it anyway (no record), so check b's book only.
            }
        }
    }

    @Test func aCallToANodeThatGoesDownFailsWithNodedown() async throws {
        try await withTestCluster { cluster in
            let (a, b, server) = try await doublerOnSecondNode(cluster)
            try await a.runtime.withProcess { context async throws in
                let me = context.pid
                a.runtime.spawn { caller in
                    do {
                        _ = try await caller.call(server, -1, timeout: .seconds(30))
                    } catch let error as CallError {
                        caller.send(error, to: me)
                    }
                }
                await b.shutdown()
                #expect(try await context.receive(CallError.self, timeout: .seconds(10)) == .nodedown(b.name.description))
            }
        }
    }

    @Test func pidsOfAnEarlierIncarnationAreDeadOnTheNewOne() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            var b = try await cluster.startNode("b")
            let old = b.runtime.spawn(idle)
            await b.shutdown()
            b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            try await a.runtime.withProcess { context async throws in
                let ref = context.monitor(old)
                let down = try await context.receive(timeout: .seconds(10)) { ($0 as? Down).flatMap { $0.ref == ref ? $0 : nil } }
                #expect(down?.reason == .noproc)
            }
        }
    }

    /// Junk on the cluster port of a node with encrypted links (dropped by ZeroMQ's CURVE
    /// handshake) and of one without (read by our own code), and on the mapper's port. Sends
    /// never wait: a connection that fails its handshake leaves a DEALER with nowhere to send.
    @Test func garbageOnEveryPortIsSurvived() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let clear = try await cluster.startNode("clear") { $0.encrypted = false }
            let context = try Context()
            var generator = SystemRandomNumberGenerator()
            for target in [a, clear] {
                let raw = try context.socket(.dealer)
                try raw.connect("tcp://127.0.0.1:\(target.clusterPort)")
                for size in [0, 1, 2, 5, 17, 100, 1_000, 70_000] {
                    let junk = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    try raw.send([junk], dontWait: true)
                    try raw.send([junk, junk, junk], dontWait: true)
                }
                // A well-formed but lying hello, then junk where the proof should be.
                try raw.send([[0x20, 0x01] + Array("x@localhost".utf8)], dontWait: true)
                raw.close()
            }
            let mapper = try context.socket(.dealer)
            try mapper.connect("tcp://127.0.0.1:\(cluster.mapper.port)")
            try mapper.send([[1, 2, 3]], dontWait: true)
            try mapper.send([Array("id".utf8), Array("REGISTER".utf8), Array("x".utf8)], dontWait: true)
            mapper.close()

            let b = try await cluster.startNode("b")
            #expect(await b.connect(a.name))
            try await eventually("a still works") { a.nodes() == [b.name] }
            let c = try await cluster.startNode("c") { $0.encrypted = false }
            #expect(await c.connect(clear.name))
        }
    }

    @Test func messagesOfUnregisteredTypesAreDroppedAndLogged() async throws {
        struct Secret: Sendable {}
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            let remote = b.runtime.spawn(idle)
            a.runtime.send(Secret(), to: remote)
            try await eventually("the warning") { cluster.logs.contains("register the type") }
        }
    }
}

/// Two connected nodes a and b, with a `Doubler` server running on b.
func doublerOnSecondNode(_ cluster: TestCluster) async throws -> (ClusterNode, ClusterNode, ServerRef<Doubler>) {
    let a = try await cluster.startNode("a", registry: callRegistry())
    let b = try await cluster.startNode("b", registry: callRegistry())
    try #require(await a.connect(b.name))
    let server = try await b.runtime.withProcess { context async throws in
        try await context.startServer { _ in Doubler() }
    }
    return (a, b, server)
}

let idle: @Sendable (ProcessContext) async throws -> Void = { context in
    _ = try await context.receive { _ -> Bool? in nil }
}

/// A round trip through a process on `node`: proves everything sent before it has arrived.
func remotePing(from context: ProcessContext, to node: ClusterNode) async throws -> Bool {
    let me = context.pid
    let echo = node.runtime.spawn { inner in
        let from = try await inner.receive(Pid.self)
        inner.send("pong", to: from)
    }
    context.send(me, to: echo)
    return try await context.receive(timeout: .seconds(10)) { $0 as? String == "pong" ? true : nil } ?? false
}

@Suite(.timeLimit(.minutes(2)))
struct DirectSendTests {
    /// Lone messages leave from the sender's thread, bursts through the transport thread's
    /// batches: mixed, they still arrive in the order they were sent.
    @Test func messagesKeepTheirOrderWhetherSentByTheSenderOrBatched() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            let bursts = (0..<300).map { $0 % 7 + 1 }
            let total = bursts.reduce(0, +)
            try await a.runtime.withProcess { context async throws in
                let me = context.pid
                let sink = b.runtime.spawn { inner in
                    for expected in 0..<total {
                        let number = try await inner.receive(Int.self)
                        guard number == expected else { return inner.send("\(number) came when \(expected) was due", to: me) }
                    }
                    inner.send("in order", to: me)
                }
                var next = 0
                for burst in bursts {
                    for _ in 0..<burst {
                        context.send(next, to: sink)
                        next += 1
                    }
                    // A pause, so that the next burst starts with a lone send.
                    try await Task.sleep(for: .microseconds(100))
                }
                #expect(try await context.receive(String.self, timeout: .seconds(20)) == "in order")
            }
            #expect(a.transport.loop?.directSends ?? 0 > 0)
        }
    }

    /// Request and reply, many times: each side sends from its own thread while the other
    /// side's mail arrives, so a signal of new mail taken in by a send must not be lost.
    @Test func manyRoundTripsFromProcessesComplete() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            try await echoRoundTrips(2_000, from: a, to: b)
            #expect(b.transport.loop?.directSends ?? 0 > 0)
            // The sockets were read because their descriptors (or a send that took in their
            // signal) said so: the periodic sweep, a safety net, found next to nothing. Were
            // the signals not followed, every message would wait for it (100 ms each).
            let swept = (a.transport.loop?.sweptMail ?? 0) + (b.transport.loop?.sweptMail ?? 0)
            #expect(swept < 200)
        }
    }

    /// Work posted to the transport thread wakes its poll through a pipe, which the round it
    /// wakes empties: else every poll after would return at once, and the thread would spin
    /// until the next sweep.
    @Test func aTransportWokenForWorkWaitsAgainAfter() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let loop = try #require(a.transport.loop)
            let start = loop.roundCounts
            var posts = 0
            try await eventually("three sweeps") {
                _ = await a.handshakesUnderWay()  // a command: the pipe is written
                posts += 1
                return loop.roundCounts.sweeps >= start.sweeps + 3
            }
            let counts = loop.roundCounts
            let rounds = counts.rounds - start.rounds, sweeps = counts.sweeps - start.sweeps
            // About one round per post, and a few per sweep interval for the timers.
            #expect(rounds < 4 * posts + 20 * sweeps, "\(rounds) rounds for \(posts) posts and \(sweeps) sweeps")
        }
    }

    /// The transport follows its sockets' signals through a connection's whole life: with the
    /// safety-net sweep and the tick an hour away, nodes connect, join a third through one of
    /// them, exchange messages and see one leave. Before, a socket made in a round (a dial's,
    /// a new peer's link) was polled only from the next sweep on: every handshake waited for
    /// it, and a `todo` command took 120 ms instead of 20.
    @Test func nodesConnectTalkAndLeaveWithoutTheSafetyNetSweep() async throws {
        try await withTestCluster(tickTime: .seconds(3_600)) { cluster in
            let noSweep: (inout ClusterSettings) -> Void = { $0.sweepInterval = .seconds(3_600) }
            let a = try await cluster.startNode("a", configure: noSweep)
            let b = try await cluster.startNode("b", configure: noSweep)
            let c = try await cluster.startNode("c", configure: noSweep)
            Task { _ = await b.connect(a.name) }
            Task { _ = await c.connect(a.name) }
            try await cluster.waitForMesh([a, b, c])

            try await echoRoundTrips(100, from: c, to: b)
            await b.shutdown()
            try await eventually("b's leaving to be seen", within: .seconds(10)) { a.nodes() == [c.name] && c.nodes() == [a.name] }
        }
    }
}

/// `count` round trips from a process on `from` to an echo process on `to`, each answered
/// within 10 s.
func echoRoundTrips(_ count: Int, from: ClusterNode, to: ClusterNode) async throws {
    let echo = to.runtime.spawn { inner in
        while true {
            let sender = try await inner.receive(Pid.self)
            inner.send(sender, to: sender)
        }
    }
    try await from.runtime.withProcess { context async throws in
        for _ in 0..<count {
            context.send(context.pid, to: echo)
            #expect(try await context.receive(Pid.self, timeout: .seconds(10)) == context.pid)
        }
    }
}
