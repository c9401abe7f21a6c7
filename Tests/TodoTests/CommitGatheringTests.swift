import Testing
@testable import Todo

/// When the writer's next batch begins, with the clock passed in.
struct CommitGatheringTests {
    let start = ContinuousClock.now
    let window = Duration.milliseconds(2)

    @Test func aLoneWriteBeginsAtOnce() {
        var gathering = CommitGathering(window: window)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start, callers: 1) == .zero)
        gathering.began(callers: 1, withPeers: false)
        gathering.arrived(at: start + .milliseconds(5))
        #expect(gathering.wait(at: start + .milliseconds(5), callers: 1) == .zero)
    }

    @Test func afterABusyBatchTheNextWaitsTheWindowFromItsFirstChange() {
        var gathering = CommitGathering(window: window)
        gathering.began(callers: CommitGathering.company, withPeers: false)
        gathering.arrived(at: start)
        gathering.arrived(at: start + .microseconds(500))  // company: the wait is not pushed back
        #expect(gathering.wait(at: start + .microseconds(500), callers: 2) == .microseconds(1_500))
        #expect(gathering.wait(at: start + window, callers: 2) == .zero)
        #expect(gathering.wait(at: start + .milliseconds(3), callers: 2) == .zero)
    }

    /// It waits for as many callers as the last batch had: once they came, it begins.
    @Test func theWaitEndsWhenTheUsualCompanyHasCome() {
        var gathering = CommitGathering(window: window)
        gathering.began(callers: 5, withPeers: false)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start + .microseconds(100), callers: 4) == .microseconds(1_900))
        #expect(gathering.wait(at: start + .microseconds(100), callers: 5) == .zero)
        #expect(gathering.wait(at: start + .microseconds(100), callers: 7) == .zero)
    }

    /// Changes that came while the last commit ran, longer ago than the window, begin as soon
    /// as it ends.
    @Test func changesThatWaitedOutTheWindowDuringACommitBeginAtOnce() {
        var gathering = CommitGathering(window: window)
        gathering.began(callers: 4, withPeers: false)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start + .microseconds(200), callers: 1) == .microseconds(1_800))
        #expect(gathering.wait(at: start + .milliseconds(4), callers: 1) == .zero)
    }

    /// Two clients writing in turn keep a batch or two callers: their writes are not held.
    @Test func lessCompanyThanThatDoesNotWait() {
        var gathering = CommitGathering(window: window)
        gathering.began(callers: CommitGathering.company - 1, withPeers: false)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start, callers: 1) == .zero)
    }

    /// After the busy spell, one batch waits, and the quiet one after it does not.
    @Test func aQuietBatchEndsTheBusySpell() {
        var gathering = CommitGathering(window: window)
        gathering.began(callers: 10, withPeers: false)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start, callers: 1) == window)
        gathering.began(callers: 1, withPeers: false)
        gathering.arrived(at: start + .milliseconds(10))
        #expect(gathering.wait(at: start + .milliseconds(10), callers: 1) == .zero)
    }

    /// With peers, each batch is a request to each and a commit on each: it may wait two
    /// windows; once the node is alone again, one.
    @Test func aBatchAfterOneWithPeersMayWaitTwoWindows() {
        var gathering = CommitGathering(window: window)
        gathering.began(callers: 5, withPeers: true)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start + .microseconds(100), callers: 1) == window * 2 - .microseconds(100))
        #expect(gathering.wait(at: start + window * 2, callers: 1) == .zero)
        #expect(gathering.wait(at: start + .microseconds(100), callers: 5) == .zero)
        gathering.began(callers: 5, withPeers: false)
        gathering.arrived(at: start + .milliseconds(10))
        #expect(gathering.wait(at: start + .milliseconds(10), callers: 1) == window)
    }

    @Test func aZeroWindowNeverWaits() {
        var gathering = CommitGathering(window: .zero)
        gathering.began(callers: 100, withPeers: true)
        gathering.arrived(at: start)
        #expect(gathering.wait(at: start, callers: 1) == .zero)
    }
}
