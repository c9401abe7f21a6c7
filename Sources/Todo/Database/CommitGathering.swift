/// When the writer's next batch begins: group commit with a gathering wait, as PostgreSQL's
/// `commit_delay` waits only while `commit_siblings` transactions are active. A writer whose
/// last batch had company (`company` callers or more in it, or waiting for the next when its
/// commit ended) holds the next batch until `window` after its first change, so that more
/// changes share its transaction and its disk sync. A writer whose changes come one or two
/// at a time begins each batch at once: a lone write on a quiet node is never slowed, and
/// after a busy spell at most one batch waits. Pure: the writer passes in the clock.
struct CommitGathering {
    /// Callers that make a batch busy. Two clients writing in turn keep the writer at one
    /// or two a batch, where waiting would only add to their latency.
    static let company = 3

    let window: Duration
    /// Whether the last batch had company.
    private(set) var busy = false
    /// When the first change of the next batch came.
    private var firstArrival: ContinuousClock.Instant?

    init(window: Duration) {
        self.window = window
    }

    /// A change came for the next batch.
    mutating func arrived(at now: ContinuousClock.Instant) {
        if firstArrival == nil { firstArrival = now }
    }

    /// How long the next batch still waits at `now`; zero: begin it.
    func wait(at now: ContinuousClock.Instant) -> Duration {
        guard busy, let firstArrival else { return .zero }
        return max(.zero, firstArrival + window - now)
    }

    /// The next batch began, with `callers` callers.
    mutating func began(callers: Int) {
        busy = callers >= Self.company
        firstArrival = nil
    }

    /// Its commit ended, with `waiting` callers already waiting for the batch after it.
    mutating func ended(waiting: Int) {
        if waiting >= Self.company { busy = true }
    }
}
