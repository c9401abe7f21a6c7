import Logging
import Processes

/// The process behind global names on each node (Erlang's `global_name_server`). It keeps
/// this node's `GlobalTable`, answers as leader when it is the lowest visible node, applies
/// the leader's updates, exchanges whole tables with every peer that comes up, watches the
/// local owners, and settles clashes (killing a local loser).
struct GlobalNameServer {
    static let name = "global_name_server"

    let node: ClusterNode
    var table = GlobalTable()
    var watched: [Ref: (name: String, pid: Pid)] = [:]
    var synced: Set<NodeName> = []
    var waiting: [GlobalSyncQuery] = []
    var locks = GlobalLocks()
    /// Monitors of lock holders and waiters, so their death releases what they hold.
    var lockWatch: [Pid: Ref] = [:]

    static func start(on node: ClusterNode) {
        let pid = node.runtime.spawn { context in
            var server = GlobalNameServer(node: node)
            node.monitorNodes(context.pid)
            while true { server.handle(try await context.receiveAny(), context: context) }
        }
        try? node.runtime.register(name, pid)
    }

    mutating func handle(_ message: any Sendable, context: ProcessContext) {
        switch message {
        case let request as GlobalRequest:
            var owner: Pid?
            if request.register {
                owner = table.register(request.name, request.pid)
            } else {
                table.forget(request.name, request.pid)
            }
            if owner == nil {
                broadcast(GlobalUpdate(name: request.name, pid: request.pid, registered: request.register), context: context)
                if request.register { watchIfLocal(request.name, request.pid, context: context) }
            }
            context.send(GlobalReply(tag: request.tag, owner: owner), to: request.replyTo)
        case let update as GlobalUpdate:
            if update.registered {
                if let clash = table.learn(update.name, update.pid) { settle(clash, context: context) }
                watchIfLocal(update.name, update.pid, context: context)
            } else {
                table.forget(update.name, update.pid)
            }
        case let sync as GlobalSync:
            for clash in table.merge(sync.names) { settle(clash, context: context) }
            for (name, pid) in sync.names where table.whereis(name) == pid { watchIfLocal(name, pid, context: context) }
            if let from = try? NodeName(parsing: sync.from, defaultHost: "-") { synced.insert(from) }
        case let request as GlobalLockRequest:
            if request.lock {
                watchLocker(request.requester, context: context)
                if locks.lock(request) { context.send(GlobalLockGranted(tag: request.tag), to: request.replyTo) }
            } else {
                if let next = locks.unlock(request.resource, by: request.requester) {
                    context.send(GlobalLockGranted(tag: next.tag), to: next.replyTo)
                }
                context.send(GlobalLockGranted(tag: request.tag), to: request.replyTo)
            }
        case let down as Down where lockWatch[down.pid] == down.ref:
            lockWatch.removeValue(forKey: down.pid)
            for next in locks.release(down.pid) { context.send(GlobalLockGranted(tag: next.tag), to: next.replyTo) }
        case let down as Down:
            guard let owner = watched.removeValue(forKey: down.ref) else { return }
            if table.whereis(owner.name) == owner.pid {
                table.forget(owner.name, owner.pid)
                broadcast(GlobalUpdate(name: owner.name, pid: owner.pid, registered: false), context: context)
            }
        case let event as NodeEvent:
            switch event {
            case .up(let peer, hidden: false):
                context.runtime.send(GlobalSync(from: node.name.description, names: table.names), toName: Self.name, on: peer.description)
            case .down(let peer, _, hidden: false):
                synced.remove(peer)
                let gone = table.forgetNode(peer.description)
                if !gone.isEmpty { node.logger.info("global: names of \(peer) dropped: \(gone.joined(separator: ", "))") }
            default: break
            }
        case let query as GlobalSyncQuery:
            waiting.append(query)
        default:
            break
        }
        node.globalNames.withLock { $0 = table.names }
        answerSyncWaiters(context: context)
    }

    private mutating func watchLocker(_ pid: Pid, context: ProcessContext) {
        if lockWatch[pid] == nil { lockWatch[pid] = context.monitor(pid) }
    }

    private func broadcast(_ update: GlobalUpdate, context: ProcessContext) {
        for peer in node.nodes() { context.runtime.send(update, toName: Self.name, on: peer.description) }
    }

    private mutating func watchIfLocal(_ name: String, _ pid: Pid, context: ProcessContext) {
        guard context.runtime.isLocal(pid), !watched.values.contains(where: { $0.name == name && $0.pid == pid }) else { return }
        watched[context.monitor(pid)] = (name, pid)
    }

    /// The loser of a clash is killed by its own node; everyone logs the resolution.
    private mutating func settle(_ clash: GlobalTable.Clash, context: ProcessContext) {
        node.logger.notice("global: Name conflict terminating {\(clash.name), \(clash.lost)} (keeping \(clash.kept))")
        if context.runtime.isLocal(clash.lost) {
            context.exit(clash.lost, reason: .kill)
        }
    }

    private mutating func answerSyncWaiters(context: ProcessContext) {
        guard !waiting.isEmpty, Set(node.nodes()).isSubset(of: synced) else { return }
        for query in waiting { context.send(GlobalSynced(tag: query.tag), to: query.replyTo) }
        waiting.removeAll()
    }
}
