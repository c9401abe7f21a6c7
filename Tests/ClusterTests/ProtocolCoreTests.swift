@testable import Cluster
import Processes
import Testing

@Suite struct HandshakeTests {
    let a = NodeName(name: "a", host: "h")
    let b = NodeName(name: "b", host: "h")

    func identity(_ node: NodeName, cookie: String, hidden: Bool = false) -> LocalIdentity {
        LocalIdentity(node: node, incarnation: 1, hidden: hidden, cookie: cookie, publishEndpoint: "tcp://\(node.name):1")
    }

    /// Runs the four steps between an initiator and an acceptor.
    func shake(initiatorCookie: String, acceptorCookie: String) -> (InitiatorHandshake.Step, AcceptorHandshake.Step?) {
        var initiator = InitiatorHandshake(local: identity(a, cookie: initiatorCookie), connectingTo: b)
        guard case .hello(let hello) = initiator.hello else { return (.failed("no hello"), nil) }
        let (acceptor, first) = AcceptorHandshake.start(hello, local: identity(b, cookie: acceptorCookie))
        guard let acceptor, case .send(let challenge) = first else { return (.failed("no challenge"), nil) }
        let step = initiator.receive(challenge)
        switch step {
        case .send(let proof), .sendThenFail(let proof, _):
            let verdict = acceptor.receive(proof, peers: ["c@h"])
            if case .established(_, let welcome) = verdict { return (initiator.receive(welcome), verdict) }
            return (step, verdict)
        default:
            return (step, nil)
        }
    }

    @Test func matchingCookiesEstablishBothSides() {
        let (initiator, acceptor) = shake(initiatorCookie: "secret", acceptorCookie: "secret")
        #expect(initiator == .established(PeerInfo(node: b, incarnation: 1, hidden: false, publishEndpoint: "tcp://b:1"), peers: ["c@h"]))
        guard case .established(let info, _)? = acceptor else {
            Issue.record("acceptor did not establish")
            return
        }
        #expect(info.node == a)
    }

    @Test func mismatchedCookiesFailOnBothSidesAndTheTargetSaysSo() {
        let (initiator, acceptor) = shake(initiatorCookie: "one", acceptorCookie: "two")
        guard case .sendThenFail = initiator else {
            Issue.record("initiator should send its proof then fail, got \(initiator)")
            return
        }
        guard case .refused(_, let log)? = acceptor else {
            Issue.record("acceptor should refuse")
            return
        }
        #expect(log == "Connection attempt from node a@h rejected. Invalid challenge reply.")
    }

    @Test func theCookieNeverCrossesTheWire() {
        let initiator = InitiatorHandshake(local: identity(a, cookie: "topsecret"), connectingTo: b)
        let bytes = Batch.encode(initiator.hello)
        #expect(!String(decoding: bytes, as: UTF8.self).contains("topsecret"))
    }

    @Test func anotherProtocolVersionIsRefused() {
        let hello = Packet.Hello(node: "a@h", incarnation: 1, version: 99, hidden: false, nonce: [], publishEndpoint: "")
        let (acceptor, step) = AcceptorHandshake.start(hello, local: identity(b, cookie: "c"))
        #expect(acceptor == nil)
        guard case .refused = step else {
            Issue.record("expected a refusal")
            return
        }
    }

    @Test func anImpostorAnsweringForAnotherNameFails() {
        var initiator = InitiatorHandshake(local: identity(a, cookie: "c"), connectingTo: b)
        let challenge = Packet.challenge(.init(node: "mallory@h", incarnation: 1, hidden: false, proof: [], nonce: [], publishEndpoint: ""))
        guard case .failed = initiator.receive(challenge) else {
            Issue.record("expected a failure")
            return
        }
    }

    @Test func theSimultaneousRefusalMakesTheInitiatorWait() {
        var initiator = InitiatorHandshake(local: identity(a, cookie: "c"), connectingTo: b)
        #expect(initiator.receive(.refused(InitiatorHandshake.simultaneous)) == .yield)
    }
}

