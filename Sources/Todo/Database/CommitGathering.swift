/// When the writer's next batch begins: group commit with a gathering wait, as PostgreSQL's
/// `commit_delay` waits only while `commit_siblings` transactions are active. After a batch
/// with company (`company` callers or more), the next batch waits for as many callers, at
/// most `window` after its first change, so that more changes share its transaction and its
/// disk sync. Callers that came while the last commit ran count: when they are as many, the
/// batch begins as soon as that commit ends. A writer whose changes come one or two at a
/// time begins each batch at once: a lone write on a quiet node is never slowed, and after a
/// busy spell at most one batch waits. Pure: the writer passes in the clock.
///
/// The wait pays where the CPU is short, and costs where the disk sync is the bottleneck:
/// clients that write and wait in a closed loop then find the disk idle while the batch
/// gathers. The count ends the wait as soon as the usual company has come, which keeps that
/// cost small (see `TodoSettings.commitGathering`). While the node has peers, a batch is
/// also a request to each of them and a commit on each, so company saves more there: the
/// wait may last twice the window.
struct CommitGathering {
    /// Callers that make a batch busy. Two clients writing in turn keep the writer at one
    /// or two a batch, where waiting would only add to their latency.
    static let company = 3

    /// How many windows a batch may wait while the node has peers.
    static let windowsWithPeers = 2

    let window: Duration
    /// How many callers the next batch waits for: as many as the last one had.
    private(set) var expected = 0
    /// How long the next batch may wait, from its first change: the window, or
    /// `windowsWithPeers` of them when the last batch began with peers.
    private var limit: Duration
    /// When the first change of the next batch came.
    private var firstArrival: ContinuousClock.Instant?

    init(window: Duration) {
        self.window = window
        limit = window
    }

    /// A change came for the next batch.
    mutating func arrived(at now: ContinuousClock.Instant) {
        if firstArrival == nil { firstArrival = now }
    }

    /// How long the next batch, with `callers` callers so far, still waits at `now`; zero:
    /// begin it.
    func wait(at now: ContinuousClock.Instant, callers: Int) -> Duration {
        guard expected >= Self.company, callers < expected, let firstArrival else { return .zero }
        return max(.zero, firstArrival + limit - now)
    }

    /// The next batch began, with `callers` callers, on a node with or without peers.
    mutating func began(callers: Int, withPeers: Bool) {
        expected = callers
        limit = withPeers ? window * Self.windowsWithPeers : window
        firstArrival = nil
    }
}
