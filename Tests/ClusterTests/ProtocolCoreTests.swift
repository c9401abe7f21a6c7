@testable import Cluster
import Foundation
import Processes
import Testing

@Suite struct HandshakeTests {
    let a = NodeName(name: "a", host: "h")
    let b = NodeName(name: "b", host: "h")
    let x = NodeName(name: "x", host: "h")
    static let port = 1_000

    func identity(_ node: NodeName, cookie: String, hidden: Bool = false, port: Int = HandshakeTests.port) -> LocalIdentity {
        LocalIdentity(node: node, incarnation: 1, hidden: hidden, cookie: cookie, publishEndpoint: "tcp://\(node.name):1", clusterPort: port)
    }

    func helloOf(_ packet: Packet) -> Packet.Hello? {
        if case .hello(let hello) = packet { return hello }
        return nil
    }

    /// Runs the four steps between an initiator and an acceptor.
    func shake(initiatorCookie: String, acceptorCookie: String) -> (InitiatorHandshake.Step, AcceptorHandshake.Step?) {
        var initiator = InitiatorHandshake(local: identity(a, cookie: initiatorCookie), connectingTo: b)
        guard let hello = helloOf(initiator.hello(dialling: Self.port)) else { return (.failed("no hello"), nil) }
        let (acceptor, first) = AcceptorHandshake.start(hello, local: identity(b, cookie: acceptorCookie))
        guard let acceptor, case .send(let challenge) = first else { return (.failed("no challenge"), nil) }
        let step = initiator.receive(challenge)
        guard case .send(let proof) = step else { return (step, nil) }
        let verdict = acceptor.receive(proof, peers: ["c@h"])
        if case .established(_, let welcome) = verdict { return (initiator.receive(welcome), verdict) }
        return (step, verdict)
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

    @Test func mismatchedCookiesAreRefusedAndTheTargetSaysSo() {
        let (initiator, acceptor) = shake(initiatorCookie: "one", acceptorCookie: "two")
        guard case .send(.proof) = initiator else {
            Issue.record("the initiator proves first, got \(initiator)")
            return
        }
        guard case .refused(_, let log)? = acceptor else {
            Issue.record("acceptor should refuse")
            return
        }
        #expect(log == "Connection attempt from node a@h rejected. Invalid challenge reply.")
    }

    @Test func theCookieNeverCrossesTheWire() {
        var initiator = InitiatorHandshake(local: identity(a, cookie: "topsecret"), connectingTo: b)
        let bytes = Batch.encode(initiator.hello(dialling: Self.port))
        #expect(!String(decoding: bytes, as: UTF8.self).contains("topsecret"))
    }

    @Test func anotherProtocolVersionIsRefused() {
        let hello = Packet.Hello(node: "a@h", incarnation: 1, version: 1, hidden: false, nonce: Handshake.nonce(),
                                 publishEndpoint: "tcp://a:1", dialledPort: UInt64(Self.port), tickMillis: 15_000)
        let (acceptor, step) = AcceptorHandshake.start(hello, local: identity(b, cookie: "c"))
        #expect(acceptor == nil)
        guard case .refused = step else {
            Issue.record("expected a refusal")
            return
        }
    }

    @Test func anImpostorAnsweringForAnotherNameFails() {
        var initiator = InitiatorHandshake(local: identity(a, cookie: "c"), connectingTo: b)
        let challenge = Packet.challenge(.init(node: "mallory@h", incarnation: 1, hidden: false, nonce: Handshake.nonce(), publishEndpoint: "tcp://m:1",
                                                tickMillis: 15_000))
        guard case .failed = initiator.receive(challenge) else {
            Issue.record("expected a failure")
            return
        }
    }

    @Test func theSimultaneousRefusalMakesTheInitiatorWait() {
        var initiator = InitiatorHandshake(local: identity(a, cookie: "c"), connectingTo: b)
        #expect(initiator.receive(.refused(InitiatorHandshake.simultaneous)) == .yield)
    }

    /// The attack of version 1: tell A "I am X" to learn A's nonce, tell X "I am A" with that
    /// nonce, and hand X's answer to A as X's proof. Now an acceptor proves nothing until the
    /// initiator has: X's challenge carries no proof, and nothing it says passes with A.
    @Test func anAcceptorIsNoOracleForARelay() {
        let cookie = "cluster"
        var intruderAsX = InitiatorHandshake(local: identity(x, cookie: "guess"), connectingTo: a)
        guard let toA = helloOf(intruderAsX.hello(dialling: Self.port)) else { return }
        let (atA, challengeOfA) = AcceptorHandshake.start(toA, local: identity(a, cookie: cookie))
        guard let atA, case .send(.challenge(let fromA)) = challengeOfA else {
            Issue.record("A should challenge")
            return
        }
        let toX = Packet.Hello(node: a.description, incarnation: 1, version: Handshake.version, hidden: false,
                               nonce: fromA.nonce, publishEndpoint: "tcp://a:1", dialledPort: UInt64(Self.port),
                               tickMillis: fromA.tickMillis)
        let (_, answerOfX) = AcceptorHandshake.start(toX, local: identity(x, cookie: cookie))
        guard case .send(.challenge(let fromX)) = answerOfX else {
            Issue.record("X should challenge")
            return
        }
        // Everything X said, tried as the proof A wants: all refused.
        for candidate in [fromX.nonce, Array(fromX.node.utf8), Batch.encode(.challenge(fromX))] {
            guard case .refused = atA.receive(.proof(candidate), peers: []) else {
                Issue.record("A accepted a relayed proof")
                return
            }
        }
    }

    /// A relay that hands a real node's messages on unchanged: X dials the intruder (thinking
    /// it is A, at the intruder's port), the intruder passes X's hello and proof to A. A sees
    /// a port that is not its own; and with the port rewritten, X's proof no longer fits.
    @Test func aRelayedHandshakeFailsOnTheDialledPort() {
        let cookie = "cluster"
        let intruderPort = 2_000
        var realX = InitiatorHandshake(local: identity(x, cookie: cookie, port: 3_000), connectingTo: a)
        guard let hello = helloOf(realX.hello(dialling: intruderPort)) else { return }
        let (refusedAcceptor, refusal) = AcceptorHandshake.start(hello, local: identity(a, cookie: cookie))
        #expect(refusedAcceptor == nil)
        guard case .refused(_, let log) = refusal else {
            Issue.record("A should refuse a hello for another port")
            return
        }
        #expect(log.contains("dialled port 2000"))

        let rewritten = Packet.Hello(node: hello.node, incarnation: hello.incarnation, version: hello.version, hidden: hello.hidden,
                                     nonce: hello.nonce, publishEndpoint: hello.publishEndpoint, dialledPort: UInt64(Self.port),
                                     tickMillis: hello.tickMillis)
        let (atA, challenge) = AcceptorHandshake.start(rewritten, local: identity(a, cookie: cookie))
        guard let atA, case .send(let toX) = challenge, case .send(let proofOfX) = realX.receive(toX) else {
            Issue.record("the relay should get as far as X's proof")
            return
        }
        guard case .refused = atA.receive(proofOfX, peers: []) else {
            Issue.record("A accepted X's proof for another port")
            return
        }
    }

    /// The initiator's own proof, sent back as the welcome's, is refused: the role is part of
    /// what a proof covers, so an intruder cannot reflect it.
    @Test func aReflectedProofDoesNotPassForTheOtherRole() {
        var initiator = InitiatorHandshake(local: identity(a, cookie: "cluster"), connectingTo: b)
        _ = initiator.hello(dialling: Self.port)
        let challenge = Packet.challenge(.init(node: b.description, incarnation: 1, hidden: false, nonce: Handshake.nonce(), publishEndpoint: "tcp://b:1",
                                                tickMillis: 15_000))
        guard case .send(.proof(let proof)) = initiator.receive(challenge) else {
            Issue.record("no proof")
            return
        }
        guard case .failed(let reason) = initiator.receive(.welcome(peers: [], proof: proof)) else {
            Issue.record("a reflected proof was taken")
            return
        }
        #expect(reason.contains("does not share our cookie"))
    }

    /// A proof covers both nonces, both names, incarnations, hidden flags, heartbeat
    /// endpoints, tick times and the dialled port: changing any one of them changes it.
    @Test func aProofCoversEveryFieldOfTheExchange() {
        let side = Handshake.Transcript.Side(node: "a@h", incarnation: 1, hidden: false, publishEndpoint: "tcp://a:1", nonce: [1, 2], tickMillis: 2_000)
        let other = Handshake.Transcript.Side(node: "b@h", incarnation: 2, hidden: false, publishEndpoint: "tcp://b:1", nonce: [3, 4], tickMillis: 15_000)
        let base = Handshake.Transcript(initiator: side, acceptor: other, dialledPort: 9)
        func changed(_ side: Handshake.Transcript.Side, _ change: Int) -> Handshake.Transcript.Side {
            .init(node: change == 0 ? "z@h" : side.node, incarnation: change == 1 ? 99 : side.incarnation, hidden: change == 2 ? true : side.hidden,
                  publishEndpoint: change == 3 ? "tcp://z:1" : side.publishEndpoint, nonce: change == 4 ? [9, 9] : side.nonce,
                  tickMillis: change == 5 ? 1 : side.tickMillis)
        }
        var variants = [Handshake.Transcript(initiator: side, acceptor: other, dialledPort: 10),
                        Handshake.Transcript(initiator: other, acceptor: side, dialledPort: 9)]
        for change in 0..<6 {
            variants.append(.init(initiator: changed(side, change), acceptor: other, dialledPort: 9))
            variants.append(.init(initiator: side, acceptor: changed(other, change), dialledPort: 9))
        }
        let proof = Handshake.proof(cookie: "c", role: .initiator, transcript: base)
        #expect(!Handshake.verify(proof, cookie: "c", role: .acceptor, transcript: base))
        for variant in variants {
            #expect(!Handshake.verify(proof, cookie: "c", role: .initiator, transcript: variant))
        }
        #expect(Handshake.verify(proof, cookie: "c", role: .initiator, transcript: base))
    }

    @Test func aHeartbeatEndpointMustBeTCP() {
        let hello = Packet.Hello(node: "a@h", incarnation: 1, version: Handshake.version, hidden: false, nonce: Handshake.nonce(),
                                 publishEndpoint: "inproc://zeromq.zap.01", dialledPort: UInt64(Self.port), tickMillis: 15_000)
        let (acceptor, _) = AcceptorHandshake.start(hello, local: identity(b, cookie: "c"))
        #expect(acceptor == nil)
    }

    /// Each side learns the other's tick time (a `todo` client's 15 s, its node's 2 s), so
    /// that its heartbeats keep up with it; one no node may have is refused.
    @Test func eachSideLearnsTheOthersTickTime() {
        var client = identity(a, cookie: "c", hidden: true)
        client.tickTime = .seconds(15)
        var node = identity(b, cookie: "c")
        node.tickTime = .milliseconds(1_999) + .microseconds(1)  // rounded up to whole milliseconds
        var initiator = InitiatorHandshake(local: client, connectingTo: b)
        guard let hello = helloOf(initiator.hello(dialling: Self.port)) else {
            Issue.record("no hello")
            return
        }
        #expect(hello.tickMillis == 15_000)
        let (acceptor, first) = AcceptorHandshake.start(hello, local: node)
        guard let acceptor, case .send(let challenge) = first, case .send(let proof) = initiator.receive(challenge),
              case .established(let clientInfo, let welcome) = acceptor.receive(proof, peers: []),
              case .established(let nodeInfo, _) = initiator.receive(welcome) else {
            Issue.record("no handshake")
            return
        }
        #expect(clientInfo.tickTime == .seconds(15))
        #expect(nodeInfo.tickTime == .seconds(2))

        for tick: UInt64 in [0, 3_600_001, .max] {
            let odd = Packet.Hello(node: hello.node, incarnation: 1, version: Handshake.version, hidden: true, nonce: hello.nonce,
                                   publishEndpoint: hello.publishEndpoint, dialledPort: hello.dialledPort, tickMillis: tick)
            let (refusing, step) = AcceptorHandshake.start(odd, local: node)
            #expect(refusing == nil)
            #expect(step == .refused(.refused("bad tick time"), log: "Connection attempt from node a@h rejected: a tick time of \(tick) ms"))
            var dialling = InitiatorHandshake(local: client, connectingTo: b)
            _ = dialling.hello(dialling: Self.port)
            let oddChallenge = Packet.challenge(.init(node: b.description, incarnation: 1, hidden: false, nonce: Handshake.nonce(),
                                                      publishEndpoint: "tcp://b:1", tickMillis: tick))
            #expect(dialling.receive(oddChallenge) == .failed("b@h sent a bad challenge"))
        }
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

    /// A peer with a shorter tick time than this node's gets heartbeats often enough for it,
    /// while it is watched; this node still declares peers down after its own tick time.
    @Test func heartbeatsKeepUpWithTheShortestTickTimeOfAWatchedPeer() {
        var detector = FailureDetector(tickTime: .seconds(15))
        let quick = NodeName(name: "q", host: "h")
        detector.watch(peer, now: .zero, tickTime: .seconds(60))
        #expect(detector.heartbeatInterval == .milliseconds(3_750))
        detector.watch(quick, now: .zero, tickTime: .seconds(2))
        #expect(detector.heartbeatInterval == .milliseconds(500))
        #expect(detector.expired(now: .seconds(14)).isEmpty)
        detector.heard(peer, now: .seconds(14))
        #expect(detector.expired(now: .seconds(15)) == [quick])
        #expect(detector.heartbeatInterval == .milliseconds(3_750))
        detector.watch(quick, now: .seconds(16), tickTime: .seconds(1))
        detector.forget(quick)
        #expect(detector.heartbeatInterval == .milliseconds(3_750))
    }

    /// This node stopped (`SIGSTOP`) for twice its tick time, after a peer's last heartbeat:
    /// the check as it wakes does not take the pause for the peer's silence. What the peer
    /// sent meanwhile is read in the rounds after it, and keeps it up; a peer that sent
    /// nothing is declared down after the tick time of this node's running time.
    @Test func thisNodesOwnPauseIsNotItsPeersSilence() {
        let tick = Duration.seconds(2)
        for heardAfterWaking in [true, false] {
            var detector = FailureDetector(tickTime: tick)
            detector.watch(peer, now: .zero)
            detector.heard(peer, now: .seconds(1))
            var now = Duration.seconds(1)
            now += detector.checkInterval
            #expect(detector.expired(now: now).isEmpty)
            let silentBefore = now - .seconds(1)
            now += .seconds(4)  // stopped
            let woke = now
            #expect(detector.expired(now: now).isEmpty, "its own pause taken for the peer's silence")
            if heardAfterWaking { detector.heard(peer, now: now + .milliseconds(1)) }
            var declared: Duration?
            while declared == nil, now < .seconds(60) {
                now += detector.checkInterval
                if detector.expired(now: now) == [peer] { declared = now }
            }
            let silence = (declared ?? .zero) - (heardAfterWaking ? woke : woke - silentBefore)
            #expect(silence >= tick * 0.75 && silence <= tick * 1.25, "declared after \(silence) of running time")
        }
    }

    /// A peer heard in the same round as the late check (read before it) is heard then: the
    /// pause does not push its last sign of life past the present.
    @Test func aPeerHeardAsThisNodeWakesIsDeclaredDownOneTickTimeLater() {
        var detector = FailureDetector(tickTime: .seconds(2))
        detector.watch(peer, now: .zero)
        #expect(detector.expired(now: .milliseconds(250)).isEmpty)
        var now = Duration.seconds(10)
        detector.heard(peer, now: now)
        var declared: Duration?
        while declared == nil, now < .seconds(60) {
            if detector.expired(now: now) == [peer] { declared = now }
            now += detector.checkInterval
        }
        #expect(declared == .seconds(12))
    }

    @Test func forgottenPeersAreNotReported() {
        var detector = FailureDetector(tickTime: .seconds(1))
        detector.watch(peer, now: .zero)
        detector.forget(peer)
        detector.heard(peer, now: .seconds(1))  // heard after forget does not watch again
        #expect(detector.expired(now: .seconds(10)).isEmpty)
    }
}

@Suite struct PollWaitTests {
    let wait = PollWait(longestMilliseconds: 100)

    @Test func aPollWaitsPastItsTimerNeverBeforeIt() {
        #expect(wait.milliseconds(untilDue: .microseconds(2_500)) == 3)
        #expect(wait.milliseconds(untilDue: .milliseconds(7)) == 8)
        #expect(wait.milliseconds(untilDue: .nanoseconds(1)) == 1)
        #expect(wait.milliseconds(untilDue: .microseconds(99_500)) == 100)
    }

    @Test func aTimerDueOrPastWaitsOneMillisecond() {
        #expect(wait.milliseconds(untilDue: .zero) == 1)
        #expect(wait.milliseconds(untilDue: .seconds(-3)) == 1)
    }

    @Test func aFarTimerWaitsTheLongestPollOnly() {
        #expect(wait.milliseconds(untilDue: .milliseconds(100)) == 100)
        #expect(wait.milliseconds(untilDue: .seconds(15)) == 100)
        #expect(wait.milliseconds(untilDue: .seconds(Int64.max)) == 100)
    }
}

@Suite struct PortMapperTableTests {
    @Test func namesRegisterLookUpAndList() {
        var table = PortMapperTable(leaseTime: .seconds(10))
        #expect(table.register(name: "a", port: 4000, incarnation: 1, connection: 7, now: .zero) == .registered)
        #expect(table.register(name: "b", port: 4001, incarnation: 2, connection: 8, now: .zero) == .registered)
        #expect(table.lookup("a", now: .seconds(1)) == 4000)
        #expect(table.names(now: .seconds(1)).map(\.name) == ["a", "b"])
        #expect(table.lookup("nobody", now: .seconds(1)) == nil)
    }

    @Test func aConnectedHolderKeepsItsNameAndItsClosedConnectionFreesIt() {
        var table = PortMapperTable(leaseTime: .seconds(10))
        #expect(table.register(name: "a", port: 4000, incarnation: 1, connection: 7, now: .zero) == .registered)
        #expect(table.register(name: "a", port: 5000, incarnation: 2, connection: 9, now: .seconds(1)) == .taken(port: 4000))
        // The same node refreshing its lease is fine.
        #expect(table.register(name: "a", port: 4000, incarnation: 1, connection: 7, now: .seconds(2)) == .registered)
        table.closed(connection: 7)  // kill -9: its connection closes
        #expect(table.lookup("a", now: .seconds(3)) == nil)
        #expect(table.register(name: "a", port: 5000, incarnation: 2, connection: 9, now: .seconds(3)) == .registered)
    }

    @Test func leasesLapseWithoutRefresh() {
        var table = PortMapperTable(leaseTime: .seconds(10))
        #expect(table.register(name: "a", port: 4000, incarnation: 1, connection: 7, now: .zero) == .registered)
        #expect(table.lookup("a", now: .seconds(9)) == 4000)
        #expect(table.lookup("a", now: .seconds(10)) == nil)
        #expect(table.register(name: "a", port: 5000, incarnation: 2, connection: 8, now: .seconds(10)) == .registered)
    }

    @Test func unregisterNeedsTheRightIncarnation() {
        var table = PortMapperTable()
        _ = table.register(name: "a", port: 4000, incarnation: 1, connection: 7, now: .zero)
        table.unregister(name: "a", incarnation: 2)
        #expect(table.lookup("a", now: .zero) == 4000)
        table.unregister(name: "a", incarnation: 1)
        #expect(table.lookup("a", now: .zero) == nil)
    }

    @Test func namesAndEntriesAreBounded() {
        var table = PortMapperTable()
        for bad in ["", String(repeating: "n", count: 256), "a b", "a@h", "a\u{0}"] {
            #expect(table.register(name: bad, port: 4000, incarnation: 1, connection: 7, now: .zero) == .badName)
        }
        #expect(table.register(name: String(repeating: "n", count: 255), port: 4000, incarnation: 1, connection: 7, now: .zero) == .registered)
        for index in 1..<PortMapperTable.maxEntries {
            #expect(table.register(name: "n\(index)", port: 4000, incarnation: 1, connection: 7, now: .zero) == .registered)
        }
        #expect(table.register(name: "one-more", port: 4000, incarnation: 1, connection: 7, now: .zero) == .full)
        #expect(table.register(name: "n1", port: 4001, incarnation: 1, connection: 7, now: .zero) == .registered)  // a refresh
    }

    /// As epmd: only this host registers; anyone looks up.
    @Test func onlyALocalRequestRegistersOrUnregisters() {
        var table = PortMapperTable()
        func ask(_ words: [String], local: Bool) -> [String] {
            PortMapperServer.answer(.init(words: words, local: local, connection: 5), table: &table, now: .zero).reply
        }
        #expect(ask(["REGISTER", "a", "4000", "1"], local: false).first == "ERR")
        #expect(ask(["LOOKUP", "a"], local: false) == ["NONE"])
        #expect(ask(["REGISTER", "a", "4000", "1"], local: true) == ["OK"])
        #expect(ask(["UNREGISTER", "a", "1"], local: false).first == "ERR")
        #expect(ask(["LOOKUP", "a"], local: false) == ["PORT", "4000"])
        #expect(ask(["NAMES"], local: false) == ["NAMES", "a 4000"])
        #expect(PortMapperServer.isLoopback("127.0.0.1") && PortMapperServer.isLoopback("::1") && PortMapperServer.isLoopback("::ffff:127.0.0.2"))
        #expect(!PortMapperServer.isLoopback("10.0.0.1") && !PortMapperServer.isLoopback(nil) && !PortMapperServer.isLoopback("1127.0.0.1"))
    }

    /// A mapper that has just started may not know a running node yet (they register again
    /// at their next refresh): while it settles, "no such name" says how long it may still
    /// come; a name it knows is answered as ever.
    @Test func aSettlingMapperSaysHowLongANameMayStillCome() {
        var table = PortMapperTable()
        func ask(_ words: [String], at now: Duration) -> [String] {
            PortMapperServer.answer(.init(words: words, local: true, connection: 5), table: &table, now: now, settling: .seconds(4)).reply
        }
        #expect(ask(["LOOKUP", "a"], at: .milliseconds(1_000)) == ["NONE", "3000"])
        #expect(ask(["LOOKUP", "a"], at: .microseconds(3_999_001)) == ["NONE", "1"])
        #expect(ask(["REGISTER", "a", "4000", "1"], at: .seconds(1)) == ["OK"])
        #expect(ask(["LOOKUP", "a"], at: .seconds(1)) == ["PORT", "4000"])
        #expect(ask(["LOOKUP", "b"], at: .seconds(4)) == ["NONE"])
    }

    /// A lookup asks a settling mapper again until the name comes or the settling is over,
    /// and waits no longer than a mapper may settle, whatever it says.
    @Test func aLookupAsksASettlingMapperAgainUntilTheNameComes() throws {
        func lookUp(_ answers: [[String]]) throws -> (port: Int?, asked: Int, paused: [Duration]) {
            var asked = 0, paused: [Duration] = []
            let port = try PortMapperClient.lookUp(asking: {
                defer { asked += 1 }
                return answers[min(asked, answers.count - 1)]
            }, pause: { paused.append($0) })
            return (port, asked, paused)
        }
        let found = try lookUp([["NONE", "3000"], ["NONE", "2800"], ["PORT", "4000"]])
        #expect(found.port == 4_000 && found.asked == 3 && found.paused == [.milliseconds(200), .milliseconds(200)])
        let settled = try lookUp([["NONE", "150"], ["NONE"]])
        #expect(settled.port == nil && settled.asked == 2 && settled.paused == [.milliseconds(150)])
        #expect(try lookUp([["NONE"]]) == (nil, 1, []))
        // A mapper that never stops settling is asked for at most `PortMapperServer.settling`.
        let endless = try lookUp([["NONE", "999999999"]])
        #expect(endless.port == nil && endless.paused.reduce(.zero, +) == PortMapperServer.settling)
        for bad in [["NONE", "0"], ["NONE", "-5"], ["NONE", "soon"], ["NONE", "1", "2"]] {
            #expect(throws: PortMapperClient.Failure.badAnswer(bad.joined(separator: " "))) { try lookUp([bad]) }
        }
    }
}

@Suite struct NodeNameTests {
    @Test func namesParseWithShortLongAndNumericHosts() throws {
        #expect(try NodeName(parsing: "todo1@localhost") == NodeName(name: "todo1", host: "localhost"))
        #expect(try NodeName(parsing: "n@host.example.com").host == "host.example.com")
        #expect(try NodeName(parsing: "n@127.0.0.1").host == "127.0.0.1")
        #expect(try NodeName(parsing: "bare", defaultHost: "box") == NodeName(name: "bare", host: "box"))
        for bad in ["", "@h", "a@", "a b@h", "a@h@h", "a@h/x", "a@h:1", "a@::1"] {
            #expect(throws: NodeNameError.self) { try NodeName(parsing: bad, defaultHost: "h") }
        }
        #expect(try resolveHost("localhost") == "127.0.0.1")
        #expect(throws: NodeNameError.self) { try resolveHost("no-such-host.invalid") }
    }

    /// What every remote send does with a pid's node: takes its text as it is, no checks. Its
    /// name and host, when asked for, split at the first `@`.
    @Test func aNodeTextSplitsAtItsFirstAtSign() {
        #expect(NodeName(unchecked: "todo1@localhost") == NodeName(name: "todo1", host: "localhost"))
        #expect(NodeName(unchecked: "a-very-long-node-name@a.long.host.example.com")
                == NodeName(name: "a-very-long-node-name", host: "a.long.host.example.com"))
        #expect(NodeName(unchecked: "a@b@c") == NodeName(name: "a", host: "b@c"))
        #expect(NodeName(unchecked: "bare") == NodeName(name: "bare", host: ""))
        #expect(NodeName(unchecked: "") == NodeName(name: "", host: ""))
        #expect(NodeName(unchecked: "née@hôte") == NodeName(name: "née", host: "hôte"))
        #expect(NodeName(unchecked: "bare@") == NodeName(unchecked: "bare"))
        let odd = NodeName(unchecked: "a@b@c")
        #expect(odd.name == "a" && odd.host == "b@c" && odd.description == "a@b@c")
        #expect(NodeName(name: "todo1", host: "localhost").description == "todo1@localhost")
    }

    /// The name is kept as one text now; peers and JSON still see the two keyed strings
    /// that the name and host once were.
    @Test func aNodeNameKeepsItsCodedForm() throws {
        struct TwoStrings: Codable, Equatable { let name: String; let host: String }
        let node = NodeName(name: "todo1", host: "localhost"), fields = TwoStrings(name: "todo1", host: "localhost")
        #expect(try BinaryEncoder().encode(node) == BinaryEncoder().encode(fields))
        #expect(try BinaryDecoder().decode(NodeName.self, from: BinaryEncoder().encode(fields)) == node)
        let json = try JSONDecoder().decode(TwoStrings.self, from: JSONEncoder().encode(node))
        #expect(json == fields)
        #expect(try JSONDecoder().decode(NodeName.self, from: JSONEncoder().encode(fields)) == node)
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

    /// Of two pids of one node, the later one stays, in either order: the name went to it once
    /// the earlier one had lost it (here, in the soak, the earlier one was dead, and a node
    /// that heard it late handed it on).
    @Test func ofTwoPidsOfOneNodeTheLaterStays() {
        let earlier = Pid(node: "b@h", incarnation: 1, serial: 45), later = Pid(node: "b@h", incarnation: 1, serial: 622)
        var heardLate = GlobalTable(), heardInOrder = GlobalTable()
        _ = heardLate.learn("x", later)
        #expect(heardLate.learn("x", earlier) == GlobalTable.Clash(name: "x", kept: later, lost: earlier))
        _ = heardInOrder.learn("x", earlier)
        #expect(heardInOrder.learn("x", later) == GlobalTable.Clash(name: "x", kept: later, lost: earlier))
        #expect(heardLate.names == heardInOrder.names)
    }

    /// Of two lives of one node, the one up stays, whichever order they came in; when no one
    /// knows which is up, the lower incarnation, alike everywhere.
    @Test func ofTwoLivesOfOneNodeTheOneUpStays() {
        let earlier = Pid(node: "b@h", incarnation: 5, serial: 9), now = Pid(node: "b@h", incarnation: 9, serial: 1)
        let lives = { (node: String) -> UInt64? in node == "b@h" ? 9 : nil }
        var heardLate = GlobalTable(), heardInOrder = GlobalTable(), unknown = GlobalTable()
        _ = heardLate.learn("x", now)
        #expect(heardLate.learn("x", earlier, lives: lives) == GlobalTable.Clash(name: "x", kept: now, lost: earlier))
        _ = heardInOrder.learn("x", earlier)
        #expect(heardInOrder.learn("x", now, lives: lives) == GlobalTable.Clash(name: "x", kept: now, lost: earlier))
        _ = unknown.learn("x", now)
        #expect(unknown.learn("x", earlier) == GlobalTable.Clash(name: "x", kept: earlier, lost: now))
    }

    /// A peer that had already seen a's node go down registered the name on b; here a's owner
    /// was kept over it. When a's node goes here too, or a's owner ends, the name is b's
    /// again, as it still is on b's node.
    @Test func aNameIsTheOverruledOwnersAgainWhenItsKeptOwnerGoes() {
        for keptOwnerGoes in [{ (table: inout GlobalTable) in _ = table.forgetNode("a@h") },
                              { (table: inout GlobalTable) in table.forget("x", onA) }] {
            var table = GlobalTable()
            _ = table.learn("x", onA)
            #expect(table.learn("x", onB) == GlobalTable.Clash(name: "x", kept: onA, lost: onB))
            #expect(table.whereis("x") == onA && table.overruled == ["x": onB])
            keptOwnerGoes(&table)
            #expect(table.whereis("x") == onB)
            #expect(table.overruled.isEmpty)
        }
    }

    /// An overruled owner that ends (its node killed it on seeing the clash), or whose node
    /// goes, is not given the name later.
    @Test func anOverruledOwnerThatEndsOrWhoseNodeGoesIsForgotten() {
        var table = GlobalTable()
        _ = table.merge(["x": onB, "y": onC])
        _ = table.merge(["x": onA, "y": onA])
        #expect(table.overruled == ["x": onB, "y": onC])
        table.forget("x", onB)
        _ = table.forgetNode("c@h")
        #expect(table.overruled.isEmpty)
        #expect(table.forgetNode("a@h") == ["x", "y"])
        #expect(table.names.isEmpty)
    }

    /// Two pids of one node are not two sides: the earlier one is not kept as overruled.
    @Test func aLaterPidOfTheSameNodeLeavesNoOverruledOwner() {
        let earlier = Pid(node: "b@h", incarnation: 1, serial: 45), later = Pid(node: "b@h", incarnation: 1, serial: 622)
        var table = GlobalTable()
        _ = table.learn("x", earlier)
        _ = table.learn("x", later)
        #expect(table.overruled.isEmpty)
        table.forget("x", later)
        #expect(table.whereis("x") == nil)
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

/// A peer's riders (`TransportLoop.sendLater`): packets that leave in the frame of the next one.
@Suite struct PeerRiderTests {
    let pid = Pid(node: "b@h", incarnation: 1, serial: 2)

    func peer() -> TransportLoop.Peer {
        TransportLoop.Peer(info: PeerInfo(node: NodeName(unchecked: "b@h"), incarnation: 1, hidden: false, publishEndpoint: ""),
                           link: .router(id: [1]), hidden: false)
    }

    @Test func ridersLeaveAheadOfTheNextPacketInItsFrame() {
        let monitor = Packet.monitor(ref: Ref(node: "a@h", incarnation: 1, serial: 7), watcher: pid, target: pid)
        let demonitor = Packet.demonitor(ref: Ref(node: "a@h", incarnation: 1, serial: 6), target: pid)
        let request = Packet.message(to: pid, payload: [9])
        var peer = peer()
        peer.enqueue(Batch.encode(.link(from: pid, to: pid)))  // already in this round's frame
        Batch.append(Batch.encode(demonitor), to: &peer.riders)
        Batch.append(Batch.encode(monitor), to: &peer.riders)
        peer.enqueue(Batch.encode(request))
        #expect(peer.riders.isEmpty)
        #expect(Batch.packets(in: peer.batch).packets == [.link(from: pid, to: pid), demonitor, monitor, request])
    }

    /// What `flush` does first, every round: riders with no packet after them go on their own.
    @Test func ridersWithNothingAfterThemMoveIntoTheFrameOnTheirOwn() {
        var peer = peer()
        Batch.append(Batch.encode(.demonitor(ref: Ref(node: "a@h", incarnation: 1, serial: 6), target: pid)), to: &peer.riders)
        peer.takeRiders()
        #expect(peer.riders.isEmpty)
        #expect(Batch.packets(in: peer.batch).packets == [.demonitor(ref: Ref(node: "a@h", incarnation: 1, serial: 6), target: pid)])
    }
}
