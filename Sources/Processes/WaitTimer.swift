/// The timer side of one process's timed waits, as a pure state machine (the cell holds it
/// under its lock; the clock is passed in). A timer entry is armed lazily: a wait whose
/// deadline is no earlier than the entry already pending relies on that entry, which, when
/// it fires early, arms one for the deadline then current. A server that waits with the same
/// long idle timeout after every message so costs one entry per timeout period, not one per
/// message.
///
/// Invariant: while a wait with deadline `d` is under way, an entry with a deadline no later
/// than `d` is pending, and `armed` is the deadline of such an entry (nil: none relied on).
struct WaitTimer: Equatable {
    /// The deadline of the wait under way; nil when none, or when it waits without one.
    private(set) var deadline: ContinuousClock.Instant?
    /// The deadline of the pending entry the waits rely on.
    private(set) var armed: ContinuousClock.Instant?

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
        self.deadline = deadline
        return arm(for: deadline)
    }

    /// The wait ended (mail came, or it timed out); its entry stays pending for the next.
    mutating func end() { deadline = nil }

    /// The entry scheduled for `entry` is due at `now`.
    mutating func fired(entry: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Fired {
        if armed == entry { armed = nil }
        guard let deadline else { return .nothing }
        if deadline <= now {
            self.deadline = nil
            return .timeOut
        }
        return arm(for: deadline).map(Fired.arm) ?? .nothing
    }

    /// Whether the entry for `entry` is the one relied on; the others can be dropped unfired.
    func needs(entry: ContinuousClock.Instant) -> Bool { armed == entry }

    private mutating func arm(for deadline: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
        guard let deadline, armed.map({ $0 > deadline }) ?? true else { return nil }
        armed = deadline
        return deadline
    }
}
