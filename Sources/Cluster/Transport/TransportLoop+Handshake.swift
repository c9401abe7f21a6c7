import Foundation
import Processes

/// Dialling peers and accepting them: the handshake's I/O around its pure state machines.
extension TransportLoop {
    /// Starts a connection attempt (or joins one under way): a mapper lookup on a helper
    /// thread (it blocks), then a DEALER and the hello.
    func startDialling(_ name: NodeName, waiter: (@Sendable (ConnectFailure?) -> Void)?) {
        if peers[name] != nil {
            waiter?(nil)
            return
        }
        if dialling[name] != nil {
            if let waiter { dialling[name]?.waiters.append(waiter) }
            return
        }
        dialling[name] = Dialling(
            handshake: InitiatorHandshake(local: identity, connectingTo: name),
            waiters: waiter.map { [$0] } ?? [], deadline: now + settings.connectTimeout)
        let client = PortMapperClient(host: name.host, port: settings.mapperPort)
        // A node of this host is looked up over this node's registration (`MapperKeeper.lookup`).
        let keeper = name.host == identity.node.host ? node.keeper : nil
        let outbox = node.outbox
        Thread {
            let port: Result<Int, ConnectFailure>
            do {
                let found = try keeper.map { try $0.lookup(name.name) } ?? client.lookup(name.name)
                port = found.map { .success($0) }
                    ?? .failure(ConnectFailure("no node \(name.name) is registered on \(name.host)"))
            } catch {
                port = .failure(ConnectFailure("\(error)"))  // no mapper answers there, or it said nonsense
            }
            outbox.post(.lookedUp(name, port))
        }.start()
    }

    func lookedUp(_ name: NodeName, _ lookup: Result<Int, ConnectFailure>) {
        guard let attempt = dialling[name], attempt.dealer == nil, !attempt.parked else { return }
        let port: Int
        switch lookup {
        case .success(let found): port = found
        case .failure(let failure): return failDialling(name, reason: failure.reason)
        }
        if cut.contains(name) { return }  // cut: the attempt times out, as over a dead network
        do {
            let (dealer, monitor) = try makeDealer(to: "tcp://\(name.host):\(port)")
            dialling[name]?.dealer = dealer
            dialling[name]?.monitor = monitor
            guard let hello = dialling[name]?.handshake.hello(dialling: port) else { return }
            _ = try dealer.send(frame(hello), dontWait: true)
            pollerDirty = true
        } catch {
            failDialling(name, reason: "\(error)")
        }
    }

    /// A frame from a node this node is dialling: the handshake, then perhaps data after it.
    func receiveWhileDialling(_ name: NodeName, frame bytes: [UInt8]) {
        if cut.contains(name) { return }
        let (packets, error) = Batch.packets(in: bytes)
        if let error { logger.warning("bad handshake frame from \(name): \(error)") }
        for (index, packet) in packets.enumerated() {
            guard let step = dialling[name]?.handshake.receive(packet) else {
                // Established by an earlier packet of this frame: the rest is data.
                for later in packets[index...] where peers[name] != nil { deliver(later, from: name) }
                return
            }
            switch step {
            case .send(let reply):
                _ = try? dialling[name]?.dealer?.send(frame(reply), dontWait: true)
            case .established(let info, let memberList):
                guard let attempt = dialling.removeValue(forKey: name), let dealer = attempt.dealer, let monitor = attempt.monitor else { return }
                peerUp(info, link: .dealer(dealer, monitor: monitor), waiters: attempt.waiters, queued: attempt.queued)
                joinMembers(memberList, via: name)
            case .failed(let reason):
                logger.warning("connection to \(name) refused: \(reason)")
                failDialling(name, reason: reason)
            case .yield:
                closeDealer(dialling[name]?.dealer, monitor: dialling[name]?.monitor)
                dialling[name]?.dealer = nil
                dialling[name]?.monitor = nil
                dialling[name]?.parked = true
                pollerDirty = true
            }
        }
    }

    func failDialling(_ name: NodeName, reason: String) {
        guard let attempt = dialling.removeValue(forKey: name) else { return }
        logger.info("connection attempt to \(name) failed: \(reason)")
        closeDealer(attempt.dealer, monitor: attempt.monitor)
        pollerDirty = true
        if !attempt.queued.isEmpty { logger.info("dropped \(attempt.queued.count) messages for \(name): \(reason)") }
        for waiter in attempt.waiters { waiter(ConnectFailure(reason)) }
    }

    /// A frame on the ROUTER from a connection that has not shaken hands. Only one small
    /// handshake packet per frame is read; anything else is dropped unparsed, and what it
    /// costs the log is one line a minute.
    func receiveUnauthenticated(id: [UInt8], frame bytes: [UInt8], descriptor: Int32) {
        guard bytes.count <= Packet.maxHandshakeFrameBytes else {
            return warnAboutStrangers("dropped an oversized frame from a connection that has not shaken hands")
        }
        let (packets, error) = Batch.packets(in: bytes)
        guard error == nil, packets.count == 1, let packet = packets.first else {
            return warnAboutStrangers("dropped a malformed frame from a connection that has not shaken hands")
        }
        switch packet {
        case .hello(let hello):
            drainRouterMonitor()
            guard loginsOpen else { return holdHello(hello, id: id, descriptor: descriptor) }
            receiveHello(hello, id: id, descriptor: descriptor)
        case .proof:
            guard let attempt = accepting.removeValue(forKey: id) else {
                return warnAboutStrangers("dropped a proof from a connection with no handshake under way")
            }
            receiveProof(packet, of: attempt, id: id)
        default:
            warnAboutStrangers("dropped a packet from a connection that has not shaken hands")
        }
    }

