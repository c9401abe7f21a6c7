import Processes
import Synchronization

/// The memberships a node knows: its own (authoritative) and each peer's (as last told).
/// Pure, as the other protocol cores.
struct GroupTable: Sendable, Equatable {
    private(set) var byNode: [String: [String: [Pid]]] = [:]

    /// Adds `pids` of `node` to `group`; returns those that were not members yet.
    mutating func join(_ group: String, _ pids: [Pid], node: String) -> [Pid] {
        var members = byNode[node, default: [:]][group, default: []]
        let new = pids.filter { !members.contains($0) }
        members.append(contentsOf: new)
        byNode[node, default: [:]][group] = members
        return new
    }

    /// Removes `pids` of `node` from `group`; returns those that were members.
    mutating func leave(_ group: String, _ pids: [Pid], node: String) -> [Pid] {
        guard var members = byNode[node]?[group] else { return [] }
        let gone = members.filter { pids.contains($0) }
        members.removeAll { pids.contains($0) }
        byNode[node]?[group] = members.isEmpty ? nil : members
        return gone
    }

    /// Replaces everything known of `node`; returns what left and what joined, by group.
    mutating func replace(node: String, with groups: [String: [Pid]]) -> (left: [String: [Pid]], joined: [String: [Pid]]) {
        let old = byNode[node] ?? [:]
        byNode[node] = groups.isEmpty ? nil : groups
        var left: [String: [Pid]] = [:], joined: [String: [Pid]] = [:]
        for (group, pids) in old {
            let gone = pids.filter { !(groups[group] ?? []).contains($0) }
            if !gone.isEmpty { left[group] = gone }
        }
        for (group, pids) in groups {
            let new = pids.filter { !(old[group] ?? []).contains($0) }
            if !new.isEmpty { joined[group] = new }
        }
        return (left, joined)
    }

    /// Every member of every group, over all nodes.
    var merged: [String: [Pid]] {
        var all: [String: [Pid]] = [:]
        for node in byNode.keys.sorted() {
            for (group, pids) in byNode[node] ?? [:] { all[group, default: []].append(contentsOf: pids) }
        }
        return all
    }

    func local(_ node: String) -> [String: [Pid]] { byNode[node] ?? [:] }
}

/// Process groups (Erlang's `:pg`): any process can join named groups on its own node; every
/// node learns the members of all nodes, eventually. Members leave when they die or their
/// node goes down.
public struct ProcessGroups: Sendable {
    static let serverName = "pg"
    let node: ClusterNode

    /// Adds local `pids` to `group`. Pids of other nodes cannot join from here (as in `:pg`).
    public func join(_ group: String, _ pids: [Pid]) throws(GroupError) {
        guard pids.allSatisfy(node.runtime.isLocal) else { throw .notLocal }
        node.runtime.send(GroupRequest.join(group, pids), toName: Self.serverName)
    }

    public func leave(_ group: String, _ pids: [Pid]) {
        node.runtime.send(GroupRequest.leave(group, pids), toName: Self.serverName)
    }

    /// The members of `group` on every node, as this node knows them.
    public func members(_ group: String) -> [Pid] { node.groupMembers.withLock { $0.all[group] ?? [] } }

    /// The members of `group` on this node.
    public func localMembers(_ group: String) -> [Pid] { node.groupMembers.withLock { $0.local[group] ?? [] } }

    public func whichGroups() -> [String] { node.groupMembers.withLock { $0.all.keys.sorted() } }

    /// Sends `GroupEvent`s to `subscriber` for every join and leave of `group`.
    public func monitor(_ group: String, subscriber: Pid) {
        node.runtime.send(GroupRequest.subscribe(group: group, subscriber), toName: Self.serverName)
    }
}

public enum GroupError: Error, Equatable, Sendable {
    case notLocal
}

/// The `pg` server of a node.
struct GroupServer {
    let node: ClusterNode
    var table = GroupTable()
    var watched: [Pid: Ref] = [:]
    var subscribers: [String: Set<Pid>] = [:]

    var me: String { node.name.description }

    static func start(on node: ClusterNode) {
        let pid = node.runtime.spawn { context in
            var server = GroupServer(node: node)
            node.monitorNodes(context.pid)
            while true { server.handle(try await context.receiveAny(), context: context) }
        }
        try? node.runtime.register(ProcessGroups.serverName, pid)
    }

    mutating func handle(_ message: any Sendable, context: ProcessContext) {
        switch message {
        case GroupRequest.join(let group, let pids):
            let new = table.join(group, pids, node: me)
            for pid in new where watched[pid] == nil { watched[pid] = context.monitor(pid) }
            changed(group, new, joined: true, tellPeers: true, context: context)
        case GroupRequest.leave(let group, let pids):
            changed(group, table.leave(group, pids, node: me), joined: false, tellPeers: true, context: context)
        case GroupRequest.subscribe(let group, let subscriber):
            subscribers[group, default: []].insert(subscriber)
        case let down as Down:
            guard watched[down.pid] == down.ref else { break }
            watched.removeValue(forKey: down.pid)
            for (group, pids) in table.local(me) where pids.contains(down.pid) {
                changed(group, table.leave(group, [down.pid], node: me), joined: false, tellPeers: true, context: context)
            }
        case let change as GroupChange:
            guard let from = change.pids.first?.node else { break }
            let moved = change.joined ? table.join(change.group, change.pids, node: from) : table.leave(change.group, change.pids, node: from)
            changed(change.group, moved, joined: change.joined, tellPeers: false, context: context)
        case let sync as GroupSync:
            let (left, joined) = table.replace(node: sync.from, with: sync.groups)
            for (group, pids) in left { changed(group, pids, joined: false, tellPeers: false, context: context) }
            for (group, pids) in joined { changed(group, pids, joined: true, tellPeers: false, context: context) }
        case NodeEvent.up(let peer, hidden: false):
            context.runtime.send(GroupSync(from: me, groups: table.local(me)), toName: ProcessGroups.serverName, on: peer.description)
        case NodeEvent.down(let peer, _, hidden: false):
            let (left, _) = table.replace(node: peer.description, with: [:])
            for (group, pids) in left { changed(group, pids, joined: false, tellPeers: false, context: context) }
        default:
            break
        }
        let (all, local) = (table.merged, table.local(me))
        node.groupMembers.withLock { $0 = (all, local) }
    }

    private func changed(_ group: String, _ pids: [Pid], joined: Bool, tellPeers: Bool, context: ProcessContext) {
        guard !pids.isEmpty else { return }
        if tellPeers {
            for peer in node.nodes() {
                context.runtime.send(GroupChange(group: group, pids: pids, joined: joined), toName: ProcessGroups.serverName, on: peer.description)
            }
        }
        for subscriber in subscribers[group] ?? [] {
            context.send(joined ? GroupEvent.joined(group, pids) : GroupEvent.left(group, pids), to: subscriber)
        }
    }
}
