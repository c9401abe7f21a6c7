/// Why a node went down (Erlang's `nodedown_reason`).
public enum NodeDownReason: String, Sendable, Codable, CustomStringConvertible {
    /// The peer closed the connection: it stopped, or its process died.
    case connectionClosed = "connection_closed"
    /// Nothing heard from the peer for the tick time.
    case netTickTimeout = "net_tick_timeout"
    /// This node disconnected it: `disconnect(node)`, or the peer stopped reading (see
    /// `ClusterSettings.maxPendingBytesPerPeer`).
    case disconnect
    /// This node is shutting down.
    case shutdown

    public var description: String { rawValue }
}

/// What `monitorNodes` subscribers receive (Erlang's `{:nodeup, node, info}` / `{:nodedown, ...}`).
public enum NodeEvent: Sendable, Equatable {
    case up(NodeName, hidden: Bool)
    case down(NodeName, reason: NodeDownReason, hidden: Bool)

    public var node: NodeName {
        switch self {
        case .up(let node, _), .down(let node, _, _): node
        }
    }
}

/// What `monitorNode(node)` delivers once (Erlang's `{:nodedown, node}`).
public struct NodeDown: Sendable, Equatable {
    public let node: NodeName

    public init(node: NodeName) { self.node = node }
}