@Suite struct FailureDetectorTests {
    let peer = NodeName(name: "p", host: "h")

    @Test func aPeerThatKeepsTalkingStaysUp() {
        var detector = FailureDetector(tickTime: .seconds(15))
        detector.watch(peer, now: .zero)
        var now = Duration.zero
        while now < .seconds(120) {
            now += detector.heartbeatInterval
            detector.heard(peer, now: now)
            #expect(detector.expired(now: now).isEmpty)
        }
    }

    @Test func aFrozenPeerIsDeclaredDownWithinTheTickWindow() {
        let tick = Duration.seconds(15)
        // The peer freezes at any point between two heartbeats; we check every tick / 8.
        for step in 0..<7 {
            let offset = Duration.milliseconds(500 * step)
            var detector = FailureDetector(tickTime: tick)
            detector.watch(peer, now: .zero)
            let lastHeartbeat = Duration.seconds(60)
            detector.heard(peer, now: lastHeartbeat)
            let frozenAt = lastHeartbeat + offset  // it would have sent the next one at +tick/4
            var now = lastHeartbeat
            var declared: Duration?
            while declared == nil {
                now += detector.checkInterval
                if detector.expired(now: now) == [peer] { declared = now }
            }
            let detection = (declared ?? .zero) - frozenAt
            #expect(detection >= tick * 0.75 && detection <= tick * 1.25, "detected after \(detection)")
        }
    }

    @Test func forgottenPeersAreNotReported() {
        var detector = FailureDetector(tickTime: .seconds(1))
        detector.watch(peer, now: .zero)
        detector.forget(peer)
        detector.heard(peer, now: .seconds(1))  // heard after forget does not watch again
        #expect(detector.expired(now: .seconds(10)).isEmpty)
    }
}

@Suite struct PortMapperTableTests {
    var alive: Set<Int32> = [100, 200]

    @Test func namesRegisterLookUpAndList() {
        var table = PortMapperTable(leaseTime: .seconds(10))
        let isAlive: (Int32) -> Bool = { [alive] in alive.contains($0) }
        #expect(table.register(name: "a", port: 4000, incarnation: 1, osPid: 100, now: .zero, isAlive: isAlive) == .registered)
        #expect(table.register(name: "b", port: 4001, incarnation: 2, osPid: 200, now: .zero, isAlive: isAlive) == .registered)
        #expect(table.lookup("a", now: .seconds(1), isAlive: isAlive) == 4000)
        #expect(table.names(now: .seconds(1), isAlive: isAlive).map(\.name) == ["a", "b"])
        #expect(table.lookup("nobody", now: .seconds(1), isAlive: isAlive) == nil)
    }

    @Test func aLiveHolderKeepsItsNameAndADeadOneLosesIt() {
        var table = PortMapperTable(leaseTime: .seconds(10))
        var living: Set<Int32> = [100, 300]
        #expect(table.register(name: "a", port: 4000, incarnation: 1, osPid: 100, now: .zero, isAlive: { living.contains($0) }) == .registered)
        #expect(table.register(name: "a", port: 5000, incarnation: 2, osPid: 300, now: .seconds(1), isAlive: { living.contains($0) }) == .taken(port: 4000))
        // The same node refreshing its lease is fine.
        #expect(table.register(name: "a", port: 4000, incarnation: 1, osPid: 100, now: .seconds(2), isAlive: { living.contains($0) }) == .registered)
        living.remove(100)  // kill -9
        #expect(table.lookup("a", now: .seconds(3), isAlive: { living.contains($0) }) == nil)
        #expect(table.register(name: "a", port: 5000, incarnation: 2, osPid: 300, now: .seconds(3), isAlive: { living.contains($0) }) == .registered)
    }

