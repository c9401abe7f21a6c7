@testable import Processes
import Testing

struct HandOffTurnsTests {
    @Test func serversNestOnlyToTheDepthLimit() {
        var turns = HandOffTurns()
        for _ in 0..<HandOffTurns.depthLimit {
            #expect(turns.mayNest)
            #expect(begin(&turns))
        }
        #expect(!turns.mayNest)
        #expect(!begin(&turns))
        turns.end(callerWaits: true)
        #expect(begin(&turns))
        #expect(turns.depth == HandOffTurns.depthLimit)
    }

    @Test func aCallerThatNeverSuspendsIsQueuedAfterItsStreak() {
        var turns = HandOffTurns()
        for _ in 0..<HandOffTurns.streakLimit {
            #expect(begin(&turns))
            turns.end(callerWaits: false)
        }
        #expect(!begin(&turns))  // queued: its caller suspends now
        #expect(begin(&turns))
        #expect(turns.streak == 0)
    }

    @Test func aCallerThatSuspendsStartsTheStreakAgain() {
        var turns = HandOffTurns()
        for _ in 0..<(HandOffTurns.streakLimit - 1) {
            #expect(begin(&turns))
            turns.end(callerWaits: false)
        }
        #expect(begin(&turns))
        turns.end(callerWaits: true)
        #expect(turns.streak == 0)
        #expect(turns.depth == 0)
    }
}

/// `begin()`, outside `#expect`, which cannot take a mutating call.
private func begin(_ turns: inout HandOffTurns) -> Bool { turns.begin() }
