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

/// A node's whole table, sent to each peer that comes up (`:global`'s sync).
struct GlobalSync: Sendable {
    let from: String
    let names: [String: Pid]
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
