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

    @Test func aBatchWithNoPeerIsDoneAtOnce() {
        var acks = ReplicaAcks<Int>()
        let done = acks.add([1, 2], localFailure: nil, requests: [:], deadline: start + .seconds(5))
        #expect(done?.waiters == [1, 2])
        #expect(done?.failures.isEmpty == true)
        #expect(acks.isEmpty)
    }

    @Test func aBatchIsDoneWhenEveryPeerHasAnsweredWithTheFailuresInTheirWords() {
        var acks = ReplicaAcks<Int>()
        let (a, b, sent) = requests()
        #expect(acks.add([1], localFailure: "disk full", requests: sent, deadline: start + .seconds(5)) == nil)
        #expect(acks.answered(a, failure: nil) == nil)
        #expect(acks.answered(a, failure: nil) == nil)  // an answer twice counts once
        #expect(acks.answered(runtime.makeRef(), failure: nil) == nil)  // not a tag of ours
        let done = acks.answered(b, failure: "the function failed: locked")
        #expect(done?.waiters == [1])
        #expect(done?.localFailure == "disk full")
        #expect(done?.failures == [three: "the function failed: locked"])
        #expect(acks.isEmpty && acks.nextDeadline == nil)
    }

    @Test func aPeerThatGoesDownIsABadNodeOfEveryBatchThatWaitsForIt() {
        var acks = ReplicaAcks<Int>()
        let (a1, _, first) = requests()
        let (_, b2, second) = requests()
        _ = acks.add([1], localFailure: nil, requests: first, deadline: start + .seconds(5))
        _ = acks.add([2], localFailure: nil, requests: second, deadline: start + .seconds(5))
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
            _ = acks.add([seconds], localFailure: nil, requests: requests().2, deadline: start + .seconds(seconds))
        }
        #expect(acks.nextDeadline == start + .seconds(3))
        _ = acks.expire(at: start + .seconds(3))
        #expect(acks.nextDeadline == start + .seconds(5))
    }

    @Test func peersThatDoNotAnswerByTheDeadlineAreBadNodes() {
        var acks = ReplicaAcks<Int>()
        let (a, _, sent) = requests()
        _ = acks.add([1], localFailure: nil, requests: sent, deadline: start + .seconds(5))
        _ = acks.add([2], localFailure: nil, requests: requests().2, deadline: start + .seconds(6))
        #expect(acks.nextDeadline == start + .seconds(5))
        #expect(acks.answered(a, failure: nil) == nil)
        #expect(acks.expire(at: start + .milliseconds(4_999)).isEmpty)
        let done = acks.expire(at: start + .seconds(5))
        #expect(done.map(\.waiters) == [[1]])
        #expect(done.first?.failures.keys.sorted() == [three])
        #expect(acks.nextDeadline == start + .seconds(6))
        // Stopping: everything left is done, with what it still waited for as bad nodes.
        #expect(acks.expire(at: nil).map(\.waiters) == [[2]])
        #expect(acks.isEmpty)
    }
}

extension ReplicaAcks.Done: Equatable where Waiter: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.waiters == rhs.waiters && lhs.localFailure == rhs.localFailure && lhs.failures == rhs.failures
    }
}
