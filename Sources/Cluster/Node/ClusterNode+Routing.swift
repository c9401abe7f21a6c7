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

    /// Leaves a packet to ride with the next one to the peer when it can (see
    /// `TransportLoop.sendLater`), else posts it.
    func postLater(_ packet: [UInt8], to peer: NodeName) {
        if transport.loop?.sendLater(packet, to: peer) == true { return }
        post(packet, to: peer)
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
            shared.book.addLink(.init(local: local, remote: remote), peer: peer)
            return shared.isConnected(peer)
        }
        if !connected { connectOrFire(peer) }
        post(Batch.encode(.link(from: local, to: remote)), to: peer)
    }

    public func unlink(_ local: Pid, from remote: Pid) {
        let peer = peer(of: remote)
        shared.withLock { $0.book.removeLink(.init(local: local, remote: remote), peer: peer) }
        post(Batch.encode(.unlink(from: local, to: remote)), to: peer)
    }

    public func monitor(_ ref: Ref, watcher: Pid, target: Pid) {
        post(recordMonitor(ref, watcher: watcher, target: target), to: peer(of: target))
    }

    /// A call's monitor rides in the frame of its request: one send, and one frame for the
    /// peer to read, instead of two.
    public func monitor(_ ref: Ref, watcher: Pid, target: Pid, thenSend message: any Sendable) {
        postLater(recordMonitor(ref, watcher: watcher, target: target), to: peer(of: target))
        send(message, to: target)
    }

    /// Records a monitor of a remote pid and gives its packet (see `connectOrFire` for a node
    /// that is not connected).
    private func recordMonitor(_ ref: Ref, watcher: Pid, target: Pid) -> [UInt8] {
        let peer = peer(of: target)
        let connected = shared.withLock { shared in
            shared.book.addMonitorOfRemote(ref, .init(watcher: watcher, target: target), peer: peer)
            return shared.isConnected(peer)
        }
        if !connected { connectOrFire(peer) }
        return Batch.encode(.monitor(ref: ref, watcher: watcher, target: target))
    }

    /// A link, monitor or node monitor towards a node that is not connected connects to it,
    /// as in Erlang, and fires with `noconnection` (or `NodeDown`) only if that fails: what was
    /// recorded meanwhile waits with the attempt, as its packets do, and goes with it.
    func connectOrFire(_ peer: NodeName) {
        guard peer != name else { return connectionFailed(peer) }  // never connected: its own pids are local
        outbox.post(.connect(peer) { [self] failure in
            if failure != nil { connectionFailed(peer) }
        })
    }

    /// Fires what was recorded for `peer` while a connection to it was being made, unless a
    /// connection came up after all (on the transport thread, as `peerDown`).
    func connectionFailed(_ peer: NodeName) {
        let lost = shared.withLock { shared -> (watchers: Set<Pid>, broken: RemoteBook.Lost)? in
            guard !shared.isConnected(peer) else { return nil }
            return (shared.nodeMonitors.removeValue(forKey: peer) ?? [], shared.book.lose(peer))
        }
        if let lost { fire(nodeDown: peer, watchers: lost.watchers, broken: lost.broken) }
    }

    /// Tells node monitors that `peer` is down and fires the links and monitors that crossed
    /// to it with `noconnection`.
    func fire(nodeDown peer: NodeName, watchers: Set<Pid>, broken: RemoteBook.Lost) {
        for watcher in watchers { runtime.send(NodeDown(node: peer), to: watcher) }
        for pair in broken.links { runtime.linkBroken(local: pair.local, remote: pair.remote, reason: .noconnection) }
        for (ref, watched) in broken.monitorsOfRemote {
            runtime.send(Down(ref: ref, pid: watched.target, reason: .noconnection), to: watched.watcher)
        }
        for (ref, target) in broken.monitorsByRemote { runtime.dropRemoteMonitor(ref, target: target) }
    }

    /// No `Down` can come of the monitor once its record is gone (the transport drops those),
    /// so the peer may hear of it late: it rides with the next packet there.
    public func demonitor(_ ref: Ref, target: Pid) {
        let peer = peer(of: target)
        _ = shared.withLock { $0.book.removeMonitorOfRemote(ref, peer: peer) }
        postLater(Batch.encode(.demonitor(ref: ref, target: target)), to: peer)
    }

    public func exitSignal(to remote: Pid, from local: Pid, reason: ExitReason, viaLink: Bool) {
        let peer = peer(of: remote)
        if viaLink { shared.withLock { $0.book.removeLink(.init(local: local, remote: remote), peer: peer) } }
        // A link's exit needs the link's connection: without it, the remote end has had its
        // `noconnection` already. An `exit/2` connects first, as a send does.
        guard !viaLink || isConnected(peer) else { return }
        post(Batch.encode(.exit(from: local, to: remote, reason: reason, viaLink: viaLink)), to: peer)
    }
}
