/// When the store's second connection copies the WAL into the database file (a checkpoint)
/// in the background: after a commit, one at a time, and at most once per `interval`.
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so the
/// writes of that batch, and those queued behind it, waited for the copy and for the sync of
/// the database file. Checkpoints done meanwhile leave that one little to copy or sync.
struct CheckpointSchedule {
    let interval: Duration
    private(set) var running = false
    private var lastStart: ContinuousClock.Instant?

    init(interval: Duration) {
        self.interval = interval
    }

    /// After a commit at `now`: whether to start a checkpoint (then it counts as running).
    mutating func startAfterCommit(at now: ContinuousClock.Instant) -> Bool {
        guard !running else { return false }
        if let lastStart, now - lastStart < interval { return false }
        running = true
        lastStart = now
        return true
    }

    /// The checkpoint started has ended, however it went.
    mutating func finished() {
        running = false
    }
}
