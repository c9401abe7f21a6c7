import Cluster
import Testing
@testable import Todo

struct CatchUpTurnsTests {
    let peers = ["a@h", "b@h", "c@h"].compactMap { try? NodeName(parsing: $0) }

    @Test func roundsTakeThePeersInTurn() {
        var turns = CatchUpTurns()
        let taken = (0..<6).compactMap { _ in turns.nextRound(among: peers) }
        #expect(taken == [peers[1], peers[2], peers[0], peers[1], peers[2], peers[0]])
    }

    /// A peer that a catch-up runs from (one that came up, say) is skipped for the next, until
    /// every catch-up from it has ended.
    @Test func aRoundSkipsAPeerWhileACatchUpFromItRuns() {
        var turns = CatchUpTurns()
        turns.began(from: peers[1])
        turns.began(from: peers[1])  // it came up twice
        #expect(turns.nextRound(among: peers) == peers[2])
        #expect(turns.nextRound(among: peers) == peers[0])
        #expect(turns.nextRound(among: peers) == peers[2])  // b's turn, but it runs: c
        turns.ended(from: peers[1])
        #expect(turns.isRunning(from: peers[1]))
        turns.ended(from: peers[1])
        #expect(!turns.isRunning(from: peers[1]))
        #expect(turns.nextRound(among: peers) == peers[0])
        #expect(turns.nextRound(among: peers) == peers[1])
    }

    @Test func noRoundWhenACatchUpRunsFromEveryPeerOrThereIsNone() {
        var turns = CatchUpTurns()
        #expect(turns.nextRound(among: []) == nil)
        for peer in peers { turns.began(from: peer) }
        #expect(turns.nextRound(among: peers) == nil)
        turns.ended(from: peers[0])
        #expect(turns.nextRound(among: peers) == peers[0])
    }
}
