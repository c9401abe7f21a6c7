import Processes

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

    /// Registers `name` for `pid`: nil when registered, else the current owner.
    public func register(_ name: String, _ pid: Pid) async throws -> Pid? {
        for _ in 0..<5 {
            let leader = ([node.name] + node.nodes()).min() ?? node.name
            if let answer = try await ask(leader, GlobalRequest(name: name, pid: pid, register: true, tag: node.runtime.makeRef(), replyTo: pid)) {
                return answer.owner
            }
        }
        throw GlobalNameError.noLeader
    }

    /// The pid registered as `name`, from this node's replica.
    public func whereis(_ name: String) -> Pid? {
        node.globalNames.withLock { $0[name] }
    }

    public func unregister(_ name: String, _ pid: Pid) async {
        let leader = ([node.name] + node.nodes()).min() ?? node.name
        _ = try? await ask(leader, GlobalRequest(name: name, pid: pid, register: false, tag: node.runtime.makeRef(), replyTo: pid))
    }

    /// Every registered name, from this node's replica.
    public func registered() -> [String: Pid] {
        node.globalNames.withLock { $0 }
    }

    /// Sends to the process registered as `name`; dropped when there is none.
    public func send(_ message: any Sendable, toName name: String) {
        if let pid = whereis(name) { node.runtime.send(message, to: pid) }
    }

    /// Waits until this node holds the tables of all its current peers (`:global.sync()`).
    public func sync(timeout: Duration = .seconds(5)) async throws {
        try await node.runtime.withProcess { context in
            let tag = context.runtime.makeRef()
            context.runtime.send(GlobalSyncQuery(tag: tag, replyTo: context.pid), toName: GlobalNameServer.name)
            _ = try await context.receive(timeout: timeout) { ($0 as? GlobalSynced)?.tag == tag ? true : nil }
        }
    }

    /// One request to the leader's server; nil when the leader went away first.
    private func ask(_ leader: NodeName, _ request: GlobalRequest) async throws -> GlobalReply? {
        try await node.runtime.withProcess { context in
            let request = GlobalRequest(name: request.name, pid: request.pid, register: request.register, tag: request.tag, replyTo: context.pid)
            let remote = leader != node.name
            if remote { node.monitorNode(leader, for: context.pid) }
            defer { if remote { node.demonitorNode(leader, for: context.pid) } }
            context.runtime.send(request, toName: GlobalNameServer.name, on: leader.description)
            return try await context.receive(timeout: .seconds(5)) { message -> GlobalReply?? in
                if let reply = message as? GlobalReply, reply.tag == request.tag { return .some(reply) }
                if let down = message as? NodeDown, down.node == leader { return .some(nil) }
                return nil
            } ?? nil
        }
    }
}
