import Processes
import ZeroMQ

/// Peers coming and going, and what their packets mean.
extension TransportLoop {
    func peerUp(_ info: PeerInfo, link: Peer.Link, waiters: [@Sendable (ConnectFailure?) -> Void], queued: [[UInt8]]) {
        if peers[info.node] != nil {
            logger.info("node \(info.node) connected again (incarnation \(info.incarnation)); dropping the old connection")
            peerDown(info.node, reason: .connectionClosed, reconnect: false)
        }
        let hidden = info.hidden || identity.hidden
        peers[info.node] = Peer(info: info, link: link, hidden: hidden, sharedNames: [runtime.node, info.node.description])
        switch link {
        case .router(let id): routerIDs[id] = info.node
        case .dealer(let dealer, let monitor): dealerLinks.append(DealerLink(name: info.node, dealer: dealer, monitor: monitor))
        }
        do { try subscriber.connect(info.publishEndpoint) } catch { logger.warning("cannot hear \(info.node)'s heartbeats: \(error)") }
        detector.watch(info.node, now: now, tickTime: info.tickTime)
        // A peer with a shorter tick time than any before needs a heartbeat sooner.
        nextHeartbeat = min(nextHeartbeat, now + detector.heartbeatInterval)
        lost.removeValue(forKey: info.node)
        mesh.connected(info.node)
        pollerDirty = true
        let subscribers = node.shared.withLock { shared -> [Pid] in
            shared.incarnations[info.node] = info.incarnation
            if hidden {
                shared.hidden.insert(info.node)
            } else {
                shared.visible.insert(info.node)
                // Counted under the lock, so that a reader that sees the count sees the connection.
                shared.visibleConnections[info.node] = node.visibleConnectionsMadeCount.wrappingAdd(1, ordering: .releasing).newValue
            }
            return shared.subscribers.filter { !hidden || $0.value }.map(\.key)
        }
        logger.info("node \(info.node) up\(hidden ? " (hidden)" : "")")
        for subscriber in subscribers { runtime.send(NodeEvent.up(info.node, hidden: hidden), to: subscriber) }
        if !hidden { enqueue(memberList(for: info.node), for: info.node) }
        for packet in queued { enqueue(packet, for: info.node) }
        flush(info.node)
        for waiter in waiters { waiter(nil) }
    }

    /// Forgets a peer: closes its sockets, tells subscribers and node monitors, and fires the
    /// links and monitors that crossed to it with `noconnection`. The peer's connection to this
    /// node is remembered as dropped (`closedConnections`), unless `farewell` says the peer
    /// left: after its goodbye on the link nothing more comes, and each connection remembered
    /// pushes an older one out (a node whose `todo` clients came and went, each with a
    /// goodbye, pushed out a cut-off peer's before the cut healed, whose frames were then
    /// warned of as a stranger's); after its farewell on the heartbeat stream only the
    /// goodbye on the link may still come, and it needs no answer.
    func peerDown(_ name: NodeName, reason: NodeDownReason, reconnect: Bool, farewell: Farewell? = nil) {
        guard let peer = peers.removeValue(forKey: name) else { return }
        switch peer.link {
        case .dealer(let dealer, let monitor):
            dealerLinks.removeAll { $0.name == name }
            if reason == .shutdown || reason == .disconnect { try? dealer.setLinger(milliseconds: 200) }
            closeDealer(dealer, monitor: monitor)
        case .router(let id):
            routerIDs.removeValue(forKey: id)
            switch farewell {
            case nil: if reason != .shutdown { rememberClosedConnection(id, of: name, told: false) }
            case .onTheHeartbeatStream: rememberClosedConnection(id, of: name, told: true)
            case .onTheLink: break
            }
        }
        try? subscriber.disconnect(peer.info.publishEndpoint)
        detector.forget(name)
        pollerDirty = true
        let (subscribers, watchers, broken) = node.shared.withLock { shared in
            shared.visible.remove(name)
            shared.visibleConnections.removeValue(forKey: name)
            shared.incarnations.removeValue(forKey: name)
            shared.hidden.remove(name)
            return (shared.subscribers.filter { !peer.hidden || $0.value }.map(\.key),
                    shared.nodeMonitors.removeValue(forKey: name) ?? [],
                    shared.book.lose(name))
        }
        logger.info("node \(name) down: \(reason)")
        for subscriber in subscribers {
            runtime.send(NodeEvent.down(name, reason: reason, hidden: peer.hidden), to: subscriber)
        }
        node.fire(nodeDown: name, watchers: watchers, broken: broken)
        if reconnect && !peer.hidden {
            let first = settings.reconnectBackoff.lowerBound
            lost[name] = Lost(backoff: first, nextAttempt: now + first)
        }
    }

