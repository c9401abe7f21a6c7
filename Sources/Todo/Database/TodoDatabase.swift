import Cluster
import Logging
import Processes

/// The replicated database (the book's `Todo.Database`): every node keeps a full copy in its
/// own `TodoStore`; `store` writes on this node and on every connected visible node at once
/// (the book's `rpc.multicall` of `store_local`),
/// `get` reads this node's copy only.
public struct TodoDatabase: Sendable {
    static let storeFunction = "todo.store_local"
    public static let storeTimeout = Duration.seconds(5)

    struct StoreArguments: Codable, Sendable {
        let name: String
        let change: ListChange
    }

    /// What a replicated store reached.
    public struct StoreOutcome: Sendable, Equatable {
        /// Nodes that failed or did not answer in time (logged as `Store failed on node N`).
        public var badNodes: [NodeName]
        /// Whether this node's own copy was written.
        public var storedLocally: Bool
    }

    public let local: TodoStore
    let node: ClusterNode

    init(local: TodoStore, node: ClusterNode) {
        self.local = local
        self.node = node
    }

    /// Lets peers write into this node's copy (through `rpc`).
    func registerStoreFunction() {
        let database = self
        node.rpc.register(Self.storeFunction) { (arguments: StoreArguments) async throws -> Bool in
            try await database.storeLocal(arguments.name, arguments.change)
            return true
        }
    }

    /// Applies `change` on this node and on every connected visible node (`rpc.multicall`,
    /// 5 s), logging each node that failed. This node's copy is written directly, not encoded.
    public func store(_ name: String, _ change: ListChange) async -> StoreOutcome {
        let peers = node.nodes()
        async let remote = peers.isEmpty
            ? (results: [:], badNodes: [])
            : node.rpc.multicall(on: peers, Self.storeFunction, StoreArguments(name: name, change: change),
                                 returning: Bool.self, timeout: Self.storeTimeout)
        var failed: Set<NodeName> = []
        do {
            try await storeLocal(name, change)
        } catch {
            failed.insert(node.name)
            node.logger.error("store on this node failed: \(error)")
        }
        let (results, badNodes) = await remote
        failed.formUnion(badNodes)
        for (target, result) in results {
            if case .failure(let error) = result, !badNodes.contains(target) {
                failed.insert(target)
                node.logger.error("store on \(target) failed: \(error)")
            }
        }
        for bad in failed.sorted() { node.logger.warning("Store failed on node \(bad)") }
        return StoreOutcome(badNodes: failed.sorted(), storedLocally: !failed.contains(node.name))
    }

    /// Writes this node's copy, through the node's one writer (group commit).
    func storeLocal(_ name: String, _ change: ListChange) async throws {
        let failure = try await node.runtime.withProcess { context -> String? in
            guard let writer = context.runtime.whereis(DatabaseWriter.localName) else { return "the database writer is not running" }
            return try await context.call(writer, DatabaseWriter.Save(name: name, change: change),
                                          replyType: String?.self, timeout: Self.storeTimeout)
        }
        if let failure { throw TodoFailure.failed(failure) }
    }

    /// This node's copy of `name`; nil when it has none or cannot read it (logged).
    public func get(_ name: String) async -> TodoList? {
        do {
            return try await local.load(name)
        } catch {
            node.logger.error("cannot read list from the database: \(error)")
            return nil
        }
    }
}
