import Cluster
import Logging
import Processes

/// The replicated database (the book's `Todo.Database`): every node keeps a full copy in its
/// own `TodoStore`; `store` writes on this node and on every connected visible node at once
/// (the book's `rpc.multicall` of `store_local`), and every copy merges what it receives, so
/// copies converge whatever order writes and catch-ups reach them in. `get` reads this
/// node's copy only.
public struct TodoDatabase: Sendable {
    static let storeFunction = "todo.store_local"
    static let fetchFunction = "todo.fetch"
    static let bucketsFunction = "todo.digest_buckets"
    static let digestsFunction = "todo.digests"
    /// How long a starting list server waits for its peers' copies (a part of one, each), and
    /// for its ask to go out.
    static let fetchTimeout = Duration.seconds(2)
    /// Lists per catch-up request, so a node far behind never holds them all in memory; and
    /// bytes per answer, far below the largest message the cluster carries (64 MiB), so
    /// that big lists come a few at a time.
    static let catchUpBatch = 200
    static let catchUpBatchBytes = 8 << 20
    public static let storeTimeout = Duration.seconds(5)

    /// What a replicated store reached.
    public struct StoreOutcome: Sendable, Equatable {
        /// Nodes that failed or did not answer in time (logged as `Store failed on node N`).
        public var badNodes: [NodeName]
        /// Whether this node's own copy was written.
        public var storedLocally: Bool
        /// When it was not: the peers that hold the change all the same. This node catches
        /// up with it from them (anti-entropy), so the change is not lost, only refused here.
        public var storedElsewhere: [NodeName] = []
    }

    public let local: TodoStore
    let node: ClusterNode

    /// The most a `todo.fetch` answer, or a part of a list handed over, carries on the wire
    /// (`TodoSettings.listAnswerBytes`: `catchUpBatchBytes`, smaller in tests).
    let answerBytes: Int
    /// This node's reads of its peers' copies, each within `fetchTimeout`.
    let fetches: ListFetches

    init(local: TodoStore, node: ClusterNode, answerBytes: Int) {
        self.local = local
        self.node = node
        self.answerBytes = answerBytes
        fetches = ListFetches(maxNames: Self.catchUpBatch, timeout: Self.fetchTimeout) { peer, names in
            do throws(RPCError) {
                return .success(try await node.rpc.call(peer, Self.fetchFunction, names, returning: ListCopies.self, timeout: Self.fetchTimeout))
            } catch {
                return .failure(error)
            }
        }
    }

    /// Lets peers write into this node's copy, read lists from it, and compare digests
    /// (through `rpc`).
    func registerFunctions() {
        let database = self
        node.rpc.register(Self.storeFunction) { (batch: StoreBatch, context: ProcessContext, caller: NodeName) async throws -> Bool in
            try await database.storeHere(batch.changes, from: context)
            OverruledWrites.handOn(batch.changes, storedFrom: caller, global: database.node.global, context: context)
            return true
        }
        node.rpc.register(Self.fetchFunction) { (request: ListNames) async throws -> ListCopies in
            try await database.copies(of: request.names, after: request.after)
        }
        node.rpc.register(Self.bucketsFunction) { (_: Int) async throws -> DigestBuckets in
            try await database.local.digestBuckets()
        }
        node.rpc.register(Self.digestsFunction) { (request: BucketNumbers) async throws -> ListDigests in
            ListDigests(digests: try await database.local.digests(inBuckets: request.buckets))
        }
    }

    /// The merge of this node's copy of `name` and its visible peers' copies, for a list
    /// server that starts: a node that missed writes while it was away (or held the other
    /// side of a split) serves them all the same. What this node lacked is stored here too.
    /// Also which peers' copies it holds: those that answered.
    public func merged(_ name: String) async -> (list: TodoList?, peers: [NodeName]) {
        let mine = await get(name)
        let peers = node.nodes()
        guard !peers.isEmpty else { return (mine, []) }
        var merged = mine
        var answered: [NodeName] = []
        for (peer, copy) in await copies(of: name, on: peers) {
            guard case .success(let copy) = copy else { continue }
            answered.append(peer)
            if let copy {
                if merged == nil { merged = copy } else { merged?.merge(copy) }
            }
        }
        if let merged, merged != mine {
            do { try await local.apply([(name, merged.asChange)]) } catch { node.logger.error("cannot keep a merged copy of a list: \(error)") }
        }
        return (merged, answered)
    }

