import Foundation
import Processes
import Testing
@testable import Todo

/// When the writer's next batch begins, with the clock passed in.
struct CommitGatheringTests {
    let start = ContinuousClock.now
    let window = Duration.milliseconds(2)

    @Test func aLoneWriteBeginsAtOnce() {
        var gathering = CommitGathering(window: window)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start) == .zero)
        gathering.began(callers: 1)
        gathering.ended(waiting: 0)
        gathering.arrived(at: start + .milliseconds(5))
        #expect(gathering.wait(at: start + .milliseconds(5)) == .zero)
    }

    @Test func afterABusyBatchTheNextWaitsTheWindowFromItsFirstChange() {
        var gathering = CommitGathering(window: window)
        gathering.began(callers: CommitGathering.company)
        gathering.ended(waiting: 0)
        #expect(gathering.busy)
        gathering.arrived(at: start)
        gathering.arrived(at: start + .microseconds(500))  // company: the wait is not pushed back
        #expect(gathering.wait(at: start + .microseconds(500)) == .microseconds(1_500))
        #expect(gathering.wait(at: start + window) == .zero)
        #expect(gathering.wait(at: start + .milliseconds(3)) == .zero)
    }

    @Test func callersWaitingWhenACommitEndsMakeItBusy() {
        var gathering = CommitGathering(window: window)
        gathering.began(callers: 1)
        gathering.arrived(at: start)  // while the commit runs
        gathering.ended(waiting: CommitGathering.company)
        #expect(gathering.wait(at: start + .microseconds(200)) == .microseconds(1_800))
        // Changes that waited longer than the window for the commit begin at once.
        #expect(gathering.wait(at: start + .milliseconds(4)) == .zero)
    }

    /// Two clients writing in turn keep a batch or two callers: their writes are not held.
    @Test func lessCompanyThanThatDoesNotWait() {
        var gathering = CommitGathering(window: window)
        gathering.began(callers: CommitGathering.company - 1)
        gathering.ended(waiting: CommitGathering.company - 1)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start) == .zero)
    }

    /// After the busy spell, one batch waits, and the quiet one after it does not.
    @Test func aQuietBatchEndsTheBusySpell() {
        var gathering = CommitGathering(window: window)
        gathering.began(callers: 10)
        gathering.ended(waiting: 0)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start) == window)
        gathering.began(callers: 1)
        gathering.ended(waiting: 0)
        gathering.arrived(at: start + .milliseconds(10))
        #expect(gathering.wait(at: start + .milliseconds(10)) == .zero)
    }

    @Test func aZeroWindowNeverWaits() {
        var gathering = CommitGathering(window: .zero)
        gathering.began(callers: 100)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start) == .zero)
    }
}
