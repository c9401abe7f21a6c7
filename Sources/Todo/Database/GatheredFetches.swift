import Cluster
import DequeModule

/// The lists a node's servers ask one peer for, gathered into one `todo.fetch` while another
/// is on its way to that peer (as the writer gathers stores): after a heal every running
/// server takes in the returning peer's copy at its next request, thousands at once, and
/// asked one list each, the peer answered many of them past their time. An ask that could
/// not go out within `timeout` fails instead, so no server waits for more than the request
/// ahead of it and its own. Pure: the caller sends and keeps the clock.
struct GatheredFetches<Waiter> {
    struct Ask {
        let name: String
        let since: ContinuousClock.Instant
        let waiter: Waiter
    }

    /// A request to send to `peer`: `names` in the order first asked, and the asks each
    /// answers.
    struct Batch {
        let peer: NodeName
        let names: [String]
        let asks: [String: [Ask]]
    }

    /// The most names in one request (the peer reads no more: `TodoDatabase.catchUpBatch`).
    let maxNames: Int
    let timeout: Duration
    private var queues: [NodeName: Queue] = [:]

    /// The asks waiting for one peer, and whether a request to it is on its way.
    private struct Queue {
        var names: Deque<String> = []
        var asks: [String: [Ask]] = [:]
        var sending = false

        /// Adds asks for one name, after those already waiting for it.
        mutating func add(_ more: [Ask]) {
            guard let name = more.first?.name else { return }
            if asks[name] == nil { names.append(name) }
            asks[name, default: []] += more
        }

        /// Puts asks that went out back in front, before those waiting for the same name.
        mutating func addFirst(_ sent: [Ask]) {
            guard let name = sent.first?.name else { return }
            if let waiting = asks[name], let index = names.firstIndex(of: name) {
                names.remove(at: index)
                asks[name] = sent + waiting
            } else {
                asks[name] = sent
            }
            names.prepend(name)
        }
    }

    init(maxNames: Int, timeout: Duration) {
        self.maxNames = max(1, maxNames)
        self.timeout = timeout
    }

    /// Takes an ask for `peer`'s copy of `name`; answers the request to send now when none is
    /// on its way to that peer (else the ask goes with the next).
    mutating func ask(_ name: String, of peer: NodeName, for waiter: Waiter, at now: ContinuousClock.Instant) -> Batch? {
        queues[peer, default: Queue()].add([Ask(name: name, since: now, waiter: waiter)])
        guard queues[peer]?.sending == false else { return nil }
        return next(for: peer, at: now).batch
    }

    /// `batch` came back; `uncovered`, the names of it that the answer did not reach, wait
    /// again, first. Answers the next request to `peer`, if asks wait, and the asks that
    /// waited past `timeout` and fail unsent.
    mutating func answered(_ batch: Batch, uncovered: [String], at now: ContinuousClock.Instant) -> (batch: Batch?, expired: [Waiter]) {
        if !uncovered.isEmpty, var queue = queues.removeValue(forKey: batch.peer) {
            for name in uncovered.reversed() { queue.addFirst(batch.asks[name] ?? []) }
            queues[batch.peer] = queue
        }
        return next(for: batch.peer, at: now)
    }

    /// How many asks wait for `peer`, not yet sent.
    func waiting(for peer: NodeName) -> Int {
        queues[peer].map { $0.asks.values.reduce(0) { $0 + $1.count } } ?? 0
    }

    private mutating func next(for peer: NodeName, at now: ContinuousClock.Instant) -> (batch: Batch?, expired: [Waiter]) {
        // Taken out of the table, so that it is changed in place, not copied.
        guard var queue = queues.removeValue(forKey: peer) else { return (nil, []) }
        var expired: [Waiter] = []
        var names: [String] = []
        var asks: [String: [Ask]] = [:]
        while names.count < maxNames, let name = queue.names.popFirst() {
            let asked = queue.asks.removeValue(forKey: name) ?? []
            expired += asked.filter { now - $0.since >= timeout }.map(\.waiter)
            let timely = asked.filter { now - $0.since < timeout }
            guard !timely.isEmpty else { continue }
            names.append(name)
            asks[name] = timely
        }
        queue.sending = !names.isEmpty
        if queue.sending || !queue.names.isEmpty { queues[peer] = queue }
        return (names.isEmpty ? nil : Batch(peer: peer, names: names, asks: asks), expired)
    }
}

extension GatheredFetches.Ask: Sendable where Waiter: Sendable {}
extension GatheredFetches.Batch: Sendable where Waiter: Sendable {}
