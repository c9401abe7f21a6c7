import Processes

/// A node tells its peers that local pids joined or left a group.
struct GroupChange: Codable, Sendable {
    let group: String
    let pids: [Pid]
    let joined: Bool
}

/// A node's local memberships, sent to each peer that comes up.
struct GroupSync: Codable, Sendable {
    let from: String
    let groups: [String: [Pid]]
}

/// What `ProcessGroups.monitor` subscribers receive.
public enum GroupEvent: Sendable, Equatable {
    case joined(String, [Pid])
    case left(String, [Pid])
}

/// Local requests to the node's `pg` server.
enum GroupRequest: Sendable {
    case join(String, [Pid])
    case leave(String, [Pid])
    case subscribe(group: String, Pid)
}

enum GroupMessages {
    static func register(in registry: WireRegistry) {
        registry.registerCodable(GroupChange.self, as: "pg.change")
        registry.registerCodable(GroupSync.self, as: "pg.sync")
    }
}
