@testable import Cluster
import ClusterTestKit
import Processes
import Synchronization
import Testing
import ZeroMQ

/// A peer that stops reading: what a node does when its outgoing queue for that peer passes
/// `maxPendingBytesPerPeer`, and what the peer sees once it reads again.
@Suite(.timeLimit(.minutes(2)))
struct SlowPeerTests {
    /// Erlang loses a message between two nodes only with their connection. Past the bound,
    /// the node used to drop frames and carry on, so the peer, reading again, got a stream
    /// with a hole in it and no `noconnection` for what fell in. Now the node disconnects the
    /// peer: its monitors fire with `noconnection`, and what the peer reads is a prefix of
    /// what was sent, without a gap.
    @Test func aPeerThatStopsReadingIsDisconnectedNotSentAStreamWithAHole() async throws {
        // A tick far longer than the test: only the full queue can explain a nodedown.
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a") {
                $0.encrypted = false
                $0.maxPendingBytesPerPeer = 1 << 20
            }
            let context = try Context()
            let slow = try await RawPeer.logIn(to: a, context: context)

            let watch = try await DownWatch.start(on: a, watching: Pid(node: RawPeer.name.description, incarnation: 1, serial: 1))

            // About 1,000 frames fill ZeroMQ's queue, then the kernel's buffers, then the bound.
            let sent = await stream(from: a, to: RawPeer.name) { a.nodes().contains(RawPeer.name) }
            try await eventually("a disconnects the peer", within: .seconds(30)) { a.nodes().isEmpty }
            try await eventually("the monitor fires") { watch.fired }
            #expect(watch.reasons == [.noconnection])
            #expect(cluster.logs.contains("slow@localhost is not reading: more than 1 MiB queued for it; disconnecting"))

