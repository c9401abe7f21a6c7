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
/// Every deadline here, in the cell's wait and in the timer heap is a `Moment`: nanoseconds
/// from one epoch, 8 bytes. `ContinuousClock.Instant`'s size is known only at run time, so a
/// waiting frame allocated room for each one from the task allocator (a waiting process's
/// memory sits just under a step of it), and the heap copied and compared each through its
/// metadata. Instants are turned into moments once, at the edge (`moment(after:)`).
struct WaitTimer: Equatable {
    typealias Moment = Int64

    /// The deadline of the wait under way; nil when none, or when it waits without one.
    var deadline: Moment? { deadlineMoment == Self.never ? nil : deadlineMoment }
    /// The deadline of the pending entry the waits rely on.
    var armed: Moment? { armedMoment == Self.never ? nil : armedMoment }

    private var deadlineMoment = Self.never
    private var armedMoment = Self.never

    enum Fired: Equatable {
        /// The wait's deadline has passed: wake it with a timeout.
        case timeOut
        /// The wait goes on past this entry: schedule one for its deadline.
        case arm(Moment)
        /// Nothing waits on this entry.
        case nothing
    }

    /// A wait begins; answers the deadline of an entry to schedule, if the pending one is
    /// not early enough.
    mutating func begin(until deadline: Moment?) -> Moment? {
        deadlineMoment = deadline ?? Self.never
        return arm(for: deadlineMoment)
    }

    /// The wait ended (mail came, or it timed out); its entry stays pending for the next.
    mutating func end() { deadlineMoment = Self.never }

    /// The entry scheduled for `entry` is due at `now`.
    mutating func fired(entry: Moment, now: Moment) -> Fired {
        if armedMoment == entry { armedMoment = Self.never }
        guard deadlineMoment != Self.never else { return .nothing }
        if deadlineMoment <= now {
            deadlineMoment = Self.never
            return .timeOut
        }
        return arm(for: deadlineMoment).map(Fired.arm) ?? .nothing
    }

    /// Whether the entry for `entry` is the one relied on; the others can be dropped unfired.
    func needs(entry: Moment) -> Bool { armedMoment == entry }

    private mutating func arm(for deadline: Moment) -> Moment? {
        guard deadline != Self.never, deadline < armedMoment else { return nil }
        armedMoment = deadline
        return deadline
    }

    // MARK: Moments

    /// No deadline: later than any.
    private static let never = Moment.max
    private static let epoch = ContinuousClock.now

    /// The moment `timeout` from now. Not inlined, so that the instants it handles stay out of
    /// the waiting frame that calls it.
    @inline(never)
    static func moment(after timeout: Duration) -> Moment { moment(of: .now + timeout) }

    /// Now, as a moment (not inlined, as `moment(after:)`).
    @inline(never)
    static func now() -> Moment { moment(of: .now) }

    /// Nanoseconds from the epoch, clamped: a wait of centuries is a wait without end.
    static func moment(of instant: ContinuousClock.Instant) -> Moment {
        let (seconds, attoseconds) = epoch.duration(to: instant).components
        let (nanos, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : never - 1 }
        let (sum, overflowed) = nanos.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowed ? never - 1 : min(sum, never - 1)
    }
}
