/// When a value was written and by which node: a hybrid logical clock reading. `clock` is
/// wall-clock milliseconds shifted left 16 bits plus a counter, so it follows real time when
/// clocks agree and still grows past every stamp a list has seen when they do not. The node
/// breaks ties, so two writes never compare equal unless they are the same write.
public struct Stamp: Hashable, Comparable, Sendable, Codable {
    public let clock: Int64
    public let node: String

    /// What entries written before stamps existed carry: older than any write.
    public static let zero = Stamp(clock: 0, node: "")

    public init(clock: Int64, node: String) {
        self.clock = clock
        self.node = node
    }

    /// The stamp of a write by `node` at wall time `millis` in a list whose newest stamp
    /// reads `last`: later than `last` whatever the wall clock says.
    public static func next(after last: Int64, by node: String, atMillis millis: Int64) -> Stamp {
        // Saturating: a stamp at the very top (only a hostile peer could send one) must not trap.
        Stamp(clock: max(last == .max ? last : last + 1, millis << 16), node: node)
    }

    public static func < (a: Stamp, b: Stamp) -> Bool {
        (a.clock, a.node) < (b.clock, b.node)
    }
}