            // The peer reads again: a prefix of the stream, numbered 0, 1, 2, ... without a gap.
            let numbers = try await slow.readNumbers(registry: a.registry)
            #expect(!numbers.isEmpty && numbers.count < sent)
            #expect(numbers == Array(0..<numbers.count), "a hole in the stream")
            slow.close()
        }
    }

    /// Within the bound nothing is lost: what ZeroMQ would not take waits in the node's
    /// backlog, and once the peer reads again the node sends it on its own, woken by the
    /// socket's room (no later send of ours comes to push it), in order, still connected.
    @Test func aPeerThatFallsBehindWithinTheBoundGetsTheWholeStreamOnceItReadsAgain() async throws {
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a") {
                $0.encrypted = false
                $0.maxPendingBytesPerPeer = 512 << 20
                $0.sweepInterval = .seconds(60)  // no safety sweep: the socket's signal must do it
            }
            let slow = try await RawPeer.logIn(to: a, context: try Context())
            defer { slow.close() }
            let loop = try #require(a.transport.loop)
            /// How many frames wait in a's backlog for the peer, looked at while the loop is frozen.
            func backlogged() -> Int {
                let thaw = loop.freeze()
                defer { thaw() }
                return loop.peers[RawPeer.name]?.backlog.count ?? 0
            }

            // ZeroMQ's 1,000 frames and the kernel's buffers fill first; then the backlog.
            var sent = 0
            while backlogged() == 0, sent < 6_000 {
                sent += await stream(from: a, to: RawPeer.name, first: sent, most: 64) { true }
                _ = await a.handshakesUnderWay()  // by its answer, a's transport has taken the sends
            }
            try #require(backlogged() > 0, "no backlog after \(sent) messages")

            let numbers = try await slow.readNumbers(registry: a.registry)
            #expect(numbers.count == sent, "\(numbers.count) of \(sent) messages")
            #expect(numbers.elementsEqual(0..<numbers.count), "out of order, or a hole")
            #expect(a.nodes() == [RawPeer.name] && backlogged() == 0)
            #expect(!cluster.logs.contains("is not reading"))
        }
    }

    /// ZeroMQ's queue counts frames, 1,000 of them. A message of 1 MiB used to be one frame,
    /// so ZeroMQ alone could hold a gigabyte for a peer that stopped reading before the
    /// node's own bound came into play. In parts, it holds about 70 MB of them.
    @Test func aPeerThatStopsReadingBigMessagesIsDisconnectedWithinZeroMQsFrameBound() async throws {
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a") {
                $0.encrypted = false
                $0.maxPendingBytesPerPeer = 4 << 20  // room for whole messages, as the default has
            }
            let slow = try await RawPeer.logIn(to: a, context: try Context())
            defer { slow.close() }

            // 400 frames of 1 MiB were within ZeroMQ's 1,000: it took them all, and nothing
            // was ever queued by the node. In parts, its frames run out after about 70 MB.
            _ = await stream(from: a, to: RawPeer.name, size: 1 << 20, most: 400) { a.nodes().contains(RawPeer.name) }
            try await eventually("a disconnects the peer", within: .seconds(30)) { a.nodes().isEmpty }
            #expect(cluster.logs.contains("slow@localhost is not reading: more than 4 MiB queued for it; disconnecting"))
        }
    }

    /// Two real nodes; b's transport stops (as a frozen process's would) while a streams to
    /// it. a disconnects b and fires its monitors; once b reads again, a's new connection
    /// makes b drop the old one and fire its own, and b's process got a prefix of the
    /// stream, then `noconnection`, then only what the new connection carried.
    @Test func bothSidesOfAConnectionThatOverflowedSeeItGo() async throws {
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a") { $0.maxPendingBytesPerPeer = 1 << 20 }
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            // b's monitor of a process on a must cross the connection, not fire at once.
            try await eventually("b sees a") { b.nodes() == [a.name] }
            let onA = a.runtime.spawn(idle)

            // b's sink: the numbers it gets, and -1 where its monitor of a's process fired.
            let seen = Mutex<[Int]>([])
            let sink = b.runtime.spawn { context in
                let ref = context.monitor(onA)
                #expect(try await remotePing(from: context, to: a))
                try context.runtime.register("sink", context.pid)
                while true {
                    let number = try await context.receive { message -> Int? in
                        if let bytes = message as? [UInt8] { return RawPeer.number(in: bytes) }
                        if let down = message as? Down, down.ref == ref { return down.reason == .noconnection ? -1 : -2 }
                        return nil
                    }
                    seen.withLock { $0.append(number) }
                }
            }
            try await eventually("b's sink is ready") { b.runtime.whereis("sink") != nil }
            let watch = try await DownWatch.start(on: a, watching: sink, of: b)

            let thaw = try #require(b.transport.loop).freeze()
            _ = await stream(from: a, to: b.name) { a.nodes().contains(b.name) }
            thaw()
            try await eventually("a disconnects b", within: .seconds(30)) { watch.fired }
            #expect(watch.reasons == [.noconnection])
            #expect(cluster.logs.contains("b@localhost is not reading: more than 1 MiB queued for it; disconnecting"))

            try await eventually("b's side of the old connection goes", within: .seconds(30)) { seen.withLock { $0.contains(-1) } }
            try await eventually("a and b are connected again", within: .seconds(30)) { a.nodes() == [b.name] && b.nodes() == [a.name] }
            let numbers = seen.withLock { $0 }
            let cut = try #require(numbers.firstIndex(of: -1))
            let before = Array(numbers[..<cut]), after = Array(numbers[(cut + 1)...])
            #expect(!before.isEmpty && before == Array(0..<before.count), "a hole in the old connection's stream")
            #expect(after.allSatisfy { $0 > before.count } && after == after.sorted(), "\(after.prefix(20))")
            #expect(!numbers.contains(-2))
        }
    }

    /// A peer dropped for not reading is dialled again after the reconnect back-off (100 ms
    /// here), whatever the tick time. Its next dial used to wait for the failure detector's
    /// next check, a tick time / 8 apart (75 s here; 1.9 s at the default tick).
    @Test func aPeerDroppedForNotReadingIsDialledAgainAfterTheBackOffNotAtTheNextCheck() async throws {
        try await withTestCluster(tickTime: .seconds(600)) { cluster in
            let a = try await cluster.startNode("a") { $0.maxPendingBytesPerPeer = 1 << 20 }
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            try await eventually("b sees a") { b.nodes() == [a.name] }

            let thaw = try #require(b.transport.loop).freeze()
            _ = await stream(from: a, to: b.name) { a.nodes().contains(b.name) }
            // A message past the bound ends any attempt the stream's last sends began, so
            // that only the back-off can bring b back.
            a.runtime.send(RawPeer.payload(0, size: 2 << 20), toName: "sink", on: b.name.description)
            _ = await a.handshakesUnderWay()  // by its answer, a's transport has taken the send
            thaw()
            try await eventually("a and b are connected again", within: .seconds(30)) { a.nodes() == [b.name] && b.nodes() == [a.name] }
        }
    }

    /// A hidden node is never dialled again, so nothing made it drop its side of a connection
    /// that overflowed: it went on taking this node for up (the heartbeats still came) and
    /// sending into a connection nobody read. Now its first frame on it is answered with a
    /// goodbye.
    @Test func aHiddenPeerThatOverflowedIsToldWhenItSpeaksAgain() async throws {
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a") { $0.maxPendingBytesPerPeer = 1 << 20 }
            let b = try await cluster.startNode("b", hidden: true)
            try #require(await b.connect(a.name))
            let watch = try await DownWatch.start(on: b, watching: a.runtime.spawn(idle), of: a)

            let thaw = try #require(b.transport.loop).freeze()
            _ = await stream(from: a, to: b.name) { a.hiddenNodes().contains(b.name) }
            thaw()
            try await eventually("a disconnects b", within: .seconds(30)) { a.hiddenNodes().isEmpty }
            #expect(cluster.logs.contains("b@localhost is not reading: more than 1 MiB queued for it; disconnecting"))

            // b speaks on its old connection: the answer tells it the connection is gone.
            try await eventually("b's side of the old connection goes", within: .seconds(30)) {
                b.runtime.send("anyone there?", toName: "nobody", on: a.name.description)
                return watch.fired
            }
            #expect(watch.reasons == [.noconnection])
            #expect(await b.connect(a.name), "b connects again on its next use")
        }
    }

    /// While a connection is being made, sends wait for it, up to the same bound. Past it the
    /// attempt fails and takes what it held with it; it used to drop only the packet over the
    /// bound and keep the rest, so the connection, once up, delivered the messages before
    /// the dropped one and then those after it, with a hole between.
    @Test func aConnectionAttemptThatOverflowsFailsRatherThanDeliverAStreamWithAHole() async throws {
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a") {
                $0.maxPendingBytesPerPeer = 1 << 20
                $0.connectTimeout = .seconds(60)  // the last attempt waits for b however slow the machine
            }
            // Frozen, b answers no ZAP request: its ZeroMQ handshake must outwait the freeze, or
            // it closes the last attempt's connection (seen once under four CPU hogs).
            let b = try await cluster.startNode("b") { $0.acceptTimeout = .seconds(60) }
            let seen = Mutex<[Int]>([])
            let sink = b.runtime.spawn { context in
                while true {
                    let bytes = try await context.receive([UInt8].self)
                    seen.withLock { $0.append(RawPeer.number(in: bytes)) }
                }
            }
            try b.runtime.register("sink", sink)

            // b reads nothing, so a's hello waits: 40 messages of 64 KiB pass the 1 MiB bound.
            let thaw = try #require(b.transport.loop).freeze()
            for number in 0..<40 {
                a.runtime.send(RawPeer.payload(number), toName: "sink", on: b.name.description)
            }
            try await eventually("a gives an attempt up", within: .seconds(30)) {
                cluster.logs.contains("connection attempt to b@localhost failed: more than 1 MiB queued for it while connecting")
            }
            thaw()
            try await eventually("a connects", within: .seconds(30)) { a.nodes() == [b.name] }
            a.runtime.send(RawPeer.payload(1_000), toName: "sink", on: b.name.description)
            try await eventually("the last message arrives") { seen.withLock { $0.last } == 1_000 }
            // What arrived before it is the tail the last attempt held, without a hole.
            let numbers = seen.withLock { $0 }.dropLast()
            #expect(!numbers.isEmpty && numbers.last == 39, "\(numbers)")
            #expect(Array(numbers) == Array((40 - numbers.count)..<40), "a hole in the stream: \(numbers)")
        }
    }

    /// What a peer still had in flight when this node said goodbye comes from connections it
    /// has forgotten. Its last round read it, and warned of "a packet from a connection that
    /// has not shaken hands" (seen at every graceful stop under load). b is frozen with a's
    /// messages waiting in its inbox and its stop waiting in its outbox, so both meet in one
    /// round.
    @Test func aNodeThatLeavesWhileAPeerSendsToItWarnsOfNoStranger() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a"), b = try await cluster.startNode("b")
            // a dials, so its messages come on b's ROUTER, whose connections b forgets as it
            // leaves (those b dialled it closes).
            try #require(await a.connect(b.name))
            try await eventually("b has a up") { b.nodes() == [a.name] }
            let sink = b.runtime.spawn { context in while true { _ = try await context.receive(Int.self) } }
            let loop = try #require(b.transport.loop)
            let thaw = loop.freeze()
            defer { thaw() }  // again, harmless, when the test got that far
            for number in 0..<100 { a.runtime.send(number, to: sink) }
            // Looked at while the loop is frozen: nothing else touches the socket.
            try await eventually("a's messages wait in b's inbox") { (try? loop.router.events().contains(.readable)) == true }
            let leaving = Task { await b.shutdown() }
            try await eventually("b's stop waits in its outbox") { b.outbox.hasWork }
            thaw()
            await leaving.value
            try await eventually("a sees b leave") { a.nodes().isEmpty }
            #expect(!cluster.logs.contains("has not shaken hands"), "\(cluster.logs.all.filter { $0.contains("shaken") })")
        }
    }

    /// A peer that stopped reading is dropped on this side only, and told so at its first
    /// frame on the old connection. The frames it sent before it read that goodbye come
    /// after it, on the same connection: they were warned of as a stranger's ("has not
    /// shaken hands"), on every node, after every partition that healed (a peer frozen past
    /// the tick time is dropped the same way). Peers that come and go meanwhile, each with a
    /// goodbye (`todo` clients), do not push that connection out of what the node remembers:
    /// they did, once as many came as it remembers.
    @Test(arguments: [0, TransportLoop.maxClosedConnections])
    func framesAPeerSentBeforeItHeardItWasDroppedAreNotTakenForAStrangers(clientsMeanwhile: Int) async throws {
        // A tick far longer than the test: the full queue drops the peer, when the test says.
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a") {
                $0.encrypted = false
                $0.maxPendingBytesPerPeer = 1 << 20
            }
            let slow = try await RawPeer.logIn(to: a, context: try Context())
            defer { slow.close() }
            _ = await stream(from: a, to: RawPeer.name) { a.nodes().contains(RawPeer.name) }
            try await eventually("a drops the peer", within: .seconds(30)) { a.nodes().isEmpty }
            _ = try await slow.read(registry: a.registry)  // room for the goodbye
            if clientsMeanwhile > 0 {
                let client = try await cluster.startNode("client", hidden: true) { $0.encrypted = false }
                for _ in 0..<clientsMeanwhile {
                    try #require(await client.connect(a.name))
                    try #require(await client.disconnect(a.name))
                    try await eventually("a hears the client's goodbye") { a.hiddenNodes().isEmpty }
                }
            }

            let loop = try #require(a.transport.loop)
            for number in 0..<3 {
                try slow.send(.namedMessage(name: "nobody", payload: RawPeer.payload(number, size: 16)))
            }
            try await eventually("a reads the three frames as the old connection's") { loop.framesOnDroppedConnections == 3 }
            var goodbyes = 0
            while let message = try await RawPeer.nextMessage(on: slow.dealer, within: .seconds(1)), let frame = message.last {
                goodbyes += Batch.packets(in: frame).packets.filter { $0 == .goodbye(.disconnect) }.count
            }
            #expect(goodbyes == 1)
            #expect(cluster.logs.contains("told slow@localhost that its old connection was dropped"))
            #expect(!cluster.logs.contains("has not shaken hands"), "\(cluster.logs.all.filter { $0.contains("shaken") })")
        }
    }

    /// A peer that leaves says goodbye twice: a farewell on its heartbeat stream, and a goodbye
    /// on its link. When the farewell is read first, the goodbye comes on a connection this
    /// node has dropped: it is taken quietly, as the last word of a peer that left, not warned
    /// of as a stranger's, nor answered.
    @Test func aGoodbyeOnTheLinkAfterTheFarewellOnTheHeartbeatStreamIsTakenQuietly() async throws {
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a") { $0.encrypted = false }
            let leaving = try await RawPeer.logIn(to: a, context: try Context())
            defer { leaving.close() }
            var farewell = WireWriter()
            farewell.write(TransportLoop.farewell)
            farewell.writeVarint(1)  // the raw peer's incarnation
            farewell.writeString(RawPeer.name.description)
            // Until a hears it: a subscription takes a moment to reach the publisher.
            try await eventually("a hears the farewell") {
                _ = try leaving.publisher.send(farewell.bytes, dontWait: true)
                return a.nodes().isEmpty
            }
            _ = try leaving.dealer.send([RawPeer.frame(.goodbye(.shutdown))], dontWait: true)
            let loop = try #require(a.transport.loop)
            try await eventually("a reads the goodbye as the old connection's") { loop.framesOnDroppedConnections == 1 }
            #expect(!cluster.logs.contains("has not shaken hands"), "\(cluster.logs.all.filter { $0.contains("shaken") })")
            #expect(!cluster.logs.contains("told slow@localhost"))
            var answers = 0  // what a sent before it heard the farewell, and no goodbye after
            while let message = try await RawPeer.nextMessage(on: leaving.dealer, within: .milliseconds(500)), let frame = message.last {
                answers += Batch.packets(in: frame).packets.filter { $0 == .goodbye(.disconnect) }.count
            }
            #expect(answers == 0)
        }
    }
}


