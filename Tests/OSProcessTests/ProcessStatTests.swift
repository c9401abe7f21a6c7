import Glibc
import Testing
@testable import OSProcess

/// A process's state and CPU time, from /proc, as the end-to-end tests and the benchmarks
/// read them.
struct ProcessStatTests {
    @Test func ourOwnCPUTimeGrowsAsWeWork() throws {
        let first = try #require(ProcessStat(pid: getpid()))
        // Busy until the kernel has counted a tick more (a tick is 10 ms), or 10 s at most.
        let deadline = ContinuousClock.now + .seconds(10)
        var spin: UInt64 = 0
        while (ProcessStat(pid: getpid())?.cpuSeconds ?? 0) <= first.cpuSeconds, ContinuousClock.now < deadline {
            for step in 0..<100_000 { spin &+= UInt64(step) }
        }
        #expect((ProcessStat(pid: getpid())?.cpuSeconds ?? 0) > first.cpuSeconds, "spun \(spin)")
    }

    @Test func anEndedChildIsAZombieUntilReapedThenGone() async throws {
        let child = try ChildProcess("/bin/sh", ["-c", "exit 0"])
        let deadline = ContinuousClock.now + .seconds(10)
        while ProcessStat(pid: child.pid)?.state != "Z", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(ProcessStat(pid: child.pid)?.state == "Z")
        #expect(child.waitForExit() == 0)
        #expect(ProcessStat(pid: child.pid) == nil)
    }

    @Test func aNameWithSpacesAndParenthesesDoesNotShiftTheFields() {
        let line = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 1 0 12345 0 0"
        let stat = ProcessStat(line: ArraySlice(line.utf8))
        #expect(stat?.state == "S")
        #expect(stat?.cpuSeconds == Double(250 + 150) / Double(sysconf(Int32(_SC_CLK_TCK))))
        #expect(ProcessStat(line: ArraySlice("4242 (cut".utf8)) == nil)
        #expect(ProcessStat(line: ArraySlice("4242 (x) S 1 2".utf8)) == nil)
    }
}
