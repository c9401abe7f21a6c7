import Glibc
import Testing
import ZeroMQ

/// Receives with a deadline, so a broken socket fails the test instead of hanging it.
func receiveMessage(_ socket: Socket, within milliseconds: Int32 = 5_000) throws -> [[UInt8]]? {
    try socket.setReceiveTimeout(milliseconds: milliseconds)
    return try socket.receiveMessage()
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite(.timeLimit(.minutes(1)))
struct SocketTests {
    let context: Context

    init() throws { context = try Context() }

    @Test func routerAndDealerCarryMultipartMessagesBothWays() throws {
        let router = try context.socket(.router)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))

        let dealer = try context.socket(.dealer)
        try dealer.setRoutingID(bytes("peer-1"))
        try dealer.connect(endpoint)
        try dealer.send([bytes("hello"), [], [0, 1, 2, 255]])

        let received = try #require(try receiveMessage(router))
        #expect(received == [bytes("peer-1"), bytes("hello"), [], [0, 1, 2, 255]])

        try router.send([bytes("peer-1"), bytes("back")])
        #expect(try receiveMessage(dealer) == [bytes("back")])
    }

    @Test func routerMandatoryRefusesUnknownPeers() throws {
        let router = try context.socket(.router)
        try router.setRouterMandatory(true)
        try router.bind("tcp://127.0.0.1:*")
        #expect(throws: ZMQError.self) {
            try router.send([bytes("nobody"), bytes("lost")])
        }
    }

    @Test func pubSubDeliversOnlySubscribedPrefixes() throws {
        let publisher = try context.socket(.pub)
        try publisher.bind("tcp://127.0.0.1:*")
        let subscriber = try context.socket(.sub)
        try subscriber.subscribe(bytes("node."))
        try subscriber.connect(try publisher.lastEndpoint())
        try subscriber.setReceiveTimeout(milliseconds: 20)

        // A subscription takes a moment to reach the publisher (the slow joiner): publish until
        // the subscriber hears, within a deadline.
        let deadline = ContinuousClock.now + .seconds(5)
        var heard: [[UInt8]]?
        while heard == nil, ContinuousClock.now < deadline {
            try publisher.send([bytes("other.x"), bytes("ignored")])
            try publisher.send([bytes("node.up"), bytes("a@h")])
            heard = try subscriber.receiveMessage()
        }
        #expect(heard == [bytes("node.up"), bytes("a@h")])
        // Anything else queued is subscribed traffic too, never the other prefix.
        while let more = try subscriber.receiveMessage(dontWait: true) {
            #expect(more.first == bytes("node.up"))
        }
    }

    @Test func pollTimesOutWhenNothingArrivesAndReportsReadySockets() throws {
        let pull = try context.socket(.pull)
        try pull.bind("inproc://poll-test")
        let push = try context.socket(.push)
        try push.connect("inproc://poll-test")

        let poller = Poller()
        let index = try poller.add(pull)
        #expect(try poller.poll(timeoutMilliseconds: 10) == 0)
        #expect(!poller.ready(index).contains(.readable))

        try push.send(bytes("work"))
        #expect(try poller.poll(timeoutMilliseconds: 5_000) == 1)
        #expect(poller.ready(index).contains(.readable))
        #expect(try pull.receive(dontWait: true) == bytes("work"))
    }

    @Test func aDescriptorPollerTimesOutReportsWhatIsReadableAndForgetsOnRemoveAll() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { ends.forEach { close($0) } }
        let poller = try DescriptorPoller()
        try poller.add(ends[0])
        var readable: [Int32] = [99]
        try poller.wait(timeoutMilliseconds: 10)
        poller.readableDescriptors(into: &readable)
        #expect(readable.isEmpty)

        var one: UInt8 = 1
        #expect(write(ends[1], &one, 1) == 1)
        try poller.wait(timeoutMilliseconds: 5_000)
        poller.readableDescriptors(into: &readable)
        #expect(readable == [ends[0]])
        // Level-triggered: still readable until read.
        try poller.wait(timeoutMilliseconds: 0)
        poller.readableDescriptors(into: &readable)
        #expect(readable == [ends[0]])

        try poller.removeAll()
        try poller.wait(timeoutMilliseconds: 10)
        poller.readableDescriptors(into: &readable)
        #expect(readable.isEmpty)
    }

    /// A socket's descriptor signals news for it (edge-like): waited on, it wakes the wait
    /// when a message arrives, and the socket then has it.
    @Test func aDescriptorPollerWakesForASocketsMail() throws {
        let pull = try context.socket(.pull)
        try pull.bind("inproc://descriptor-poll-test")
        let push = try context.socket(.push)
        try push.connect("inproc://descriptor-poll-test")
        let poller = try DescriptorPoller()
        let descriptor = try pull.fileDescriptor()
        try poller.add(descriptor)
        #expect(!(try pull.events()).contains(.readable))  // takes in the signals so far

        try push.send(bytes("work"))
        var readable: [Int32] = []
        let deadline = ContinuousClock.now + .seconds(5)
        while readable.isEmpty, ContinuousClock.now < deadline {
            try poller.wait(timeoutMilliseconds: 100)
            poller.readableDescriptors(into: &readable)
        }
        #expect(readable == [descriptor])
        #expect(try pull.events().contains(.readable))
        #expect(try pull.receive(dontWait: true) == bytes("work"))
    }

    @Test func nonBlockingReceiveOnAnEmptySocketGivesNil() throws {
        let pair = try context.socket(.pair)
        try pair.bind("inproc://empty")
        #expect(try pair.receive(dontWait: true) == nil)
    }

    @Test func monitorReportsConnectAndDisconnect() throws {
        let router = try context.socket(.router)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()
        try router.monitor(on: "inproc://router-monitor")
        let events = try context.socket(.pair)
        try events.connect("inproc://router-monitor")

        let dealer = try context.socket(.dealer)
        try dealer.connect(endpoint)
        #expect(try waitFor(.accepted, on: events))
        #expect(try waitFor(.handshakeSucceeded, on: events))

        dealer.close()
        #expect(try waitFor(.disconnected, on: events))
    }

    private func waitFor(_ kind: MonitorEvent.Kind, on events: Socket) throws -> Bool {
        while let frames = try receiveMessage(events) {
            if MonitorEvent(frames: frames)?.kind == kind { return true }
        }
        return false
    }

    @Test func monitorEventFramesDecode() {
        // ZMQ_EVENT_CONNECTED (1), value 7, little endian, then the endpoint.
        let event = MonitorEvent(frames: [[1, 0, 7, 0, 0, 0], bytes("tcp://1.2.3.4:5")])
        #expect(event?.kind == .connected)
        #expect(event?.value == 7)
        #expect(event?.endpoint == "tcp://1.2.3.4:5")
        #expect(MonitorEvent(frames: [[1, 2, 3]]) == nil)
    }

    /// What a monitor reader gets: the waiting events in order, frames that are none skipped,
    /// and nil once nothing waits.
    @Test func theNextMonitorEventSkipsWhatIsNoEvent() throws {
        let context = try Context()
        let writer = try context.socket(.pair), reader = try context.socket(.pair)
        defer { writer.close(); reader.close() }
        try reader.bind("inproc://next-monitor-event")
        try writer.connect("inproc://next-monitor-event")
        try writer.send([[1, 2, 3]])
        try writer.send([[0x20, 0, 9, 0, 0, 0], bytes("tcp://1.2.3.4:5")])  // ZMQ_EVENT_ACCEPTED, descriptor 9
        let accepted = reader.nextMonitorEvent()
        #expect(accepted?.kind == .accepted && accepted?.descriptor == 9)
        #expect(reader.nextMonitorEvent() == nil)
    }

    @Test func curvePairWorksWithTheRightServerKey() throws {
        let server = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        #expect(server.publicKey.count == 40 && server.secretKey.count == 40)
        #expect(server != client)

        #expect(try curveRoundTrip(server: server, client: client) == bytes("secret"))
    }

    /// Sends "secret" from a CURVE client with `client`'s keys to a server with `server`'s;
    /// what the server received.
    private func curveRoundTrip(server: CurveKeyPair, client: CurveKeyPair) throws -> [UInt8]? {
        let router = try context.socket(.router)
        try router.makeCurveServer(secretKey: server.secretKey)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try context.socket(.dealer)
        try dealer.makeCurveClient(serverKey: server.publicKey, keyPair: client)
        try dealer.connect(try router.lastEndpoint())
        try dealer.send([bytes("secret")])
        return try receiveMessage(router)?.last
    }

    @Test func curveClientWithAWrongServerKeyIsNotHeard() throws {
        let server = try CurveKeyPair.generate()
        let impostor = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()

        let router = try context.socket(.router)
        try router.makeCurveServer(secretKey: server.secretKey)
        try router.bind("tcp://127.0.0.1:*")
        try router.monitor(on: "inproc://curve-monitor")
        let events = try context.socket(.pair)
        try events.connect("inproc://curve-monitor")

        let dealer = try context.socket(.dealer)
        try dealer.makeCurveClient(serverKey: impostor.publicKey, keyPair: client)
        try dealer.connect(try router.lastEndpoint())
        try dealer.send([bytes("secret")], dontWait: true)  // the failed handshake leaves it nowhere to send

        // The server sees the handshake fail, and the message never arrives.
        var failed = false
        while !failed, let frames = try receiveMessage(events) {
            switch MonitorEvent(frames: frames)?.kind {
            case .handshakeFailedProtocol?, .handshakeFailedNoDetail?, .handshakeFailedAuth?: failed = true
            default: continue
            }
        }
        #expect(failed)
        #expect(try receiveMessage(router, within: 200) == nil)
    }

    /// A message says which address and connection it came from, and the monitor names the
    /// same connection when it closes (the cluster forgets half-done handshakes so).
    @Test func aMessageSaysWhereItCameFromAndItsConnectionsEndIsSeen() throws {
        let router = try context.socket(.router)
        try router.monitor(on: "inproc://origin-monitor", events: [.disconnected])
        let events = try context.socket(.pair)
        try events.connect("inproc://origin-monitor")
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try context.socket(.dealer)
        try dealer.connect(try router.lastEndpoint())
        try dealer.send([bytes("hi")])
        try router.setReceiveTimeout(milliseconds: 5_000)
        let received = try #require(try router.receiveMessageWithOrigin())
        #expect(received.frames.last == bytes("hi"))
        #expect(received.peerAddress == "127.0.0.1")
        #expect(received.descriptor >= 0)
        dealer.close()
        let closed = try #require(try receiveMessage(events).flatMap(MonitorEvent.init(frames:)))
        #expect(closed.kind == .disconnected)  // only the events asked for
        #expect(Int32(bitPattern: closed.value) == received.descriptor)
    }

    @Test func aKeyPairFromASecretIsStableAndWorks() throws {
        let secret = [UInt8](repeating: 42, count: 32)
        let keys = try CurveKeyPair(secret: secret)
        #expect(try CurveKeyPair(secret: secret) == keys)
        #expect(keys.publicKeyBytes.count == 32)
        #expect(throws: ZMQError.self) { try CurveKeyPair(secret: [1, 2, 3]) }
        #expect(try curveRoundTrip(server: keys, client: keys) == bytes("secret"))
    }

    @Test func badEndpointsGiveTypedErrors() throws {
        let socket = try context.socket(.dealer)
        let error = #expect(throws: ZMQError.self) { try socket.connect("nonsense://where") }
        #expect(error?.operation == "connect nonsense://where")
        #expect(error?.message.isEmpty == false)
        #expect(throws: ZMQError.self) { try socket.bind("tcp://127.0.0.1:notaport") }
    }

    @Test func aClosedSocketRefusesUse() throws {
        let socket = try context.socket(.pair)
        socket.close()
        socket.close()
        #expect(socket.isClosed)
        #expect(throws: ZMQError.self) { try socket.send(bytes("x")) }
        #expect(throws: ZMQError.self) { try socket.receive(dontWait: true) }
    }

    @Test func closingWithUnsentMessagesDoesNotHang() throws {
        // Nothing listens on this port: everything stays queued. Linger 0 drops it on close, so
        // closing the socket and terminating the context return at once.
        let ownContext = try Context()
        let dealer = try ownContext.socket(.dealer)
        try dealer.connect("tcp://127.0.0.1:1")
        for _ in 0..<100 { _ = try dealer.send([bytes("queued")], dontWait: true) }
        dealer.close()
        ownContext.shutdown()
    }

    @Test func highWaterMarkMakesNonBlockingSendsReportFullQueues() throws {
        let dealer = try context.socket(.dealer)
        try dealer.setSendHighWaterMark(2)
        try dealer.setImmediate(false)
        try dealer.connect("tcp://127.0.0.1:1")
        var accepted = 0
        for _ in 0..<100 where try dealer.send([bytes("x")], dontWait: true) { accepted += 1 }
        #expect(accepted > 0 && accepted < 100)
    }

    @Test func optionsAreAcceptedByLibzmq() throws {
        let socket = try context.socket(.router)
        try socket.setRouterHandover(true)
        try socket.setReceiveHighWaterMark(1_000)
        try socket.setSendTimeout(milliseconds: 100)
        try socket.setReconnectInterval(milliseconds: 50)
        try socket.setReconnectIntervalMax(milliseconds: 1_000)
        try socket.setHandshakeInterval(milliseconds: 2_000)
        try socket.setHeartbeat(intervalMilliseconds: 100, timeoutMilliseconds: 300, ttlMilliseconds: 500)
        try socket.setMaxMessageSize(1 << 20)
        #expect(!(try socket.events().contains(.readable)))
        #expect(libzmqVersion().major == 4)
    }
}

struct ContextTests {
    /// A context terminated by hand returns once a closed socket's last message has left, and
    /// may then be released (its deinit must not terminate it again).
    @Test func terminatingLetsTheLastMessagesLeaveAndHappensOnce() throws {
        let receiving = try Context()
        let router = try receiving.socket(.router)
        try router.bind("tcp://127.0.0.1:*")
        do {
            let sending = try Context()
            let dealer = try sending.socket(.dealer)
            try dealer.setRoutingID(bytes("leaving"))
            try dealer.connect(try router.lastEndpoint())
            try dealer.send([bytes("goodbye")])
            try dealer.setLinger(milliseconds: 1_000)
            dealer.close()
            sending.terminate()
            sending.terminate()
        }
        #expect(try receiveMessage(router) == [bytes("leaving"), bytes("goodbye")])
    }
}
