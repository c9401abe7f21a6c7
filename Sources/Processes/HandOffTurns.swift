/// When a thread may run a call's server itself, inside the caller's wait (`ProcessScheduler`'s
/// hand-off), rather than queue it on the pool. Two limits, as Go's `runnext` has one:
/// - servers nest only `depthLimit` deep. At 1, a handed-off server's own calls queue their
///   servers: a list server's store then reaches the writer through the pool, where stores
///   that came meanwhile queue up behind it and are taken in one go. With the writer run at
///   once for each store (3 deep), the HTTP mix did no better and maybe worse;
/// - a caller whose answers all come during its wait, so it never suspends (a loop of calls),
///   holds its thread for `streakLimit` calls at most. Then its server is queued and it waits
///   as any other, so the pool's other work gets its turn.
///
/// Pure: one per thread.
struct HandOffTurns {
    static let depthLimit = 1
    static let streakLimit = 64

    /// How many handed-off servers run inside one another now.
    private(set) var depth = 0
    /// Hand-offs in a row after which no caller suspended.
    private(set) var streak = 0

    /// Whether a server run here may hand off in turn (else its call queues its server).
    var mayNest: Bool { depth < Self.depthLimit }

    /// Whether the next server may run here; when not, it is queued.
    mutating func begin() -> Bool {
        guard mayNest else { return false }
        guard streak < Self.streakLimit else {
            streak = 0  // the caller now waits for its queued server
            return false
        }
        depth += 1
        return true
    }

    /// The server's turn ended; `callerWaits` when its caller is left to suspend (its answer
    /// has not come), which gives the thread back to the pool.
    mutating func end(callerWaits: Bool) {
        depth -= 1
        streak = callerWaits ? 0 : streak + 1
    }
}