    /// A connection dialled to this node is dropped on this side only: ZeroMQ's ROUTER cannot
    /// close one connection, and the peer hears nothing unless a goodbye could be queued. A
    /// visible peer is dialled again, and drops its side when the new connection arrives
    /// (`peerUp`); a hidden one never is. So when the peer speaks on the old connection, it is
    /// told goodbye, rather than sending into a connection nobody reads while this node's
    /// heartbeats tell it all is well.
    private func rememberClosedConnection(_ id: [UInt8], of name: NodeName, told: Bool) {
        if closedConnections.count >= Self.maxClosedConnections { closedConnections.removeFirst() }
        closedConnections.append((id, name, told: told))
    }

    /// How a peer that left said so.
    enum Farewell {
        /// A goodbye packet on the link: the last packet of that connection.
        case onTheLink
        /// A farewell on the heartbeat stream, which may come before the link's goodbye.
        case onTheHeartbeatStream
    }

    /// Answers a frame from a connection this node dropped (`closedConnections`) with a
    /// goodbye, once ZeroMQ takes one. True when `id` was one, whose frame is then ignored.
    /// The connection stays remembered after the goodbye (routing ids are random and never
    /// reused): the frames the peer sent before it read the goodbye come after it, and
    /// were warned of as a stranger's.
    func answerClosedConnection(_ id: [UInt8]) -> Bool {
        guard let index = closedConnections.firstIndex(where: { $0.id == id }) else { return false }
        closedConnectionFrames += 1
        if closedConnections[index].told { return true }
        if !cut.isEmpty, cut.contains(closedConnections[index].name) { return true }  // a cut network carries no answer
        let name = closedConnections[index].name
        if reply(id, .goodbye(.disconnect)) {
            logger.info("told \(name) that its old connection was dropped")
            closedConnections[index].told = true
            // It lives (a node frozen past the tick time goes on; a cut heals): dialled now,
            // not at the back-off's next attempt. A node stopped for about 17 s met its peer
            // again 4.0 to 4.6 s after it went on, each serving the same lists meanwhile.
            if lost[name] != nil { lost[name] = Lost(backoff: settings.reconnectBackoff.lowerBound, nextAttempt: now) }
        }
        return true
    }

    /// One packet from an established peer.
    func deliver(_ packet: Packet, from name: NodeName) {
        switch packet {
        case .message(let pid, let payload):
            var reader = WireReader(payload)
            reader.sharedStrings = peers[name]?.sharedNames ?? []
            deliverMessage(to: pid, reading: &reader, from: name)
        case .namedMessage(let registered, let payload):
            var reader = WireReader(payload)
            reader.sharedStrings = peers[name]?.sharedNames ?? []
            guard let message = decode(&reader, from: name) else { return }
            runtime.send(message, toName: registered)
        case .link(let remote, let local):
            if runtime.acceptRemoteLink(from: remote, to: local) {
                node.shared.withLock { $0.book.addLink(.init(local: local, remote: remote), peer: name) }
            } else {
                send(.exit(from: local, to: remote, reason: .noproc, viaLink: true), to: name)
            }
        case .unlink(let remote, let local):
            runtime.dropRemoteLink(from: remote, to: local)
            node.shared.withLock { $0.book.removeLink(.init(local: local, remote: remote), peer: name) }
        case .exit(let remote, let local, let reason, let viaLink):
            if viaLink { node.shared.withLock { $0.book.removeLink(.init(local: local, remote: remote), peer: name) } }
            runtime.deliverExitSignal(to: local, from: remote, reason: reason, viaLink: viaLink)
        case .monitor(let ref, let watcher, let target):
            if runtime.acceptRemoteMonitor(ref, watcher: watcher, target: target) {
                node.shared.withLock { $0.book.addMonitorByRemote(ref, target: target, peer: name) }
            } else if let bytes = try? Packet.message(Down(ref: ref, pid: target, reason: .noproc), to: watcher, registry: node.registry) {
                enqueue(bytes, for: name)
            }
        case .demonitor(let ref, let target):
            runtime.dropRemoteMonitor(ref, target: target)
            node.shared.withLock { $0.book.removeMonitorByRemote(ref, peer: name) }
        case .peers(let names):
            memberListsHeard += 1
            joinMembers(names, via: name)
        case .goodbye(let reason):
            logger.info("node \(name) said goodbye (\(reason))")
            peerDown(name, reason: .connectionClosed, reconnect: false, farewell: .onTheLink)
            if reason == .disconnect { mesh.part(name) }  // on purpose: not to be joined again by peers
        case .part(let last, let bytes):
            assemble(bytes, last: last, from: name)
        case .hello, .challenge, .proof, .welcome, .refused:
            logger.warning("dropped a handshake packet from \(name), which is already connected")
        }
    }