    @Test func leasesLapseWithoutRefresh() {
        var table = PortMapperTable(leaseTime: .seconds(10))
        #expect(table.register(name: "a", port: 4000, incarnation: 1, osPid: 100, now: .zero, isAlive: { _ in true }) == .registered)
        #expect(table.lookup("a", now: .seconds(9), isAlive: { _ in true }) == 4000)
        #expect(table.lookup("a", now: .seconds(10), isAlive: { _ in true }) == nil)
    }

    @Test func unregisterNeedsTheRightIncarnation() {
        var table = PortMapperTable()
        _ = table.register(name: "a", port: 4000, incarnation: 1, osPid: 100, now: .zero, isAlive: { _ in true })
        table.unregister(name: "a", incarnation: 2)
        #expect(table.lookup("a", now: .zero, isAlive: { _ in true }) == 4000)
        table.unregister(name: "a", incarnation: 1)
        #expect(table.lookup("a", now: .zero, isAlive: { _ in true }) == nil)
    }
}

@Suite struct NodeNameTests {
    @Test func namesParseWithShortLongAndNumericHosts() throws {
        #expect(try NodeName(parsing: "todo1@localhost") == NodeName(name: "todo1", host: "localhost"))
        #expect(try NodeName(parsing: "n@host.example.com").host == "host.example.com")
        #expect(try NodeName(parsing: "n@127.0.0.1").host == "127.0.0.1")
        #expect(try NodeName(parsing: "bare", defaultHost: "box") == NodeName(name: "bare", host: "box"))
        for bad in ["", "@h", "a@", "a b@h", "a@h@h", "a@h/x"] {
            #expect(throws: NodeNameError.self) { try NodeName(parsing: bad, defaultHost: "h") }
        }
        #expect(try resolveHost("localhost") == "127.0.0.1")
        #expect(throws: NodeNameError.self) { try resolveHost("no-such-host.invalid") }
    }
}

@Suite struct GlobalTableTests {
    let onA = Pid(node: "a@h", incarnation: 1, serial: 1)
    let onB = Pid(node: "b@h", incarnation: 1, serial: 1)
    let onC = Pid(node: "c@h", incarnation: 1, serial: 1)

    @Test func theLeaderRefusesATakenName() {
        var table = GlobalTable()
        #expect(table.register("x", onB) == nil)
        #expect(table.register("x", onA) == onB)
        #expect(table.register("x", onB) == nil)  // the owner again: fine
    }

    @Test func mergesInAnyOrderEndAlike() {
        // Three sides each registered "x"; every order of merging ends with a's pid.
        let tables: [[String: Pid]] = [["x": onC, "only-c": onC], ["x": onA], ["x": onB, "only-b": onB]]
        var results: [[String: Pid]] = []
        for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2], [2, 0, 1]] {
            var table = GlobalTable()
            for index in order { _ = table.merge(tables[index]) }
            results.append(table.names)
        }
        #expect(results.allSatisfy { $0 == results[0] })
        #expect(results[0]["x"] == onA)
        #expect(results[0]["only-b"] == onB && results[0]["only-c"] == onC)
    }

    @Test func aClashNamesTheLoserForItsNodeToKill() {
        var table = GlobalTable()
        _ = table.learn("x", onB)
        #expect(table.learn("x", onA) == GlobalTable.Clash(name: "x", kept: onA, lost: onB))
        #expect(table.learn("x", onC) == GlobalTable.Clash(name: "x", kept: onA, lost: onC))
        #expect(table.learn("x", onA) == nil)
    }

    @Test func aDownNodeTakesItsNamesAlong() {
        var table = GlobalTable()
        _ = table.merge(["x": onA, "y": onB, "z": onB])
        #expect(table.forgetNode("b@h") == ["y", "z"])
        #expect(table.names == ["x": onA])
        table.forget("x", onB)  // not its owner: nothing happens
        #expect(table.whereis("x") == onA)
    }
}
