import Cluster
import Logging
import Processes

/// The replicated database (the book's `Todo.Database`): every node keeps a full copy in its
/// own `TodoStore`; `store` writes on this node and on every connected visible node at once
/// (the book's `rpc.multicall` of `store_local`),
/// `get` reads this node's copy only.
public struct TodoDatabase: Sendable {
    static let storeFunction = "todo.store_local"
    static let fetchFunction = "todo.fetch"
    static let versionsFunction = "todo.versions"
    static let overwriteFunction = "todo.overwrite"
    /// How long a starting list server waits for its peers' copies.
    static let fetchTimeout = Duration.seconds(2)
    /// Lists per catch-up request, so a node far behind never holds them all in memory.
    static let catchUpBatch = 200
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
        /// The highest version among copies that were not older than the change and ignored
        /// it: they went ahead of this server (a healed split). nil when all took it.
        public var aheadAt: Int? = nil
    }

    public let local: TodoStore
    let node: ClusterNode

    init(local: TodoStore, node: ClusterNode) {
        self.local = local
        self.node = node
    }

    /// Lets peers write into this node's copy, read lists from it, and compare versions
    /// (through `rpc`).
    func registerFunctions() {
        let database = self
        // The answer: -1 when applied, else the version of the copy that ignored the change.
        node.rpc.register(Self.storeFunction) { (arguments: StoreArguments) async throws -> Int in
            try await database.storeLocal(arguments.name, arguments.change) ?? -1
        }
        node.rpc.register(Self.overwriteFunction) { (copies: ListCopies) async throws -> Int in
            var written = 0
            for copy in copies.lists where try await database.local.replace(copy.name, with: copy.list) { written += 1 }
            return written
        }
        node.rpc.register(Self.fetchFunction) { (request: ListNames) async throws -> ListCopies in
            var copies = ListCopies(lists: [])
            for name in request.names.prefix(Self.catchUpBatch) {
                if let list = try await database.local.load(name) { copies.lists.append(NamedList(name: name, list: list)) }
            }
            return copies
        }
        node.rpc.register(Self.versionsFunction) { (_: Int) async throws -> ListVersions in
            ListVersions(versions: try await database.local.versions())
        }
    }

    /// The newest copy of `name` among this node and its visible peers, for a list server
    /// that starts: a node that missed writes while it was away serves them all the same.
    /// This node's copy is replaced when a peer's is newer.
    public func freshest(_ name: String) async -> TodoList? {
        let mine = await get(name)
        let peers = node.nodes()
        guard !peers.isEmpty else { return mine }
        let (results, _) = await node.rpc.multicall(
            on: peers, Self.fetchFunction, ListNames(names: [name]), returning: ListCopies.self, timeout: Self.fetchTimeout)
        var best = mine
        for case .success(let copies) in results.values {
            for copy in copies.lists where copy.name == name && copy.list.version > (best?.version ?? -1) { best = copy.list }
        }
        if let best, best.version > (mine?.version ?? -1) {
            do { try await local.replace(name, with: best) } catch { node.logger.error("cannot keep a newer copy of a list: \(error)") }
        }
        return best
    }

    /// Catch-up (anti-entropy) from `peer`: compares versions, then copies, in batches, every
    /// list `peer` holds in a newer version. Its cost is one version per list, plus the lists
    /// that differ. Answers how many lists were copied.
    @discardableResult
    public func catchUp(from peer: NodeName) async -> Int {
        do {
            let theirs = try await node.rpc.call(peer, Self.versionsFunction, 0, returning: ListVersions.self, timeout: .seconds(30))
            let mine = try await local.versions()
            let wanted = theirs.versions.filter { $0.value > (mine[$0.key] ?? -1) }.map(\.key).sorted()
            var copied = 0
            for start in stride(from: 0, to: wanted.count, by: Self.catchUpBatch) {
                let batch = Array(wanted[start..<min(start + Self.catchUpBatch, wanted.count)])
                let copies = try await node.rpc.call(peer, Self.fetchFunction, ListNames(names: batch), returning: ListCopies.self, timeout: .seconds(30))
                for copy in copies.lists where try await local.replace(copy.name, with: copy.list) { copied += 1 }
            }
            if copied > 0 { node.logger.info("caught up \(copied) lists from \(peer)") }
            return copied
        } catch {
            node.logger.warning("catch-up from \(peer) stopped: \(error)")
            return 0
        }
    }

    /// Applies `change` on this node and on every connected visible node (`rpc.multicall`,
    /// 5 s), logging each node that failed. This node's copy is written directly, not encoded.
    public func store(_ name: String, _ change: ListChange) async -> StoreOutcome {
        let peers = node.nodes()
        async let remote = peers.isEmpty
            ? (results: [:], badNodes: [])
            : node.rpc.multicall(on: peers, Self.storeFunction, StoreArguments(name: name, change: change),
                                 returning: Int.self, timeout: Self.storeTimeout)
        var failed: Set<NodeName> = []
        var ahead: Int?
        do {
            ahead = try await storeLocal(name, change)
        } catch {
            failed.insert(node.name)
            node.logger.error("store on this node failed: \(error)")
        }
        let (results, badNodes) = await remote
        failed.formUnion(badNodes)
        for (target, result) in results {
            switch result {
            case .success(let version) where version >= 0: ahead = max(ahead ?? version, version)
            case .failure(let error) where !badNodes.contains(target):
                failed.insert(target)
                node.logger.error("store on \(target) failed: \(error)")
            default: break
            }
        }
        for bad in failed.sorted() { node.logger.warning("Store failed on node \(bad)") }
        return StoreOutcome(badNodes: failed.sorted(), storedLocally: !failed.contains(node.name), aheadAt: ahead)
    }

    /// Writes `list` as the newest copy on this node and every connected visible node: what a
    /// server does when copies went ahead of it, as the book's next write overwrites them all.
    public func overwrite(_ name: String, _ list: TodoList) async -> StoreOutcome {
        let peers = node.nodes()
        async let remote = peers.isEmpty
            ? (results: [:], badNodes: [])
            : node.rpc.multicall(on: peers, Self.overwriteFunction, ListCopies(lists: [NamedList(name: name, list: list)]),
                                 returning: Int.self, timeout: Self.storeTimeout)
        var stored = true
        do { try await local.replace(name, with: list) } catch {
            stored = false
            node.logger.error("overwrite on this node failed: \(error)")
        }
        let (_, badNodes) = await remote
        for bad in badNodes { node.logger.warning("Store failed on node \(bad)") }
        return StoreOutcome(badNodes: badNodes, storedLocally: stored)
    }

    /// Writes this node's copy, through the node's one writer (group commit); nil when
    /// applied, else the version of this copy, which was not older than the change.
    func storeLocal(_ name: String, _ change: ListChange) async throws -> Int? {
        let outcome = try await node.runtime.withProcess { context -> DatabaseWriter.Outcome in
            guard let writer = context.runtime.whereis(DatabaseWriter.localName) else { return .failed("the database writer is not running") }
            return try await context.call(writer, DatabaseWriter.Save(name: name, change: change),
                                          replyType: DatabaseWriter.Outcome.self, timeout: Self.storeTimeout)
        }
        switch outcome {
        case .applied: return nil
        case .ignored(let version): return version
        case .failed(let words): throw TodoFailure.failed(words)
        }
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
