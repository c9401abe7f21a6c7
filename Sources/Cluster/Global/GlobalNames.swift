import Processes

/// What happens to the pid that loses a clash of global names after a partition heals.
public enum GlobalConflictResolution: Sendable {
    /// Killed by its node (Erlang's default, `random_exit_name`).
    case kill
    /// Sent `GlobalNameConflict` by its node and left to end itself, for owners with state
    /// to hand over to the winner (as a resolve function that messages the loser does).
    case notify
}

/// What a process registered with `.notify` gets when it lost a clash for `name` to `kept`;
/// the name is `kept`'s already.
public struct GlobalNameConflict: Sendable, Equatable {
    public let name: String
    public let kept: Pid
}

/// Why a global registration could not be decided.
public enum GlobalNameError: Error, Equatable, Sendable {
    case noLeader
}

/// Cluster-wide names (Erlang's `:global`): registration goes through the leader (the lowest
/// visible node name), which makes it atomic in the connected cluster; lookups read this
/// node's replica without a network round trip. Names leave when their process dies or its
/// node goes down; after a partition heals, clashes keep the pid on the lower node name.
public struct GlobalNames: NameRegistry {
    let node: ClusterNode
    var resolution = GlobalConflictResolution.kill

    /// These names, resolving clashes that this registry's owners lose as `resolution` says
    /// (Erlang's resolve function of `:global.register_name/3`).
    public func resolvingConflicts(_ resolution: GlobalConflictResolution) -> GlobalNames {
        var names = self
        names.resolution = resolution
        return names
    }

    /// Registers `name` for `pid`: nil when registered, else the current owner.
    public func register(_ name: String, _ pid: Pid) async throws -> Pid? {
        let notified = resolution == .notify && node.runtime.isLocal(pid)
        // Marked before the leader hears of it: a clash may be settled as soon as it has.
        if notified { node.globalNotified.withLock { _ = $0.insert(pid) } }
        for _ in 0..<5 {
            let leader = node.globalLeader
            if let answer = try await ask(leader, GlobalRequest(name: name, pid: pid, register: true, tag: node.runtime.makeRef(), replyTo: pid)) {
                if answer.owner != nil, notified { node.globalNotified.withLock { _ = $0.remove(pid) } }
                return answer.owner
            }
        }
        if notified { node.globalNotified.withLock { _ = $0.remove(pid) } }
        throw GlobalNameError.noLeader
    }

    /// The pid registered as `name`, from this node's replica.
    public func whereis(_ name: String) -> Pid? {
        node.globalTable.withLock { $0.whereis(name) }
    }

    /// The owner of `name` this node keeps over one on `loserNode`: a clash it settled against
    /// that node's owner, which that node may not have heard of (an overlapping partition
    /// keeps them apart). Nil when it overruled no owner of `name` there.
    public func kept(_ name: String, overOneOn loserNode: String) -> Pid? {
        node.globalTable.withLock { $0.overruled[name]?.node == loserNode ? $0.whereis(name) : nil }
    }

    public func unregister(_ name: String, _ pid: Pid) async {
        let leader = node.globalLeader
        _ = try? await ask(leader, GlobalRequest(name: name, pid: pid, register: false, tag: node.runtime.makeRef(), replyTo: pid))
    }

    /// Whether this node settled a clash for `name` keeping `kept`, and nobody has marked it
    /// handled since (`clashHandled`). After a heal the kept owner may lack what the loser did
    /// before its side heard of the clash, and this node may hold some of it: an owner with
    /// state can be handed this node's share first.
    public func settledClash(_ name: String, keeping kept: Pid) -> Bool {
        hasSettledClashes && node.globalClashesSettled.withLock { $0[name] == kept }
    }

    /// Whether any clash is noted (`settledClash`): one atomic load, for a caller to ask before
    /// it makes a name to ask about (mostly none is).
    public var hasSettledClashes: Bool { node.globalClashesPending.load(ordering: .acquiring) > 0 }

    /// Every clash noted (`settledClash`): each name with the owner kept.
    public func settledClashes() -> [String: Pid] {
        hasSettledClashes ? node.globalClashesSettled.withLock { $0 } : [:]
    }

    /// The clash `settledClash` told of needs nothing more from this node.
    public func clashHandled(_ name: String, kept: Pid) {
        node.changeSettledClashes { clashes in
            if clashes[name] == kept { clashes.removeValue(forKey: name) }
        }
    }

