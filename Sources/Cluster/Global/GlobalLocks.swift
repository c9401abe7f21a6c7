import Processes

/// The lock table the leader keeps (Erlang's `:global` locks): one holder per resource, the
/// same holder may lock again, others queue in order. Pure; the name server carries it out.
struct GlobalLocks: Sendable {
    struct Holder: Codable, Sendable, Equatable {
        let pid: Pid
        var count: Int
    }

    private(set) var holders: [String: Holder] = [:]
    private(set) var queues: [String: [GlobalLockRequest]] = [:]

    /// A non-leader takes the leader's holders as its own (its queue stays empty: waiters
    /// queue at the leader, and ask the next one if it goes).
    mutating func adopt(_ holders: [String: Holder]) {
        self.holders = holders
    }

    /// True when granted now; otherwise the request waits its turn.
    mutating func lock(_ request: GlobalLockRequest) -> Bool {
        if let holder = holders[request.resource], holder.pid != request.requester {
            queues[request.resource, default: []].append(request)
            return false
        }
        holders[request.resource, default: Holder(pid: request.requester, count: 0)].count += 1
        return true
    }

    /// Releases one lock of `requester`; returns the request granted next, if any.
    mutating func unlock(_ resource: String, by requester: Pid) -> GlobalLockRequest? {
        guard var holder = holders[resource], holder.pid == requester else {
            // A waiter giving up: its queued request goes.
            queues[resource]?.removeAll { $0.requester == requester }
            return nil
        }
        holder.count -= 1
        if holder.count > 0 {
            holders[resource] = holder
            return nil
        }
        holders.removeValue(forKey: resource)
        return grantNext(resource)
    }

    /// A holder died (or its node went): every lock it held is released; waiters from it go.
    mutating func release(_ pid: Pid) -> [GlobalLockRequest] {
        for resource in queues.keys { queues[resource]?.removeAll { $0.requester == pid } }
        var granted: [GlobalLockRequest] = []
        for (resource, holder) in holders where holder.pid == pid {
            holders.removeValue(forKey: resource)
            if let next = grantNext(resource) { granted.append(next) }
        }
        return granted
    }

    private mutating func grantNext(_ resource: String) -> GlobalLockRequest? {
        guard var queue = queues[resource], !queue.isEmpty else { return nil }
        let next = queue.removeFirst()
        queues[resource] = queue.isEmpty ? nil : queue
        holders[resource] = Holder(pid: next.requester, count: 1)
        return next
    }
}
