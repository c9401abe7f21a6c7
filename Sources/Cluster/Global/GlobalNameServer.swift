import Logging
import Processes

/// The process behind global names on each node (Erlang's `global_name_server`). It changes
/// this node's `GlobalTable`, answers as leader when it is the lowest visible node, applies
/// the leader's updates, exchanges whole tables with every peer that comes up, watches every
/// owner (as `:global` monitors every registered pid), and settles clashes (killing a local
/// loser). Watching remote owners too matters after a cut: a peer that had not heard yet that
/// an owner on a third node died hands its name on in its table, and no one would tell of
/// that death again.
struct GlobalNameServer {
    static let name = "global_name_server"

    let node: ClusterNode
    /// Every owner watched, by pid as a `Down` names it: one monitor each, and the names it
    /// was heard to own. One table, not a map by monitor and a set of (name, pid) pairs:
    /// 85 bytes less for each global name on every node.
    var watched: [Pid: WatchedOwner] = [:]

    struct WatchedOwner {
        let ref: Ref
        /// Most owners have one name; a second one is rare.
        let name: String
        var otherNames: [String] = []

        func owns(_ other: String) -> Bool { name == other || otherNames.contains(other) }
    }
    /// For each peer whose table came, the connection (`ClusterNode.connection(to:)`) it came
    /// over: a peer that reconnected since owes its table again.
    var syncedOver: [NodeName: UInt64] = [:]
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
                owner = changeTable { $0.register(request.name, request.pid) }
            } else {
                changeTable { $0.forget(request.name, request.pid) }
            }
            if owner == nil {
                broadcast(GlobalUpdate(name: request.name, pid: request.pid, registered: request.register), context: context)
                if request.register { watch(request.name, request.pid, context: context) }
            }
            context.send(GlobalReply(tag: request.tag, owner: owner), to: request.replyTo)
        case let update as GlobalUpdate:
            if update.registered {
                if let clash = changeTable({ $0.learn(update.name, update.pid, lives: node.incarnation(of:)) }) {
                    settle(clash, context: context)
                }
                watch(update.name, update.pid, context: context)
            } else {
                changeTable { $0.forget(update.name, update.pid) }
            }
        case let sync as GlobalSync:
            for clash in changeTable({ $0.merge(sync.names, lives: node.incarnation(of:)) }) { settle(clash, context: context) }
            // The owners overruled here are watched too: one that ends must not get its name back.
            let kept = changeTable { table in
                sync.names.filter { table.whereis($0.key) == $0.value || table.overruled[$0.key] == $0.value }
            }
            for (name, pid) in kept { watch(name, pid, context: context) }
            if !sync.more, let from = try? NodeName(parsing: sync.from, defaultHost: "-") { syncedOver[from] = node.connection(to: from) }
        case let request as GlobalLockRequest:
            let before = locks.holders
            var answered: [GlobalLockRequest] = []
            if request.lock {
                watchLocker(request.requester, context: context)
                if locks.lock(request) { answered.append(request) }
            } else {
                if let next = locks.unlock(request.resource, by: request.requester) { answered.append(next) }
                answered.append(request)
            }
            if locks.holders != before { broadcastLocks(context: context) }
            grant(answered, context: context)
        case let state as GlobalLockHolders:
            locks.adopt(state.holders)
            for holder in state.holders.values { watchLocker(holder.pid, context: context) }
        case let down as Down where lockWatch[down.pid] == down.ref:
            lockWatch.removeValue(forKey: down.pid)
            let before = locks.holders
            let granted = locks.release(down.pid)
            if locks.holders != before, node.globalLeader == node.name { broadcastLocks(context: context) }
            grant(granted, context: context)
        case let down as Down:
            guard let owner = watched[down.pid], owner.ref == down.ref else { return }
            watched.removeValue(forKey: down.pid)
            node.globalNotified.withLock { _ = $0.remove(down.pid) }
            let names = [owner.name] + owner.otherNames
            node.changeSettledClashes { clashes in
                for name in names where clashes[name] == down.pid { clashes.removeValue(forKey: name) }
            }
            for name in names {
                let owned = changeTable { table in
                    let owned = table.whereis(name) == down.pid
                    table.forget(name, down.pid)
                    return owned
                }
                // The owner's node tells everyone; every other node watches the owner as well.
                if owned, context.runtime.isLocal(down.pid) {
                    broadcast(GlobalUpdate(name: name, pid: down.pid, registered: false), context: context)
                }
            }
        case let event as NodeEvent:
            switch event {
            case .up(let peer, hidden: false):
                let names = changeTable { $0.names }
                for part in GlobalSync.parts(from: node.name.description, names: names, size: node.settings.namesPerSyncPart) {
                    context.runtime.send(part, toName: Self.name, on: peer.description)
                }
                // The leader until now hands the lock holders on (the newcomer may lead next).
                if ([node.name] + node.nodes().filter { $0 != peer }).min() == node.name, !locks.holders.isEmpty {
                    context.runtime.send(GlobalLockHolders(holders: locks.holders), toName: Self.name, on: peer.description)
                }
            case .down(let peer, _, hidden: false):
                syncedOver.removeValue(forKey: peer)
                let (gone, restored) = changeTable { table in
                    let gone = table.forgetNode(peer.description)
                    return (gone, gone.compactMap { name in table.whereis(name).map { "\(name) to \($0)" } })
                }
                node.changeSettledClashes { $0 = $0.filter { $0.value.node != peer.description } }
                if !gone.isEmpty { node.logger.info("global: names of \(peer) dropped: \(Self.listed(gone))") }
                if !restored.isEmpty {
                    node.logger.info("global: names back to the owners they overruled: \(Self.listed(restored))")
                }
            default: break
            }
        case let query as GlobalSyncQuery:
            waiting.append(query)
        default:
            break
        }
        answerSyncWaiters(context: context)
    }

    /// `items` for a log line: the first `shown`, then how many more. A node that served
    /// 20,000 lists took all their names in one line of 490 KB when it went down.
    static func listed(_ items: [String], shown: Int = 20) -> String {
        let head = items.prefix(shown).joined(separator: ", ")
        return items.count > shown ? "\(head) and \(items.count - shown) more" : head
    }

    /// The table lives in the node, under its lock, where lookups read it: one copy, changed
    /// in place (a replica copied after each change cost O(names) per registration).
    @discardableResult
    private func changeTable<T>(_ change: (inout GlobalTable) -> T) -> T {
        node.globalTable.withLock { change(&$0) }
    }

    /// Every node keeps the leader's holders, so locks outlive the leader.
    private func broadcastLocks(context: ProcessContext) {
        let state = GlobalLockHolders(holders: locks.holders)
        for peer in node.nodes() { context.runtime.send(state, toName: Self.name, on: peer.description) }
    }

    /// Answers `requests`, once the peers have been sent the holders that answer makes: a
    /// leader that leaves as soon as a holder hears of its grant (as a test, or a holder's own
    /// node, may make it) has handed the lock on by then. Granted first, the holders could be
    /// sent after the leaver's goodbye, and the next leader granted the lock again (the lock
    /// test failed so, once, in a clean-clone run).
    private func grant(_ requests: [GlobalLockRequest], context: ProcessContext) {
        for request in requests { context.send(GlobalLockGranted(tag: request.tag), to: request.replyTo) }
    }

    private mutating func watchLocker(_ pid: Pid, context: ProcessContext) {
        if lockWatch[pid] == nil { lockWatch[pid] = context.monitor(pid) }
    }

    private func broadcast(_ update: GlobalUpdate, context: ProcessContext) {
        for peer in node.nodes() { context.runtime.send(update, toName: Self.name, on: peer.description) }
    }

    private mutating func watch(_ name: String, _ pid: Pid, context: ProcessContext) {
        guard let owner = watched[pid] else {
            watched[pid] = WatchedOwner(ref: context.monitor(pid), name: name)
            return
        }
        if !owner.owns(name) { watched[pid]?.otherNames.append(name) }
    }

    /// The loser of a clash is killed by its own node; everyone logs the resolution.
    private mutating func settle(_ clash: GlobalTable.Clash, context: ProcessContext) {
        node.logger.notice("global: Name conflict terminating {\(clash.name), \(clash.lost)} (keeping \(clash.kept))")
        node.changeSettledClashes { $0[clash.name] = clash.kept }
        guard context.runtime.isLocal(clash.lost) else { return }
        if node.globalNotified.withLock({ $0.remove(clash.lost) }) != nil {
            context.send(GlobalNameConflict(name: clash.name, kept: clash.kept), to: clash.lost)
        } else {
            context.exit(clash.lost, reason: .kill)
        }
    }

    /// Once this node holds the table of every visible peer over its current connection, notes
    /// it (`GlobalNames.isSynced`) and answers those waiting for it. Nothing to do while no
    /// peer came (back) since the last time.
    private mutating func answerSyncWaiters(context: ProcessContext) {
        let connectionsMade = node.visibleConnectionsMade
        guard !waiting.isEmpty || node.globalSyncedThrough.load(ordering: .acquiring) != connectionsMade,
              node.nodes().allSatisfy({ peer in syncedOver[peer].map { $0 == node.connection(to: peer) } ?? false })
        else { return }
        node.globalSyncedThrough.store(connectionsMade, ordering: .releasing)
        for query in waiting { context.send(GlobalSynced(tag: query.tag), to: query.replyTo) }
        waiting.removeAll()
    }
}
