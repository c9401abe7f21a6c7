import Testing
@testable import Cluster

/// The log's bound on warnings that strangers cause, with the time given: a line at once, then
/// at most one summary an interval, counting what was held back.
struct RateLimitedWarningsTests {
    /// Whether each warning, at its second, is logged at once, and each summary's count and
    /// words (nil: none due), in the order given.
    enum Step {
        case note(String, at: Int, logged: Bool)
        case due(at: Int, summary: (count: Int, what: String)?)
    }

    func run(_ steps: [Step]) {
        var warnings = RateLimitedWarnings(interval: .seconds(60))
        for step in steps {
            switch step {
            case .note(let what, let second, let logged):
                let answer = warnings.note(what, now: .seconds(second))
                #expect(answer == logged, "\(what) at \(second) s")
            case .due(let second, let summary):
                let answer = warnings.due(now: .seconds(second))
                #expect(answer?.count == summary?.count && answer?.what == summary?.what, "summary at \(second) s")
            }
        }
    }

    @Test func theFirstIsLoggedTheRestSummedUpOnceAnInterval() {
        run([
            .note("a bad frame", at: 0, logged: true),
            .due(at: 1, summary: nil),  // nothing held back
            .note("a bad frame", at: 2, logged: false),
            .note("a silent connection", at: 30, logged: false),
            .due(at: 59, summary: nil),  // not before the interval
            .due(at: 60, summary: (2, "a silent connection")),  // the last one's words
            .due(at: 200, summary: nil),  // said once
            .note("a bad frame", at: 100, logged: false),  // the summary was a line: a new interval
        ])
    }

    @Test func aWarningAfterAQuietIntervalIsLoggedAtOnce() {
        run([
            .note("a bad frame", at: 0, logged: true),
            .note("a bad frame", at: 60, logged: true),
            .due(at: 500, summary: nil),
        ])
    }

    /// A warning that comes past the interval while a summary is pending joins the summary:
    /// logged before it, it would be counted in it as one that came after it.
    @Test func aWarningWhileASummaryIsPendingJoinsIt() {
        run([
            .note("a bad frame", at: 0, logged: true),
            .note("a bad frame", at: 10, logged: false),
            .note("a silent connection", at: 61, logged: false),  // before the summary's turn
            .due(at: 62, summary: (2, "a silent connection")),
            .due(at: 500, summary: nil),
        ])
    }
}