/// Numbered messages of `size` bytes (64 KiB unless told), from `first` on, from `node` to the
/// process registered as `sink` on `peer`, while `connected` holds (`most` at most); how many
/// were sent.
private func stream(
    from node: ClusterNode, to peer: NodeName, size: Int = 64 << 10, first: Int = 0, most: Int = 6_000,
    while connected: () -> Bool
) async -> Int {
    var sent = 0
    while connected(), sent < most {
        for _ in 0..<16 {
            node.runtime.send(RawPeer.payload(first + sent, size: size), toName: "sink", on: peer.description)
            sent += 1
        }
        await Task.yield()
    }
    return sent
}

/// A process on `node` that monitors `target` and keeps what its `Down` says. When `target`
/// is on a node of this process, `start` returns once a round trip through that node proves
/// the monitor is there.
private final class DownWatch: Sendable {
    private let downs = Mutex<[ExitReason]>([])

    var reasons: [ExitReason] { downs.withLock { $0 } }
    var fired: Bool { !reasons.isEmpty }

    static func start(on node: ClusterNode, watching target: Pid, of peer: ClusterNode? = nil) async throws -> DownWatch {
        let watch = DownWatch()
        let ready = Mutex(false)
        node.runtime.spawn { context in
            let ref = context.monitor(target)
            if let peer { #expect(try await remotePing(from: context, to: peer)) }
            ready.withLock { $0 = true }
            let down = try await context.receive(timeout: .seconds(60)) { ($0 as? Down).flatMap { $0.ref == ref ? $0 : nil } }
            watch.downs.withLock { $0.append(down?.reason ?? .normal) }
        }
        try await eventually("the monitor is set") { ready.withLock { $0 } }
        return watch
    }
}
