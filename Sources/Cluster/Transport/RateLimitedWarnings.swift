/// Warnings that outside input can cause, at most one line per `interval`: the first is
/// logged at once, later ones are counted and summed up once the interval has passed, so a
/// flood of bad connections costs the log a line a minute, not a line a packet. Pure: the
/// caller gives the time.
struct RateLimitedWarnings {
    let interval: Duration
    private var lastLogged: Duration?
    private var suppressed = 0
    private var lastWhat = ""

    init(interval: Duration) {
        self.interval = interval
    }

    /// Whether to log `what` now; if not, it is counted for the next summary. While a summary
    /// is pending it is counted too, even past the interval: logged on its own, it would come
    /// before the summary of warnings older than it, which `due` would then count as newer.
    mutating func note(_ what: String, now: Duration) -> Bool {
        if let lastLogged, suppressed > 0 || now - lastLogged < interval {
            suppressed += 1
            lastWhat = what
            return false
        }
        lastLogged = now
        return true
    }

    /// The summary of what was held back, once the interval since the last line has passed.
    mutating func due(now: Duration) -> (count: Int, what: String)? {
        guard suppressed > 0, let lastLogged, now - lastLogged >= interval else { return nil }
        defer { suppressed = 0 }
        self.lastLogged = now
        return (suppressed, lastWhat)
    }
}
