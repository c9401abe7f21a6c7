import Cluster
import Processes
import Testing
@testable import Todo

/// The writer's bookkeeping of what each replicated batch still waits for, with the clock
/// passed in.
struct ReplicaAcksTests {
    let runtime = ProcessRuntime(node: "n1@localhost")
    let two = NodeName(name: "n2", host: "localhost"), three = NodeName(name: "n3", host: "localhost")
    let start = ContinuousClock.now

    func requests() -> (Ref, Ref, [Ref: NodeName]) {
        let (a, b) = (runtime.makeRef(), runtime.makeRef())
        return (a, b, [a: two, b: three])
    }

    @Test func aBatchWithNoPeerIsDoneWhenItsCommitHereEnds() {
        var acks = ReplicaAcks<Int>()
        let id = acks.add([1, 2], requests: [:], deadline: start + .seconds(5))
        #expect(!acks.isEmpty)
        let done = acks.committed(id, failure: nil)
        #expect(done?.waiters == [1, 2])
        #expect(done?.localFailure == nil && done?.failures.isEmpty == true)
        #expect(acks.isEmpty)
        #expect(acks.committed(id, failure: nil) == nil)  // once only
    }

    @Test func aBatchIsDoneWhenEveryPeerHasAnsweredWithTheFailuresInTheirWordsAndTheNodesThatStoredIt() {
        var acks = ReplicaAcks<Int>()
        let (a, b, sent) = requests()
        let id = acks.add([1], requests: sent, deadline: start + .seconds(5))
        #expect(acks.committed(id, failure: "disk full") == nil)
        #expect(acks.answered(a, failure: nil) == nil)
        #expect(acks.answered(a, failure: nil) == nil)  // an answer twice counts once
        #expect(acks.answered(runtime.makeRef(), failure: nil) == nil)  // not a tag of ours
        let done = acks.answered(b, failure: "the function failed: locked")
        #expect(done?.waiters == [1])
        #expect(done?.localFailure == "disk full")
        #expect(done?.failures == [three: "the function failed: locked"])
        #expect(done?.storedOn == [two])
        #expect(acks.isEmpty && acks.nextDeadline == nil)
    }

    /// The writer does not wait for its commit: a batch whose peers answered while the next
    /// batch's commit runs is done then, and one whose peers answered first waits for its own.
    @Test func aBatchIsDoneByItsOwnCommitAndPeersWhateverTheNextBatchDoes() {
        var acks = ReplicaAcks<Int>()
        let (a1, b1, first) = requests()
        let (a2, b2, second) = requests()
        let one = acks.add([1], requests: first, deadline: start + .seconds(5))
        #expect(acks.committed(one, failure: nil) == nil)
        let two = acks.add([2], requests: second, deadline: start + .seconds(5))  // its commit runs
        #expect(acks.answered(a1, failure: nil) == nil)
        #expect(acks.answered(b1, failure: nil)?.waiters == [1])
        #expect(acks.answered(a2, failure: nil) == nil)
        #expect(acks.answered(b2, failure: nil) == nil)  // every peer has it; this node not yet
        #expect(acks.committed(two, failure: nil)?.waiters == [2])
        #expect(acks.isEmpty)
    }

    @Test func aPeerThatGoesDownIsABadNodeOfEveryBatchThatWaitsForIt() {
        var acks = ReplicaAcks<Int>()
        let (a1, _, first) = requests()
        let (_, b2, second) = requests()
        _ = acks.committed(acks.add([1], requests: first, deadline: start + .seconds(5)), failure: nil)
        _ = acks.committed(acks.add([2], requests: second, deadline: start + .seconds(5)), failure: nil)
        #expect(acks.answered(a1, failure: nil) == nil)
        let done = acks.down(three)
        #expect(done.map(\.waiters) == [[1]])  // the second still waits for n2
        #expect(done.first?.failures.keys.sorted() == [three])
        #expect(acks.answered(b2, failure: nil) == nil)  // n3's tag is no longer waited for
        let rest = acks.down(two)
        #expect(rest.map(\.waiters) == [[2]])
        #expect(rest.first?.failures.keys.sorted() == [two, three])
    }

    @Test func theNextDeadlineIsTheEarliestWhateverTheOrderOfBatches() {
        var acks = ReplicaAcks<Int>()
        for seconds in [9, 3, 7, 5] {
            _ = acks.add([seconds], requests: requests().2, deadline: start + .seconds(seconds))
        }
        #expect(acks.nextDeadline == start + .seconds(3))
        _ = acks.expire(at: start + .seconds(3))
        #expect(acks.nextDeadline == start + .seconds(5))
    }

    @Test func peersThatDoNotAnswerByTheDeadlineAreBadNodes() {
        var acks = ReplicaAcks<Int>()
        let (a, _, sent) = requests()
        _ = acks.committed(acks.add([1], requests: sent, deadline: start + .seconds(5)), failure: nil)
        _ = acks.committed(acks.add([2], requests: requests().2, deadline: start + .seconds(6)), failure: nil)
        #expect(acks.nextDeadline == start + .seconds(5))
        #expect(acks.answered(a, failure: nil) == nil)
        #expect(acks.expire(at: start + .milliseconds(4_999)).isEmpty)
        let done = acks.expire(at: start + .seconds(5))
        #expect(done.map(\.waiters) == [[1]])
        #expect(done.first?.failures.keys.sorted() == [three])
        #expect(acks.nextDeadline == start + .seconds(6))
        // Past its deadline, a batch whose commit here runs still waits for it, and no longer
        // counts for the next deadline.
        let third = acks.add([3], requests: requests().2, deadline: start + .seconds(7))
        #expect(acks.expire(at: start + .seconds(8)).map(\.waiters) == [[2]])
        #expect(acks.nextDeadline == nil)
        #expect(acks.committed(third, failure: nil)?.waiters == [3])
        // Stopping: everything left is done, with what it still waited for as bad nodes, and a
        // commit that did not end as this node's failure.
        _ = acks.add([4], requests: requests().2, deadline: start + .seconds(9))
        let last = acks.finishAll(unfinishedCommit: "stopped")
        #expect(last.map(\.waiters) == [[4]])
        #expect(last.first?.localFailure == "stopped")
        #expect(last.first?.failures.keys.sorted() == [two, three])
        #expect(acks.isEmpty)
    }
}

extension ReplicaAcks.Done: Equatable where Waiter: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.waiters == rhs.waiters && lhs.localFailure == rhs.localFailure && lhs.failures == rhs.failures
    }
}
