import Testing
@testable import Processes

struct TimerThreadTests {
    /// Long timeouts that end by a message leave stale timers; they must not pile up.
    @Test func staleTimersOfLongWaitsDoNotPileUp() async throws {
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
            context.exit(echo, reason: .kill)
        }
        #expect(runtime.timers.pendingCount < rounds / 2)
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
}
