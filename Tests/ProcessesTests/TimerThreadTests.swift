import Testing
@testable import Processes

struct TimerThreadTests {
    /// Waits with the same long timeout after every message (a server's idle timeout) rely on
    /// the entry already pending: one per process, however many rounds.
    @Test func repeatedLongWaitsKeepOneTimerPerProcess() async throws {
        let runtime = ProcessRuntime(node: "timers@localhost")
        let rounds = 10_000
        try await runtime.withProcess { context in
            let echo = context.spawn { echo in
                while true {
                    guard let from = try await echo.receive(Pid.self, timeout: .seconds(3_600)) else { return }
                    echo.send(0, to: from)
                }
            }
            for _ in 0..<rounds {
                context.send(context.pid, to: echo)
                let answer = try await context.receive(Int.self, timeout: .seconds(3_600))
                #expect(answer == 0)
            }
            #expect(runtime.timers.pendingCount <= 2)
            context.exit(echo, reason: .kill)
        }
    }

    @Test func aTimeoutStillFiresAmongStaleTimers() async throws {
        let runtime = ProcessRuntime(node: "timers@localhost")
        try await runtime.withProcess { context in
            let started = ContinuousClock.now
            let nothing = try await context.receive(Int.self, timeout: .milliseconds(50))
            #expect(nothing == nil)
            #expect(ContinuousClock.now - started >= .milliseconds(50))
        }
    }

    /// A wait shorter than the entry pending arms one of its own.
    @Test(.timeLimit(.minutes(1)))
    func aShortTimeoutAfterALongOneFiresInTime() async throws {
        try await messageThenNothing(firstWait: .seconds(3_600), secondWait: .milliseconds(50))
    }

    /// The entry of an earlier, shorter wait fires during a longer one: it must not end it,
    /// but arm an entry for its deadline. (The first wait is long enough for the message to
    /// come on a starved machine; the second, longer still, outlasts its entry.)
    @Test func aLongTimeoutAfterAShortOneDoesNotEndEarly() async throws {
        try await messageThenNothing(firstWait: .seconds(3), secondWait: .milliseconds(3_200))
    }

    /// A process gets a message in a wait of `firstWait` (sent once it waits), then waits
    /// `secondWait` for one that never comes: that wait ends by its timeout, and no sooner.
    private func messageThenNothing(firstWait: Duration, secondWait: Duration) async throws {
        let runtime = ProcessRuntime(node: "timers@localhost")
        try await runtime.withProcess { context in
            let me = context.pid
            runtime.spawn { sender in
                try await eventuallyWaiting([me], runtime)
                sender.send(1, to: me)
            }
            let first = try await context.receive(Int.self, timeout: firstWait)
            #expect(first == 1)
            let started = ContinuousClock.now
            let second = try await context.receive(Int.self, timeout: secondWait)
            #expect(second == nil)
            #expect(ContinuousClock.now - started >= secondWait)
        }
    }
}

/// The arming rules alone, with the clock passed in.
struct WaitTimerTests {
    let start = ContinuousClock.now

    func at(_ seconds: Int) -> ContinuousClock.Instant { start + .seconds(seconds) }

    @Test func aWaitNoEarlierThanThePendingEntryReliesOnIt() {
        var timer = WaitTimer()
        #expect(timer.begin(until: at(60)) == at(60))
        timer.end()
        #expect(timer.begin(until: at(61)) == nil)
        timer.end()
        #expect(timer.begin(until: nil) == nil)
    }

    @Test func anEarlierWaitArmsItsOwnEntry() {
        var timer = WaitTimer()
        #expect(timer.begin(until: at(60)) == at(60))
        timer.end()
        #expect(timer.begin(until: at(5)) == at(5))
        #expect(timer.needs(entry: at(5)))
        #expect(!timer.needs(entry: at(60)))
    }

    @Test func anEntryDueBeforeTheWaitsDeadlineArmsTheNext() {
        var timer = WaitTimer()
        _ = timer.begin(until: at(10))
        timer.end()
        _ = timer.begin(until: at(70))
        #expect(timer.fired(entry: at(10), now: at(10)) == .arm(at(70)))
        #expect(timer.fired(entry: at(70), now: at(70)) == .timeOut)
        #expect(timer.deadline == nil)
    }

    @Test func anEntryAfterTheWaitEndedDoesNothing() {
        var timer = WaitTimer()
        _ = timer.begin(until: at(10))
        timer.end()
        #expect(timer.fired(entry: at(10), now: at(10)) == .nothing)
        #expect(timer.armed == nil)
        #expect(timer.begin(until: at(20)) == at(20))
    }

    @Test func anEntryNoLongerReliedOnLeavesTheArmedOneInPlace() {
        var timer = WaitTimer()
        _ = timer.begin(until: at(60))
        timer.end()
        _ = timer.begin(until: at(5))
        #expect(timer.fired(entry: at(5), now: at(5)) == .timeOut)
        #expect(timer.fired(entry: at(60), now: at(60)) == .nothing)
        // Both entries have fired: the next wait arms afresh.
        #expect(timer.begin(until: at(90)) == at(90))
    }

    /// The timer thread keeps deadlines as offsets, and hands each back to its process as an
    /// instant: the instant must be the one the process armed (it is matched by equality),
    /// and offsets must order as their instants do (the heap compares offsets).
    @Test func anOffsetGivesBackItsInstantExactlyAndInOrder() {
        var generator = SystemRandomNumberGenerator()
        let offsets: [Int64] = [.min, -1_000_000_007, -1, 0, 1, 999_999_999, 1_000_000_000, .max - 1]
            + (0..<1_000).map { _ in Int64.random(in: -(1 << 62)...(1 << 62), using: &generator) }
        for offset in offsets {
            #expect(WaitTimer.offset(WaitTimer.instant(atOffset: offset)) == offset)
        }
        let sorted = offsets.sorted()
        for (earlier, later) in zip(sorted, sorted.dropFirst()) where earlier < later {
            #expect(WaitTimer.instant(atOffset: earlier) < WaitTimer.instant(atOffset: later))
        }
        // An armed entry comes back as the very instant the process relies on.
        var timer = WaitTimer()
        let armed = timer.begin(until: at(42).advanced(by: .nanoseconds(7)))
        #expect(armed.map { WaitTimer.instant(atOffset: WaitTimer.offset($0)) } == armed)
        #expect(armed.map { timer.needs(entry: WaitTimer.instant(atOffset: WaitTimer.offset($0))) } == true)
    }
}
