/// How long the transport's poll waits for its next timer. Stored in the loop, not static:
/// a static `Duration` would be initialized lazily, with a `swift_once` at every round's look.
struct PollWait {
    let longestMilliseconds: Int
    let longest: Duration

    init(longestMilliseconds: Int) {
        self.longestMilliseconds = longestMilliseconds
        longest = .milliseconds(longestMilliseconds)
    }

    /// For a timer due in `wait`: its whole milliseconds and one more (a poll never wakes
    /// early for it), at least 1 and at most the longest. Converted only when due within the
    /// longest wait: a conversion of 128-bit attoseconds (by `components`, or to a Double)
    /// showed in every round's profile.
    func milliseconds(untilDue wait: Duration) -> Int {
        guard wait < longest else { return longestMilliseconds }
        return wait <= .zero ? 1 : Int(wait / .milliseconds(1)) + 1
    }
}
