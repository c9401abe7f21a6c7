import Cluster
import Processes

/// What the node's writer still waits for before it answers a batch of replicated changes:
/// its own commit of the batch, and each peer's answer to the batch's one request, until the
/// batch's deadline; in any order. A peer that fails, goes down or does not answer in time is
/// a bad node of the batch; the commit here is always waited for. Pure: the writer passes in
/// what it hears and the time.
struct ReplicaAcks<Waiter> {
    /// A batch whose commit here has ended and whose peers have all answered, failed or run
    /// out of time.
    struct Done {
        var waiters: [Waiter]
        /// The local write's failure, if it failed.
        var localFailure: String?
        /// Peers that failed, in their own words, or went down or did not answer.
        var failures: [NodeName: String]
        /// Peers that stored the batch, in the order they answered.
        var storedOn: [NodeName] = []
    }

    private struct Batch {
        var done: Done
        var waiting: [Ref: NodeName]
        /// True until this node's commit of the batch has ended.
        var committing: Bool
        let deadline: ContinuousClock.Instant

        /// The peers that have not answered are bad nodes, no longer waited for.
        mutating func giveUpOnPeers() {
            for peer in waiting.values { done.failures[peer] = "no answer in time" }
            waiting = [:]
        }
    }

    private var batches: [Int: Batch] = [:]
    private var batchOfTag: [Ref: Int] = [:]
    private var nextID = 0

    var isEmpty: Bool { batches.isEmpty }

    /// The earliest deadline of the batches that wait for a peer: one that waits for its commit
    /// alone has nothing left to expire (past its deadline, the writer would otherwise time
    /// out at once, again and again). Read after every writer callback, so a plain loop:
    /// `lazy.map(\.deadline)` built its key path at run time (the type is generic) on every
    /// read, even with no batch waiting.
    var nextDeadline: ContinuousClock.Instant? {
        var earliest: ContinuousClock.Instant?
        for batch in batches.values where !batch.waiting.isEmpty { earliest = min(earliest ?? batch.deadline, batch.deadline) }
        return earliest
    }

    /// A batch whose commit here has begun and whose requests to peers, by tag, went out with
    /// `deadline`. Answers its number, for `committed(_:failure:)`.
    mutating func add(_ waiters: [Waiter], requests: [Ref: NodeName], deadline: ContinuousClock.Instant) -> Int {
        let id = nextID
        nextID += 1
        batches[id] = Batch(done: Done(waiters: waiters, localFailure: nil, failures: [:]), waiting: requests,
                            committing: true, deadline: deadline)
        for tag in requests.keys { batchOfTag[tag] = id }
        return id
    }

    /// This node's commit of batch `id` ended: written, or failed in these words.
    mutating func committed(_ id: Int, failure: String?) -> Done? {
        guard var batch = batches.removeValue(forKey: id) else { return nil }
        batch.committing = false
        batch.done.localFailure = failure
        return settle(id, batch)
    }

    /// A peer answered the request under `tag`: stored, or failed in these words.
    mutating func answered(_ tag: Ref, failure: String?) -> Done? {
        // Taken out while it changes, so that its tables are changed in place, not copied.
        guard let id = batchOfTag.removeValue(forKey: tag), var batch = batches.removeValue(forKey: id) else { return nil }
        guard let peer = batch.waiting.removeValue(forKey: tag) else {
            batches[id] = batch
            return nil
        }
        if let failure { batch.done.failures[peer] = failure } else { batch.done.storedOn.append(peer) }
        return settle(id, batch)
    }

    /// `peer` went down: every batch that waits for it has it as a bad node.
    mutating func down(_ peer: NodeName) -> [Done] {
        settleEach { batch in
            for (tag, node) in batch.waiting where node == peer {
                batch.waiting.removeValue(forKey: tag)
                batch.done.failures[peer] = "node \(peer) is down"
            }
        }
    }

    /// Batches past their deadline at `now`: the peers that have not answered are bad nodes
    /// (such a batch is still done only once its commit here has ended).
    mutating func expire(at now: ContinuousClock.Instant) -> [Done] {
        // Asked after every batch the writer flushes, when hardly ever one is due: a look first.
        guard batches.values.contains(where: { $0.deadline <= now }) else { return [] }
        return settleEach { batch in
            if batch.deadline <= now { batch.giveUpOnPeers() }
        }
    }

    /// Every batch, as the writer stops: the peers that have not answered are bad nodes, and a
    /// commit that has not ended failed in `unfinishedCommit`'s words.
    mutating func finishAll(unfinishedCommit: String) -> [Done] {
        settleEach { batch in
            batch.giveUpOnPeers()
            if batch.committing {
                batch.committing = false
                batch.done.localFailure = unfinishedCommit
            }
        }
    }

    private mutating func settle(_ id: Int, _ batch: Batch) -> Done? {
        guard batch.waiting.isEmpty, !batch.committing else {
            batches[id] = batch
            return nil
        }
        batches.removeValue(forKey: id)
        return batch.done
    }

    /// Applies `change` to every batch, then lets go of the tags it stopped waiting for.
    private mutating func settleEach(_ change: (inout Batch) -> Void) -> [Done] {
        var finished: [Done] = []
        for (id, var batch) in batches {
            let tags = Array(batch.waiting.keys)
            change(&batch)
            for tag in tags where batch.waiting[tag] == nil { batchOfTag.removeValue(forKey: tag) }
            if let done = settle(id, batch) { finished.append(done) }
        }
        return finished
    }
}
