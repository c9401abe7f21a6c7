/// The timer side of one process's timed waits, as a pure state machine (the cell holds it
/// under its lock; the clock is passed in). A timer entry is armed lazily: a wait whose
/// deadline is no earlier than the entry already pending relies on that entry, which, when
/// it fires early, arms one for the deadline then current. A server that waits with the same
/// long idle timeout after every message so costs one entry per timeout period, not one per
/// message.
///
/// Invariant: while a wait with deadline `d` is under way, an entry with a deadline no later
/// than `d` is pending, and `armed` is the deadline of such an entry (nil: none relied on).
///
/// Both instants are kept as 8-byte offsets: every process holds this, and its size counts
/// (a waiting process's memory sits just under a step of Swift's task allocator).
struct WaitTimer: Equatable {
    /// The deadline of the wait under way; nil when none, or when it waits without one.
    var deadline: ContinuousClock.Instant? { Self.instant(deadlineOffset) }
    /// The deadline of the pending entry the waits rely on.
    var armed: ContinuousClock.Instant? { Self.instant(armedOffset) }

    private var deadlineOffset = Self.none
    private var armedOffset = Self.none

    enum Fired: Equatable {
        /// The wait's deadline has passed: wake it with a timeout.
        case timeOut
        /// The wait goes on past this entry: schedule one for its deadline.
        case arm(ContinuousClock.Instant)
        /// Nothing waits on this entry.
        case nothing
    }

    /// A wait begins; answers the deadline of an entry to schedule, if the pending one is
    /// not early enough.
    mutating func begin(until deadline: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
        deadlineOffset = Self.offset(deadline)
        return arm(for: deadlineOffset)
    }

    /// The wait ended (mail came, or it timed out); its entry stays pending for the next.
    mutating func end() { deadlineOffset = Self.none }

    /// The entry scheduled for `entry` is due at `now`.
    mutating func fired(entry: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Fired {
        if armedOffset == Self.offset(entry) { armedOffset = Self.none }
        guard deadlineOffset != Self.none else { return .nothing }
        if deadlineOffset <= Self.offset(now) {
            deadlineOffset = Self.none
            return .timeOut
        }
        return arm(for: deadlineOffset).map(Fired.arm) ?? .nothing
    }

    /// Whether the entry for `entry` is the one relied on; the others can be dropped unfired.
    func needs(entry: ContinuousClock.Instant) -> Bool { armedOffset == Self.offset(entry) }

    private mutating func arm(for deadline: Int64) -> ContinuousClock.Instant? {
        guard deadline != Self.none, deadline < armedOffset else { return nil }
        armedOffset = deadline
        return Self.instant(deadline)
    }

    // MARK: Offsets

    /// No deadline: later than any.
    private static let none = Int64.max
    private static let epoch = ContinuousClock.now

    /// Nanoseconds from the epoch, clamped: a wait of centuries is a wait without end. The
    /// timer thread keeps its entries so too, and gives them back by `instant(atOffset:)`.
    static func offset(_ instant: ContinuousClock.Instant?) -> Int64 {
        guard let instant else { return none }
        let (seconds, attoseconds) = epoch.duration(to: instant).components
        let (nanos, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : none - 1 }
        let (sum, overflowed) = nanos.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowed ? none - 1 : min(sum, none - 1)
    }

    private static func instant(_ offset: Int64) -> ContinuousClock.Instant? {
        offset == none ? nil : instant(atOffset: offset)
    }

    /// The instant `offset` stands for (`offset(instant(atOffset: x)) == x`).
    static func instant(atOffset offset: Int64) -> ContinuousClock.Instant { epoch + .nanoseconds(offset) }
}
