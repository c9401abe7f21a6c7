import Processes

/// Asks the leader (the lowest visible node name) to take or drop a name.
struct GlobalRequest: Sendable {
    let name: String
    let pid: Pid
    let register: Bool
    let tag: Ref
    let replyTo: Pid
}

/// The leader's answer: nil owner when the request went through, else who has the name.
struct GlobalReply: Sendable {
    let tag: Ref
    let owner: Pid?
}

/// The leader tells every node of a change; an owner's node tells everyone its owner died.
struct GlobalUpdate: Sendable {
    let name: String
    let pid: Pid
    let registered: Bool
}

/// A node's whole table, sent to each peer that comes up (`:global`'s sync), in parts: one
/// message could hold at most about 1.3 million names (64 MiB), and the peer's transport
/// thread reads each message whole, holding up every other message from this node meanwhile.
struct GlobalSync: Sendable {
    let from: String
    let names: [String: Pid]
    /// Parts of the table follow: the peer holds the table once the last has come.
    var more = false

    /// `names` in parts of at most `size` names, in the order to send them (one part when
    /// there are none).
    static func parts(from: String, names: [String: Pid], size: Int) -> [GlobalSync] {
        let all = Array(names), size = max(1, size)
        let starts = Array(stride(from: 0, to: max(all.count, 1), by: size))
        return starts.map { start in
            let part = all[start..<min(start + size, all.count)]
            return GlobalSync(from: from, names: Dictionary(uniqueKeysWithValues: part.map { ($0.key, $0.value) }),
                              more: start != starts.last)
        }
    }
}

/// Local only: answered once this node has every current peer's table.
struct GlobalSyncQuery: Sendable {
    let tag: Ref
    let replyTo: Pid
}

struct GlobalSynced: Sendable {
    let tag: Ref
}

enum GlobalMessages {
    static func register(in registry: WireRegistry) {
        registry.register(GlobalRequest.self, as: "global.request")
        registry.register(GlobalReply.self, as: "global.reply")
        registry.register(GlobalUpdate.self, as: "global.update")
        registry.register(GlobalSync.self, as: "global.sync")
    }
}

/// Asks the leader for a lock on `resource` for `requester`, or to release it.
struct GlobalLockRequest: Codable, Sendable {
    let resource: String
    let requester: Pid
    let lock: Bool
    let tag: Ref
    let replyTo: Pid
}

/// The leader's grant (or release confirmation) for a lock request.
struct GlobalLockGranted: Codable, Sendable {
    let tag: Ref
}

extension GlobalMessages {
    static func registerLocks(in registry: WireRegistry) {
        registry.registerCodable(GlobalLockHolders.self, as: "global.lock.holders")
        registry.registerCodable(GlobalLockRequest.self, as: "global.lock")
        registry.registerCodable(GlobalLockGranted.self, as: "global.locked")
    }
}

/// The leader's lock holders after a change, sent to every node: the next leader knows them
/// when this one goes down.
struct GlobalLockHolders: Codable, Sendable {
    let holders: [String: GlobalLocks.Holder]
}
