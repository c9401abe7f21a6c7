import Processes

/// A node's view of its peers, as the `todo nodes` command shows it.
public struct NodesReply: Codable, Sendable, Equatable {
    public let tag: Ref
    public let node: String
    public let visible: [String]
    public let hidden: [String]
}

/// Asks a node's `net_kernel` process for its `NodesReply`.
public struct NodesQuery: Codable, Sendable {
    public let from: Pid
    public let tag: Ref

    public init(from: Pid, tag: Ref) {
        self.from = from
        self.tag = tag
    }
}

/// The messages of the cluster layer itself that cross nodes.
enum ClusterMessages {
    static func register(in registry: WireRegistry) {
        registry.registerCodable(NodesQuery.self, as: "net_kernel.nodes?")
        registry.registerCodable(NodesReply.self, as: "net_kernel.nodes")
    }
}

/// The process registered as `net_kernel` on every node: answers questions about the node
/// from other nodes (the hidden `todo` client asks it who is connected).
enum NetKernel {
    static let name = "net_kernel"

    static func start(on node: ClusterNode) {
        let pid = node.runtime.spawn { context in
            while true {
                let query = try await context.receive(NodesQuery.self)
                context.send(NodesReply(tag: query.tag, node: node.name.description,
                                        visible: node.nodes().map(\.description),
                                        hidden: node.hiddenNodes().map(\.description)), to: query.from)
            }
        }
        try? node.runtime.register(name, pid)
    }
}
