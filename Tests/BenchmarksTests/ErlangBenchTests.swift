import Testing
@testable import todo_bench

/// The Erlang reference's figures come from one line its node prints: the round trip's p50
/// and the CPU ticks of all three OS processes over the timed round trips, then the same for
/// the multicall.
struct ErlangBenchTests {
    @Test func theLineBecomesFiguresPerOperation() throws {
        let output = "=WARNING REPORT==== something the runtime said\n88.350 744 97.590 588\n"
        let figures = try #require(ErlangBench.figures(from: output, roundTrips: 1_000, multicalls: 500, ticksPerSecond: 100))
        #expect(figures.roundTripP50 == 88.35)
        #expect(figures.multicallP50 == 97.59)
        // 744 ticks of 10 ms over 1,000 round trips: 7.44 ms each; 588 over 500 multicalls.
        #expect(abs(figures.roundTripCPU - 7_440) < 1e-6)
        #expect(abs(figures.multicallCPU - 11_760) < 1e-6)
    }

    @Test func noLineOfFourNumbersGivesNoFigures() {
        #expect(ErlangBench.figures(from: "", roundTrips: 1, multicalls: 1, ticksPerSecond: 100) == nil)
        #expect(ErlangBench.figures(from: "{badmatch,pang}\n1 2 3\n", roundTrips: 1, multicalls: 1, ticksPerSecond: 100) == nil)
        #expect(ErlangBench.figures(from: "1 2 3 4", roundTrips: 0, multicalls: 1, ticksPerSecond: 100) == nil)
        // Four numbers among other words are not the line.
        #expect(ErlangBench.figures(from: "after 1 2 3 4", roundTrips: 1, multicalls: 1, ticksPerSecond: 100) == nil)
    }
}