    /// Every registered name, from this node's replica.
    public func registered() -> [String: Pid] {
        node.globalTable.withLock { $0.names }
    }

    /// Sends to the process registered as `name`; dropped when there is none.
    public func send(_ message: any Sendable, toName name: String) {
        if let pid = whereis(name) { node.runtime.send(message, to: pid) }
    }

    /// Whether this node holds the table of every visible peer, over the connection that is
    /// up: right after a peer (re)connects its table is still on its way, and a name may point
    /// at a process that is about to lose it to the peer's (after a cut heals). Two atomic
    /// loads, for a check on every request.
    public var isSynced: Bool {
        node.globalSyncedThrough.load(ordering: .acquiring) == node.visibleConnectionsMade
    }

    /// Waits until this node holds the tables of all its current peers (`:global.sync()`);
    /// false when `timeout` passed first.
    @discardableResult
    public func sync(timeout: Duration = .seconds(5)) async throws -> Bool {
        try await node.runtime.withProcess { context in
            let tag = context.runtime.makeRef()
            context.runtime.send(GlobalSyncQuery(tag: tag, replyTo: context.pid), toName: GlobalNameServer.name)
            return try await context.receive(timeout: timeout) { ($0 as? GlobalSynced)?.tag == tag ? true : nil } ?? false
        }
    }

    // MARK: Locks

    /// Takes the lock on `resource` for `requester`, waiting while another holds it (Erlang's
    /// `:global.set_lock`); false when `timeout` passes first. Locks are granted by the leader,
    /// which tells every node who holds what, so they outlive it; they are released when the
    /// holder dies or its node goes down. Waiters queued at a leader that goes ask the next.
    public func setLock(_ resource: String, for requester: Pid, timeout: Duration = .seconds(3_600)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let leader = node.globalLeader
            let request = GlobalLockRequest(resource: resource, requester: requester, lock: true, tag: node.runtime.makeRef(), replyTo: requester)
            switch try await askLock(leader, request, until: deadline) {
            case .granted: return true
            case .leaderLost: continue
            case .timedOut:
                await delLock(resource, for: requester)  // in case the grant crossed the timeout
                return false
            }
        }
        return false
    }

    /// Releases one lock of `requester` on `resource` (Erlang's `:global.del_lock`).
    public func delLock(_ resource: String, for requester: Pid) async {
        let leader = node.globalLeader
        let request = GlobalLockRequest(resource: resource, requester: requester, lock: false, tag: node.runtime.makeRef(), replyTo: requester)
        _ = try? await askLock(leader, request, until: .now + .seconds(5))
    }

    /// Runs `body` holding the lock on `resource` (Erlang's `:global.trans`).
    public func trans<T>(_ resource: String, for requester: Pid, _ body: () async throws -> T) async throws -> T {
        guard try await setLock(resource, for: requester) else { throw GlobalNameError.noLeader }
        do {
            let result = try await body()
            await delLock(resource, for: requester)
            return result
        } catch {
            await delLock(resource, for: requester)
            throw error
        }
    }

    enum LockAnswer { case granted, leaderLost, timedOut }

    private func askLock(_ leader: NodeName, _ request: GlobalLockRequest, until deadline: ContinuousClock.Instant) async throws -> LockAnswer {
        try await node.runtime.withProcess { context in
            let request = GlobalLockRequest(resource: request.resource, requester: request.requester, lock: request.lock,
                                            tag: request.tag, replyTo: context.pid)
            let answer = try await node.ask(leader, server: GlobalNameServer.name, request, from: context,
                                            timeout: ContinuousClock.now.duration(to: deadline)) {
                ($0 as? GlobalLockGranted)?.tag == request.tag ? true : nil
            }
            switch answer {
            case .reply: return .granted
            case .nodedown: return .leaderLost
            case .timeout: return .timedOut
            }
        }
    }

    /// One request to the leader's server; nil when the leader went away first.
    private func ask(_ leader: NodeName, _ request: GlobalRequest) async throws -> GlobalReply? {
        try await node.runtime.withProcess { context in
            let request = GlobalRequest(name: request.name, pid: request.pid, register: request.register, tag: request.tag, replyTo: context.pid)
            let answer = try await node.ask(leader, server: GlobalNameServer.name, request, from: context, timeout: .seconds(5)) {
                ($0 as? GlobalReply).flatMap { $0.tag == request.tag ? $0 : nil }
            }
            if case .reply(let reply) = answer { return reply }
            return nil
        }
    }
}
