import Processes

/// The runtime hands signals for other nodes' pids here; they become packets for the
/// transport thread. Encoding happens on the sender's thread, so senders share the work.
extension ClusterNode: RemoteRouting {
    /// The node a pid lives on (no validation: a bad name just finds no peer).
    func peer(of pid: Pid) -> NodeName { NodeName(unchecked: pid.node) }

    /// Hands an encoded packet to the peer's connection from this thread when it can, else to
    /// the transport thread.
    func post(_ packet: [UInt8], to peer: NodeName) {
        if transport.loop?.sendDirect(packet, to: peer) == true { return }
        outbox.post(.send(peer, packet))
    }

    public func send(_ message: any Sendable, to pid: Pid) {
        let peer = peer(of: pid)
        // A metatype comparison first: a cast of every message to `Down` costs more.
        if type(of: message) == Down.self, let down = message as? Down {
            shared.withLock { $0.book.removeMonitorByRemote(down.ref, peer: peer) }
        }
        do {
            post(try Packet.message(message, to: pid, registry: registry), to: peer)
        } catch let error as MessageTooLarge {
            logger.error("cannot send a \(type(of: message)) to \(pid): \(error)")
        } catch {
            logger.warning("cannot send a \(type(of: message)) to \(pid): \(error) (register the type in the wire registry)")
        }
    }

    public func send(_ message: any Sendable, toName name: String, on node: String) {
        let peer = NodeName(unchecked: node)
        do {
            post(try Packet.namedMessage(message, to: name, registry: registry), to: peer)
        } catch {
            logger.warning("cannot send a \(type(of: message)) to \(name) on \(node): \(error)")
        }
    }

    public func link(_ local: Pid, to remote: Pid) {
        let peer = peer(of: remote)
        let connected = shared.withLock { shared in
            guard shared.isConnected(peer) else { return false }
            shared.book.addLink(.init(local: local, remote: remote), peer: peer)
            return true
        }
        if connected {
            post(Batch.encode(.link(from: local, to: remote)), to: peer)
        } else {
            runtime.linkBroken(local: local, remote: remote, reason: .noconnection)
        }
    }

    public func unlink(_ local: Pid, from remote: Pid) {
        let peer = peer(of: remote)
        shared.withLock { $0.book.removeLink(.init(local: local, remote: remote), peer: peer) }
        post(Batch.encode(.unlink(from: local, to: remote)), to: peer)
    }

    public func monitor(_ ref: Ref, watcher: Pid, target: Pid) {
        let peer = peer(of: target)
        let connected = shared.withLock { shared in
            guard shared.isConnected(peer) else { return false }
            shared.book.addMonitorOfRemote(ref, .init(watcher: watcher, target: target), peer: peer)
            return true
        }
        if connected {
            post(Batch.encode(.monitor(ref: ref, watcher: watcher, target: target)), to: peer)
        } else {
            runtime.send(Down(ref: ref, pid: target, reason: .noconnection), to: watcher)
        }
    }

    public func demonitor(_ ref: Ref, target: Pid) {
        let peer = peer(of: target)
        shared.withLock { $0.book.removeMonitorOfRemote(ref, peer: peer) }
        post(Batch.encode(.demonitor(ref: ref, target: target)), to: peer)
    }

    public func exitSignal(to remote: Pid, from local: Pid, reason: ExitReason, viaLink: Bool) {
        let peer = peer(of: remote)
        if viaLink { shared.withLock { $0.book.removeLink(.init(local: local, remote: remote), peer: peer) } }
        guard isConnected(peer) else { return }
        post(Batch.encode(.exit(from: local, to: remote, reason: reason, viaLink: viaLink)), to: peer)
    }
}