    /// Keeps a hello until logins open, as many as connections may wait to log in.
    private func holdHello(_ hello: Packet.Hello, id: [UInt8], descriptor: Int32) {
        guard heldHellos[id] != nil || heldHellos.count < settings.maxHandshakes else {
            return warnAboutStrangers("dropped a hello: too many wait for this node to be ready")
        }
        heldHellos[id] = (hello, descriptor)
    }

    /// Lets peers log in: the hellos held meanwhile (of connections still open) are answered.
    func openLogins() {
        loginsOpen = true
        let held = heldHellos
        heldHellos = [:]
        drainRouterMonitor()
        for (id, waiting) in held { receiveHello(waiting.hello, id: id, descriptor: waiting.descriptor) }
    }

    private func receiveHello(_ hello: Packet.Hello, id: [UInt8], descriptor: Int32) {
        let name = try? NodeName(parsing: hello.node, defaultHost: "-")
        if let name, cut.contains(name) { return }
        if name == identity.node {
            reply(id, .refused("that node name is this node's own"))
            return
        }
        if let name, let attempt = dialling[name], attempt.dealer != nil || attempt.parked, identity.node < name {
            reply(id, .refused(InitiatorHandshake.simultaneous))
            return
        }
        let (acceptor, step) = AcceptorHandshake.start(hello, local: identity)
        switch step {
        case .send(let challenge):
            guard let acceptor else { return }
            accepting[id] = Accepting(handshake: acceptor, descriptor: descriptor, deadline: now + settings.acceptTimeout)
            reply(id, challenge)
        case .refused(let refusal, let log):
            warnAboutStrangers(log)
            reply(id, refusal)
        case .established: break
        }
    }

    private func receiveProof(_ packet: Packet, of attempt: Accepting, id: [UInt8]) {
        let members = identity.hidden ? [] : visibleNames()
        switch attempt.handshake.receive(packet, peers: members) {
        case .established(let info, let welcome):
            var waiters: [@Sendable (ConnectFailure?) -> Void] = []
            var queued: [[UInt8]] = []
            if let ours = dialling.removeValue(forKey: info.node) {  // the peer's connection won
                closeDealer(ours.dealer, monitor: ours.monitor)
                waiters = ours.waiters
                queued = ours.queued
            }
            reply(id, welcome)
            unloggedOnRouter.loggedIn(attempt.descriptor)
            peerUp(info, link: .router(id: id), waiters: waiters, queued: queued)
        case .refused(let refusal, let log):
            warnAboutStrangers(log)
            reply(id, refusal)
        case .send: break
        }
    }

    /// Logs a warning caused by a connection that has not logged in, at most once a minute
    /// (the rest are counted, and summed up a minute later).
    func warnAboutStrangers(_ what: String) {
        if strangerWarnings.note(what, now: now) { logger.warning("\(what)") }
    }

    /// Answers libzmq's questions about clients that finished the CURVE handshake: only a
    /// holder of the cluster's key gets in.
    func answerZAP() {
        while let request = try? zap.receiveMessage(dontWait: true) {
            let (answer, admitted) = ZAPHandler.answer(request, allowedKey: security.allowedKey)
            if !admitted { warnAboutStrangers("Connection attempt rejected: the peer's key is not this cluster's") }
            _ = try? zap.send(answer)
            touch(zap)
        }
    }

    /// Sends `packet` on the ROUTER connection `id` without blocking; false when ZeroMQ would
    /// not take it now. A connection that is gone counts as answered: nobody is left to tell.
    @discardableResult
    func reply(_ id: [UInt8], _ packet: Packet) -> Bool {
        defer { touch(router) }
        return (try? router.send([id, frame(packet)], dontWait: true)) ?? true
    }

    func frame(_ packet: Packet) -> [UInt8] {
        var frame: [UInt8] = []
        Batch.append(Batch.encode(packet), to: &frame)
        return frame
    }

    func visibleNames() -> [String] {
        peers.values.filter { !$0.hidden }.map { $0.info.node.description }.sorted()
    }

    /// The full mesh: dial every visible member a peer knows that this node does not, unless
    /// they parted on purpose (`MeshRepair`).
    func joinMembers(_ names: [String], via peer: NodeName) {
        guard !identity.hidden, peers[peer]?.hidden == false else { return }
        for text in names {
            guard let name = try? NodeName(parsing: text, defaultHost: "-"), name != identity.node,
                  peers[name] == nil, dialling[name] == nil, mesh.mayDial(name)
            else { continue }
            startDialling(name, waiter: nil)
        }
    }

    /// Tells every visible peer this node's other visible members again (`MeshRepair`).
    func announceMembers() {
        guard !identity.hidden else { return }
        let members = visibleNames()
        guard members.count > 1 else { return }  // a lone peer has nobody to hear of
        // Over a list of the names: sending changes the peers, which would copy the whole
        // dictionary held by an iteration over it.
        for name in peers.compactMap({ $0.value.hidden ? nil : $0.key }) {
            sendNow(memberList(for: name, of: members), to: name)
        }
    }

    /// The packet that tells `peer` this node's visible members (`members`, `visibleNames()`
    /// unless given) but itself: at its coming, and at each announcement.
    func memberList(for peer: NodeName, of members: [String]? = nil) -> [UInt8] {
        Batch.encode(.peers((members ?? visibleNames()).filter { $0 != peer.description }))
    }
}
