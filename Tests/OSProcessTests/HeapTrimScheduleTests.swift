import Testing
@testable import OSProcess

/// How often a node gives its free heap back: soon after a burst, rarely while the heap is
/// in steady use.
struct HeapTrimScheduleTests {
    @Test func trimsThatReleaseLittleWaitTwiceAsLongUpToTheLongest() {
        var schedule = HeapTrimSchedule()
        #expect(schedule.wait == HeapTrimSchedule.shortest)
        var waits: [Duration] = []
        for _ in 0..<6 {
            schedule.released(HeapTrimSchedule.worthwhileBytes - 1)
            waits.append(schedule.wait)
        }
        #expect(waits == [20, 40, 80, 160, 160, 160].map { Duration.seconds($0) })
    }

    @Test func aTrimThatReleasesMuchBringsTheWaitBackToTheShortest() {
        var schedule = HeapTrimSchedule()
        for _ in 0..<3 { schedule.released(0) }
        #expect(schedule.wait == .seconds(80))
        schedule.released(HeapTrimSchedule.worthwhileBytes)
        #expect(schedule.wait == HeapTrimSchedule.shortest)
        schedule.released(100 << 20)
        #expect(schedule.wait == HeapTrimSchedule.shortest)
    }
}