    private func send(_ packet: Packet, to name: NodeName) {
        enqueue(Batch.encode(packet), for: name)
    }

    /// A piece of a big packet: kept until its last piece comes, then delivered whole. A
    /// peer that sends more than the largest packet in pieces is disconnected, as one that
    /// stops reading is: what it sent cannot be delivered, and a stream must have no hole.
    private func assemble(_ piece: [UInt8], last: Bool, from name: NodeName) {
        guard let index = peers.index(forKey: name) else { return }
        switch peers.values[index].assembly.add(piece, last: last) {
        case .waiting:
            return
        case .tooLarge:
            logger.warning("""
                \(name) sent more than the \(Packet.maxBytes >> 20) MiB a cluster message may be; disconnecting \
                (links and monitors across the connection fire with noconnection)
                """)
            peerDown(name, reason: .disconnect, reconnect: true)
        case .complete(let bytes):
            var reader = WireReader(bytes)
            do throws(WireError) {
                let packet = try Packet(from: &reader)
                // Pieces of pieces would only nest the same bounded work: not sent, not read.
                if case .part = packet { throw .malformed("a part inside a part") }
                deliver(packet, from: name)
            } catch {
                logger.warning("dropped a bad packet from \(name): \(error)")
            }
        }
    }

    /// A message for a local pid, its payload read from `reader`. A `Down` from the node we
    /// monitored through ends that monitor's record, and is dropped when there is none: as
    /// Erlang promises, once `demonitor` returns no `Down` of that monitor arrives, not even
    /// one the peer sent before the demonitor reached it.
    func deliverMessage(to pid: Pid, reading reader: inout WireReader, from name: NodeName) {
        guard runtime.isLocal(pid) else { return }  // an earlier incarnation's pid: dead
        guard let message = decode(&reader, from: name) else { return }
        if type(of: message) == Down.self, let down = message as? Down,
           !node.shared.withLock({ $0.book.removeMonitorOfRemote(down.ref, peer: name) }) {
            return
        }
        runtime.send(message, to: pid)
    }

    private func decode(_ reader: inout WireReader, from name: NodeName) -> (any Sendable)? {
        do {
            return try node.registry.decode(from: &reader)
        } catch {
            logger.warning("dropped a message from \(name): \(error)")
            return nil
        }
    }
}

extension Packet {
    /// The bytes of a `.message` packet, encoding the message straight into them; throws
    /// `MessageTooLarge` past `Packet.maxBytes`.
    static func message(_ message: any Sendable, to pid: Pid, registry: WireRegistry) throws -> [UInt8] {
        // Room for a pid (up to about 40 bytes), a type name and a small message, so that a
        // small message is written without growing the buffer.
        var writer = WireWriter(capacity: Self.smallPacketBytes)
        writer.write(Packet.messageKind)
        pid.encode(to: &writer)
        try registry.encode(message, to: &writer)
        return try checkedSize(writer.bytes)
    }

    static func namedMessage(_ message: any Sendable, to name: String, registry: WireRegistry) throws -> [UInt8] {
        var writer = WireWriter(capacity: Self.smallPacketBytes)
        writer.write(Packet.namedMessageKind)
        writer.writeString(name)
        try registry.encode(message, to: &writer)
        return try checkedSize(writer.bytes)
    }

    static let smallPacketBytes = 160

    private static func checkedSize(_ bytes: [UInt8]) throws(MessageTooLarge) -> [UInt8] {
        guard bytes.count <= maxBytes else { throw MessageTooLarge(size: bytes.count) }
        return bytes
    }
}

/// A message bigger than the cluster carries (`Packet.maxBytes`): it is not sent.
public struct MessageTooLarge: Error, CustomStringConvertible {
    public let size: Int
    public var description: String {
        "the message is \(size) bytes, more than the \(Packet.maxBytes >> 20) MiB a cluster message may be; it was not sent"
    }
}
