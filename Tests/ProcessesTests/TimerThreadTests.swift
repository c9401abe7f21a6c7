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

    /// Once a process has ended, its entry is dropped the next time the heap is rebuilt, while
    /// the entries of live processes stay: short-lived waiters do not pile up.
    @Test func entriesOfEndedProcessesAreDroppedAndLiveOnesKept() async throws {
        let runtime = ProcessRuntime(node: "timers@localhost")
        func waiters(_ count: Int) async throws -> [Pid] {
            let pids = (0..<count).map { _ in
                runtime.spawn { waiter in _ = try await waiter.receive(Int.self, timeout: .seconds(3_600)) }
            }
            try await eventuallyWaiting(pids, runtime)
            return pids
        }
        try await runtime.withProcess { context in
            let ended = try await waiters(3_000)
            for pid in ended { context.send(0, to: pid) }
            let deadline = ContinuousClock.now + patience
            while runtime.processCount > 1 {
                try #require(ContinuousClock.now < deadline, "the waiters never ended")
                try await Task.sleep(for: .milliseconds(1))
            }
            // The heap was last rebuilt at 2,048 entries, all live: the next rebuild, at 4,096,
            // finds the 3,000 of ended processes.
            #expect(runtime.timers.pendingCount >= 3_000)
            let live = try await waiters(1_200)
            #expect(runtime.timers.pendingCount < 3_000)
            #expect(runtime.timers.pendingCount >= 1_200)
            for pid in live { context.send(0, to: pid) }
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

    func at(_ seconds: Int) -> WaitTimer.Moment { WaitTimer.moment(of: start + .seconds(seconds)) }

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

    /// A moment is nanoseconds from one epoch: moments order as their instants do, a timeout
    /// counts from now, and a deadline centuries away is clamped to a wait without end
    /// (never to the "no deadline" value, nor past it).
    @Test func momentsOrderAsTheirInstantsAndClampAtTheEnds() {
        let base = ContinuousClock.now
        let steps: [Duration] = [.nanoseconds(-1_000_000_007), .nanoseconds(-1), .zero, .nanoseconds(1),
                                 .nanoseconds(999_999_999), .seconds(1), .seconds(86_400), .seconds(3_600 * 24 * 365)]
        let origin = WaitTimer.moment(of: base)
        let moments = steps.map { WaitTimer.moment(of: base + $0) }
        #expect(moments == moments.sorted())
        #expect(Set(moments).count == moments.count)
        for (step, moment) in zip(steps, moments) {
            let (seconds, attoseconds) = step.components
            #expect(moment - origin == seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
        let before = WaitTimer.now()
        let soon = WaitTimer.moment(after: .seconds(60))
        let after = WaitTimer.now()
        #expect(soon >= before + 60_000_000_000 && soon <= after + 60_000_000_000)
        let centuries = WaitTimer.moment(after: .seconds(400 * 365 * 86_400))
        #expect(centuries == Int64.max - 1)
        var timer = WaitTimer()
        #expect(timer.begin(until: centuries) == centuries)
        #expect(timer.deadline == centuries)
        #expect(WaitTimer.moment(of: base - .seconds(400 * 365 * 86_400)) == Int64.min)
    }
}
