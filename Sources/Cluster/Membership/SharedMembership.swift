import Processes

/// What the transport thread knows about peers that the rest of the program reads: who is
/// connected, who wants node events, and the links and monitors that cross to each peer.
struct SharedMembership: Sendable {
    var visible: Set<NodeName> = []
    /// Which connection to each visible peer is up: a number no earlier connection had
    /// (`ClusterNode.visibleConnectionsMade` after it came up).
    var visibleConnections: [NodeName: UInt64] = [:]
    var hidden: Set<NodeName> = []
    /// The incarnation of each connected peer, visible or hidden (its pids carry it).
    var incarnations: [NodeName: UInt64] = [:]
    /// Subscribers of `monitorNodes`, and whether they also want hidden nodes.
    var subscribers: [Pid: Bool] = [:]
    var nodeMonitors: [NodeName: Set<Pid>] = [:]
    var book: RemoteBook

    func isConnected(_ node: NodeName) -> Bool { visible.contains(node) || hidden.contains(node) }
}