    /// Each of `peers`' copy of `name` (nil: it has none), or why it did not come, asked of
    /// all at once, each gathered with other lists asked of the same peer (`ListFetches`);
    /// a copy too big for one answer comes whole all the same, part after part.
    func copies(of name: String, on peers: [NodeName]) async -> [NodeName: Result<TodoList?, RPCError>] {
        await withTaskGroup { group in
            for peer in peers { group.addTask { [fetches] in (peer, await fetches.copy(of: name, from: peer)) } }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
    }

    /// Catch-up (anti-entropy) from `peer`: compares digest buckets, then the digests of the
    /// lists in buckets that differ, then fetches, in batches (a list too big for one answer
    /// in parts), every list whose copy there differs from this node's and merges it in. On
    /// the network that is at most 2.5 KB, plus a digest for each list that shares a bucket
    /// with a differing one, plus the differing lists; each side reads its own digests (one
    /// row per list) from its store.
    /// Answers the names of the lists this node's copy gained something in.
    @discardableResult
    public func catchUp(from peer: NodeName) async -> [String] {
        do {
            let theirBuckets = try await node.rpc.call(peer, Self.bucketsFunction, 0, returning: DigestBuckets.self, timeout: .seconds(30))
            let buckets = try await local.digestBuckets().differing(from: theirBuckets)
            guard !buckets.isEmpty else { return [] }
            let mine = try await local.digests(inBuckets: buckets)
            let theirs = try await node.rpc.call(peer, Self.digestsFunction, BucketNumbers(buckets: buckets),
                                                 returning: ListDigests.self, timeout: .seconds(30))
            let differing = theirs.digests.filter { $0.value != mine[$0.key] }.map(\.key).sorted()
            var gained: [String] = []
            var remaining = differing[...]
            var after: EntryID?  // where the first remaining list goes on, after a part of it
            while !remaining.isEmpty {
                let batch = Array(remaining.prefix(Self.catchUpBatch))
                let copies = try await node.rpc.call(peer, Self.fetchFunction, ListNames(names: batch, after: after),
                                                     returning: ListCopies.self, timeout: .seconds(30))
                guard copies.answers(batch) else { throw CatchUpError.notAnAnswer }
                let changed = try await local.apply(copies.lists.map { ($0.name, $0.list.asChange) })
                for name in zip(copies.lists, changed).filter(\.1).map(\.0.name) where gained.last != name { gained.append(name) }
                // The next request begins after the names the answer covers: with the list it
                // holds a part of, after that part's last record.
                let previous = after
                after = nil
                if copies.partial {
                    guard let lastRecord = copies.lists.last?.list.records.last?.id,
                          copies.covered > 0 || previous.map({ lastRecord > $0 }) ?? true
                    else { throw CatchUpError.noHeadway(batch[copies.covered]) }
                    after = lastRecord
                }
                remaining = remaining.dropFirst(copies.covered)
            }
            if !gained.isEmpty {
                let compared = "\(buckets.count) of \(DigestBuckets.count) digest buckets, then \(theirs.digests.count) list digests"
                node.logger.info("caught up \(gained.count) lists from \(peer) (compared \(compared))")
            }
            return gained
        } catch {
            node.logger.warning("catch-up from \(peer) stopped: \(error)")
            return []
        }
    }

    /// This node's copies of the first `catchUpBatch` of `names` that it holds, in order, up
    /// to `answerBytes` on the wire: the answer to a peer's `todo.fetch`, read in one go
    /// (`TodoStore.copies`). A list that ends in a part (`partial`) is asked for again after
    /// the part's last record: `after`, which applies to the first of `names`.
    func copies(of names: [String], after: EntryID? = nil) async throws -> ListCopies {
        try await local.copies(of: Array(names.prefix(Self.catchUpBatch)), after: after, maxBytes: answerBytes)
    }

    /// Merges `change` into this node's copy and every connected visible node's, logging
    /// each node that failed (`Store failed on node N`). The node's writer does it (see
    /// `DatabaseWriter`): the book's `rpc.multicall` of `store_local` with 5 s, shared by the
    /// changes that reach the writer together. This node's copy is written directly, not
    /// encoded. Called from `context`'s process (a list server's).
    public func store(_ name: String, _ change: ListChange, from context: ProcessContext) async -> StoreOutcome {
        let failedHere = StoreOutcome(badNodes: [node.name], storedLocally: false)
        guard let writer = context.runtime.whereis(DatabaseWriter.localName) else {
            node.logger.error("store on this node failed: the database writer is not running")
            node.logger.warning("Store failed on node \(node.name)")
            return failedHere
        }
        do {
            // The writer answers within its 5 s for the peers once it has the change; the
            // rest is room for a batch ahead of it.
            switch try await context.call(writer, DatabaseWriter.Request.replicate(NamedChange(name: name, change: change)),
                                          replyType: DatabaseWriter.Outcome.self, timeout: Self.storeTimeout + .seconds(2)) {
            case .stored(let badNodes):
                return StoreOutcome(badNodes: badNodes, storedLocally: true)
            case .failed(let words, let storedOn):
                node.logger.error("store on this node failed: \(words)")
                node.logger.warning("Store failed on node \(node.name)")
                return StoreOutcome(badNodes: [node.name], storedLocally: false, storedElsewhere: storedOn)
            }
        } catch is ExitReason {
            // This process was killed while it waited: nobody is left to tell, or to log for
            // (the change may still be written, as any store that times out).
            return StoreOutcome(badNodes: [], storedLocally: false)
        } catch {
            node.logger.error("store on this node failed: \(error)")
            node.logger.warning("Store failed on node \(node.name)")
            return failedHere
        }
    }

    /// As `store(_:_:from:)`, from code that is not a process.
    public func store(_ name: String, _ change: ListChange) async -> StoreOutcome {
        let outcome = try? await node.runtime.withProcess { await store(name, change, from: $0) }
        return outcome ?? StoreOutcome(badNodes: [node.name], storedLocally: false)
    }

    /// Merges a peer's changes into this node's copy only, through the node's writer (group
    /// commit, with the writer's other stores).
    func storeHere(_ changes: [NamedChange], from context: ProcessContext) async throws {
        guard let writer = context.runtime.whereis(DatabaseWriter.localName) else {
            throw TodoFailure.failed("the database writer is not running")
        }
        let outcome = try await context.call(writer, DatabaseWriter.Request.local(changes),
                                             replyType: DatabaseWriter.Outcome.self, timeout: Self.storeTimeout)
        if case .failed(let words, _) = outcome { throw TodoFailure.failed(words) }
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

/// Why catch-up from a peer stopped, beside the rpc's own failures.
enum CatchUpError: Error, CustomStringConvertible {
    /// The peer answered with a part of a list that went no further than the part before.
    case noHeadway(String)
    /// The peer's answer is not one to the request (`ListCopies.answers`).
    case notAnAnswer

    var description: String {
        switch self {
        case .noHeadway(let list): "the answer for list \(list) went no further than the one before"
        case .notAnAnswer: "the answer does not answer the lists asked"
        }
    }
}
