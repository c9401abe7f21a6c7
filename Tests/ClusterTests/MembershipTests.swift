import Cluster
import ClusterTestKit
import Processes
import Testing
import ZeroMQ

/// Collects `NodeEvent`s for one node in a process of its own, and hands them out on request.
func nodeEvents(of node: ClusterNode, includeHidden: Bool = false) async throws -> (Pid, @Sendable () async throws -> NodeEvent?) {
    let inbox = node.runtime.spawn { context in
        while true {
            let event = try await context.receive(NodeEvent.self)
            let asker = try await context.receive(Pid.self)
            context.send(event, to: asker)
        }
    }
    node.monitorNodes(inbox, includeHidden: includeHidden)
    let next: @Sendable () async throws -> NodeEvent? = {
        try await node.runtime.withProcess { context in
            context.send(context.pid, to: inbox)
            return try await context.receive(NodeEvent.self, timeout: .seconds(10))
        }
    }
    return (inbox, next)
}

@Suite(.timeLimit(.minutes(2)))
struct MembershipTests {
    @Test func hiddenNodesAreNeitherListedNorTransitive() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            let client = try await cluster.startNode("client", hidden: true)
            try #require(await client.connect(nodes[0].name))
            try await eventually("the hidden connection on both sides") {
                nodes[0].hiddenNodes() == [client.name] && client.hiddenNodes() == [nodes[0].name]
            }
            #expect(nodes[0].nodes() == [nodes[1].name])
            #expect(client.nodes().isEmpty)
            // Not transitive: n2 never hears of the client.
            #expect(nodes[1].hiddenNodes().isEmpty && nodes[1].nodes() == [nodes[0].name])
        }
    }

    @Test func aWrongCookieIsRefusedAndLoggedByTheTarget() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let intruder = try await cluster.startNode("intruder", cookie: "wrong")
            #expect(await intruder.connect(a.name) == false)
            #expect(a.nodes().isEmpty && intruder.nodes().isEmpty)
            #expect(await failure(reaching: a.name, from: intruder) == "connection closed during the encrypted handshake (a different cookie?)")
            // The intruder cannot even finish ZeroMQ's encrypted handshake, so its name never
            // reaches a: a logs that someone without the cookie knocked.
            try await eventually("the refusal in a's log") {
                cluster.logs.contains("Connection attempt rejected: the peer does not share our cookie")
            }
            #expect(!cluster.logs.contains("intruder@localhost rejected"))
        }
    }

    /// A peer that goes away in the middle of the cookie handshake (killed as it was dialled)
    /// is not taken for one with a different cookie: it had finished ZeroMQ's encrypted
    /// handshake, which takes the cookie's keys. Both were "a different cookie?".
    @Test func aPeerThatGoesAwayInTheMiddleOfTheHandshakeIsNotTakenForADifferentCookie() async throws {
        try await withTestCluster { cluster in
            // However slow the machine, the attempt waits for the ghost's close.
            let a = try await cluster.startNode("a") { $0.connectTimeout = .seconds(60) }
            let context = try Context()
            let ghost = try context.socket(.router)
            defer { ghost.close() }
            try ghost.setLinger(milliseconds: 0)
            try ghost.makeCurveServer(secretKey: try ClusterKeys.derive(cookie: "test-cookie").secretKey)
            try ghost.bind("tcp://127.0.0.1:*")
            let port = try #require(try ghost.lastEndpoint().split(separator: ":").last.flatMap { Int($0) })
            let registration = try PortMapperConnection(PortMapperClient(host: "127.0.0.1", port: cluster.mapper.port))
            try #require(try registration.register(name: "ghost", port: port, incarnation: 1))

            async let failure = failure(reaching: NodeName(name: "ghost", host: "localhost"), from: a)
            _ = try #require(try await RawPeer.nextMessage(on: ghost, within: .seconds(60)), "no hello")
            ghost.close()  // at the hello, as a node killed then
            let reason = await failure
            #expect(reason == "connection closed by the peer during the cookie handshake")
        }
    }

    /// A node that answers nothing once connected (stopped with `kill -STOP`, or overloaded)
    /// is not taken for one with a different cookie either: ZeroMQ gave up on its handshake
    /// after seconds of silence, where a peer without the cookie closes at once.
    @Test func aNodeThatNeverAnswersTheHandshakeIsNotTakenForADifferentCookie() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a") { $0.connectTimeout = .seconds(60) }
            let silent = try SilentListener()
            defer { silent.close() }
            let registration = try PortMapperConnection(PortMapperClient(host: "127.0.0.1", port: cluster.mapper.port))
            try #require(try registration.register(name: "stopped", port: silent.port, incarnation: 1))
            let reason = await failure(reaching: NodeName(name: "stopped", host: "localhost"), from: a)
            #expect(reason == "connection closed: no answer to the handshake within 3.0 seconds (a stopped or overloaded node?)")
        }
    }

    @Test func withoutEncryptionTheCookieHandshakeRefusesAWrongCookieByName() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a") { $0.encrypted = false }
            let intruder = try await cluster.startNode("intruder", cookie: "wrong") { $0.encrypted = false }
            #expect(await intruder.connect(a.name) == false)
            #expect(a.nodes().isEmpty && intruder.nodes().isEmpty)
            #expect(await failure(reaching: a.name, from: intruder)?.hasPrefix("a@localhost refused the connection") == true)
            try await eventually("the refusal in a's log") {
                cluster.logs.contains("Connection attempt from node intruder@localhost rejected. Invalid challenge reply.")
            }
        }
    }

    @Test func connectingToANodeThatDoesNotExistFails() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            #expect(await a.ping(NodeName(name: "ghost", host: "localhost")) == false)
            #expect(await failure(reaching: NodeName(name: "ghost", host: "localhost"), from: a) == "no node ghost is registered on localhost")
            // The test cluster's mapper listens on 127.0.0.1 only.
            #expect(await failure(reaching: NodeName(name: "ghost", host: "127.0.0.3"), from: a)
                == "no port mapper answers at tcp://127.0.0.3:\(cluster.mapper.port)")
            #expect(await failure(reaching: NodeName(name: "ghost", host: "no-such-host.invalid"), from: a)
                == "the host 'no-such-host.invalid' does not resolve to an address")
            #expect(await failure(reaching: a.name, from: a) == nil)
        }
    }

    /// Why `node` cannot reach `target`, or nil when it can.
    private func failure(reaching target: NodeName, from node: ClusterNode) async -> String? {
        do {
            try await node.reach(target)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func nodeEventsCarryTheirReasons() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let (_, next) = try await nodeEvents(of: a)
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            #expect(try await next() == .up(b.name, hidden: false))

            #expect(await a.disconnect(b.name))
            #expect(try await next() == .down(b.name, reason: .disconnect, hidden: false))
            #expect(await a.disconnect(b.name) == false)

            try #require(await a.connect(b.name))
            #expect(try await next() == .up(b.name, hidden: false))
            await b.shutdown()
            #expect(try await next() == .down(b.name, reason: .connectionClosed, hidden: false))
        }
    }

    @Test func theOtherSideOfADisconnectSeesTheConnectionClosed() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            let (_, next) = try await nodeEvents(of: b)
            try #require(await a.connect(b.name))
            #expect(try await next() == .up(a.name, hidden: false))
            _ = await a.disconnect(b.name)
            #expect(try await next() == .down(a.name, reason: .connectionClosed, hidden: false))
        }
    }

    @Test func hiddenNodeEventsOnlyForThoseWhoAsk() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let (_, visibleOnly) = try await nodeEvents(of: a)
            let (_, all) = try await nodeEvents(of: a, includeHidden: true)
            let client = try await cluster.startNode("client", hidden: true)
            try #require(await client.connect(a.name))
            #expect(try await all() == .up(client.name, hidden: true))
            let b = try await cluster.startNode("b")
            try #require(await b.connect(a.name))
            #expect(try await visibleOnly() == .up(b.name, hidden: false))
        }
    }

    @Test func aSilentPeerIsDeclaredDownAfterTheTickTimeAndRejoinsWhenTheCutHeals() async throws {
        try await withTestCluster(tickTime: .milliseconds(800)) { cluster in
            let nodes = try await cluster.startMesh(2)
            let (a, b) = (nodes[0], nodes[1])
            let (_, next) = try await nodeEvents(of: a)
            let cutAt = ContinuousClock.now
            cluster.cut(a, b)
            #expect(try await next() == .down(b.name, reason: .netTickTimeout, hidden: false))
            let detection = ContinuousClock.now - cutAt
            #expect(detection >= .milliseconds(600))  // 0.75 × tick: not before the tick time
            cluster.restore(a, b)
            // Nobody calls connect: the lost peer is retried with back-off.
            #expect(try await next() == .up(b.name, hidden: false))
            try await cluster.waitForMesh(nodes)
        }
    }

    /// A peer dropped as silent that speaks again on its old connection (it was frozen past
    /// the tick time, and goes on) is told the connection was dropped, and dialled at once:
    /// not at the next attempt of the back-off, which here is longer than the test.
    @Test func aDroppedPeerHeardAgainOnItsOldConnectionIsDialledAtOnce() async throws {
        try await withTestCluster(tickTime: .milliseconds(800)) { cluster in
            let slow: (inout ClusterSettings) -> Void = { $0.reconnectBackoff = .seconds(120) ... .seconds(120) }
            let a = try await cluster.startNode("a", configure: slow)
            let b = try await cluster.startNode("b", configure: slow)
            try #require(await b.connect(a.name))
            let (_, next) = try await nodeEvents(of: a)
            // a stops hearing b, as if b were frozen; b still hears a, as a frozen node hears
            // nothing amiss when it goes on.
            a.cut(b.name)
            #expect(try await next() == .down(b.name, reason: .netTickTimeout, hidden: false))
            a.restore(b.name)
            b.runtime.send("still here", toName: "nobody", on: a.name.description)
            #expect(try await next() == .up(b.name, hidden: false))
            try await cluster.waitForMesh([a, b])
            #expect(cluster.logs.contains("told b@localhost that its old connection was dropped"))
        }
    }

    /// A node with a short tick time keeps a peer with a long one, visible or hidden (a `todo`
    /// client has the default 15 s; `todo-node --tick-time 2` may be its node): the peer's
    /// heartbeats keep up with the shorter tick. Before, the node declared the peer down after
    /// its own tick time of a quiet connection, a client in the middle of its request.
    @Test func aPeerWithALongerTickTimeStaysUpOnANodeWithAShortOne() async throws {
        // 2 s, as the soak's nodes: a shorter tick made a loaded machine's stalls pass for deaths.
        try await withTestCluster(tickTime: .seconds(2)) { cluster in
            let a = try await cluster.startNode("a")
            let watcher = a.runtime.spawn { context in
                let asker = try await context.receive(Pid.self)
                let down = try await context.receive(timeout: .seconds(6)) { message -> NodeEvent? in
                    guard let event = message as? NodeEvent, case .down = event else { return nil }
                    return event
                }
                context.send(down.map { "\($0)" } ?? "no node went down", to: asker)
            }
            a.monitorNodes(watcher, includeHidden: true)
            let b = try await cluster.startNode("b") { $0.tickTime = .seconds(60) }
            let client = try await cluster.startNode("client", hidden: true) { $0.tickTime = .seconds(15) }
            try #require(await b.connect(a.name))
            try #require(await client.connect(a.name))
            // Three of a's tick times with nothing but heartbeats on either connection.
            let verdict = try await a.runtime.withProcess { context in
                context.send(context.pid, to: watcher)
                return try await context.receive(String.self, timeout: .seconds(30))
            }
            #expect(verdict == "no node went down")
            #expect(Set(a.nodes()) == [b.name])
            #expect(a.hiddenNodes() == [client.name])
        }
    }

    @Test func monitorNodeFiresOnceWhenTheNodeGoes() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            try await a.runtime.withProcess { context async throws in
                a.monitorNode(b.name, for: context.pid)
                await b.shutdown()
                #expect(try await context.receive(NodeDown.self, timeout: .seconds(10)) == NodeDown(node: b.name))
                // An unconnected node answers at once.
                a.monitorNode(NodeName(name: "ghost", host: "localhost"), for: context.pid)
                #expect(try await context.receive(NodeDown.self, timeout: .seconds(10))?.node.name == "ghost")
            }
        }
    }

    @Test func twoNodesDiallingEachOtherAtOnceEndWithOneConnection() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            async let fromA = a.connect(b.name)
            async let fromB = b.connect(a.name)
            let (first, second) = await (fromA, fromB)
            #expect(first && second)
            try await eventually("one connection each way") { a.nodes() == [b.name] && b.nodes() == [a.name] }
        }
    }

    /// A node is not logged in to while it readies itself (`ClusterNode.start`'s `readying`):
    /// a peer that dials it then, as a restarted node's peers do at once, gives up or waits,
    /// and finds what `readying` set up once it is in.
    @Test func noPeerLogsInToANodeBeforeItIsReady() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a") { $0.connectTimeout = .milliseconds(500) }
            let (b, dialledWhileReadying) = try await cluster.startNode("b") { node in
                let dialled = await a.connect(node.name)
                node.rpc.register("ready") { (_: Int) in true }
                return dialled
            }
            #expect(dialledWhileReadying == false)
            // Its dial has a short timeout: on a loaded host one may not be enough.
            try await eventually("a in") { await a.connect(b.name) }
            #expect(try await a.rpc.call(b.name, "ready", 0, returning: Bool.self))
        }
    }

    /// A node whose `readying` fails leaves again: its name is free for the next.
    @Test func aNodeThatFailsToReadyLeavesItsNameFree() async throws {
        struct NotReady: Error {}
        try await withTestCluster { cluster in
            await #expect(throws: NotReady.self) {
                _ = try await cluster.startNode("b") { _ throws -> Int in throw NotReady() }
            }
            let b = try await cluster.startNode("b")
            let a = try await cluster.startNode("a")
            #expect(await a.connect(b.name))
        }
    }

    /// `connect(toAnyOf:)` answers with a node that answered, whatever the others do; nil when
    /// none does.
    @Test func connectingToAnyOfSeveralNodesAnswersWithOneThatAnswered() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            let c = try await cluster.startNode("c")
            a.cut(c.name)  // a's dial to c waits for the connect timeout, as over a dead network
            let ghosts = [NodeName(name: "ghost", host: "localhost"), NodeName(name: "phantom", host: "localhost")]
            #expect(await a.connect(toAnyOf: ghosts + [c.name, b.name]) == b.name)
            #expect(a.nodes() == [b.name])
            #expect(await a.connect(toAnyOf: [c.name, b.name]) == b.name, "one already connected")
            #expect(await a.connect(toAnyOf: ghosts) == nil)
            #expect(await a.connect(toAnyOf: [a.name]) == nil, "a node does not join through itself")
            #expect(await a.connect(toAnyOf: []) == nil)
        }
    }
}
