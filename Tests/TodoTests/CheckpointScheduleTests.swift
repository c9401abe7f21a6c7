import Testing
@testable import Todo

struct CheckpointScheduleTests {
    @Test func oneCheckpointAtATimeAndAtMostOncePerInterval() {
        let start = ContinuousClock.now
        var schedule = CheckpointSchedule(interval: .milliseconds(50))
        func starts(after elapsed: Duration) -> Bool { schedule.startAfterCommit(at: start + elapsed) }

        #expect(starts(after: .zero))
        // Running: commits meanwhile start none, however late.
        #expect(!starts(after: .milliseconds(10)))
        #expect(!starts(after: .seconds(5)))
        schedule.finished()
        #expect(!schedule.running)
        #expect(starts(after: .seconds(5)))
        schedule.finished()
        // Counted from the last start.
        #expect(!starts(after: .seconds(5) + .milliseconds(49)))
        #expect(starts(after: .seconds(5) + .milliseconds(50)))
        #expect(schedule.running)
    }
}
