import ClusterTestKit
import Synchronization
import Testing
@testable import Todo

@Suite struct CoalescingRoundsTests {
    /// Asks made while a round runs do not start rounds of their own: they fold into one
    /// more round of the running task's, after the one in hand.
    @Test func asksDuringARoundFoldIntoOneMoreRoundAfterIt() async throws {
        let rounds = CoalescingRounds()
        let started = Mutex(0)
        let (release, releasing) = AsyncStream.makeStream(of: Void.self)
        let first = Task {
            await rounds.run {
                // The first round waits to be let go; the one after it does not.
                if started.withLock({ $0 += 1; return $0 }) == 1 {
                    var waiting = release.makeAsyncIterator()
                    _ = await waiting.next()
                }
            }
        }
        try await eventually("the first round runs") { started.withLock { $0 } == 1 }
        await rounds.run { started.withLock { $0 += 100 } }
        await rounds.run { started.withLock { $0 += 100 } }
        #expect(started.withLock { $0 } == 1, "an ask ran a round of its own beside the first")
        releasing.yield()
        await first.value
        #expect(started.withLock { $0 } == 2, "the asks made meanwhile ran one more round")
    }

    @Test func roundsAskedOneAfterAnotherEachRun() async {
        let rounds = CoalescingRounds()
        let count = Mutex(0)
        await rounds.run { count.withLock { $0 += 1 } }
        await rounds.run { count.withLock { $0 += 1 } }
        #expect(count.withLock { $0 } == 2)
        await rounds.run { count.withLock { $0 += 1 } }
        #expect(count.withLock { $0 } == 3, "a round ended without leaving the gate shut")
    }
}
