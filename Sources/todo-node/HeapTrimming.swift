import Foundation
import Logging
import OSProcess

/// Gives the node's free heap back to the system now and then, as `HeapTrimSchedule` says,
/// on a thread of its own for as long as the program runs: a trim holds the allocator's
/// arenas for some milliseconds, which no thread of the concurrency pool should wait out.
enum HeapTrimming {
    static func start(logger: Logger) {
        let thread = Thread {
            var schedule = HeapTrimSchedule()
            while true {
                let wait = schedule.wait.components
                Thread.sleep(forTimeInterval: Double(wait.seconds) + Double(wait.attoseconds) / 1e18)
                let start = ContinuousClock.now
                let released = Heap.releaseFreePages()
                schedule.released(released)
                logger.debug("gave \(released >> 10) KiB of free heap back to the system in \(ContinuousClock.now - start); the next trim in \(schedule.wait)")
            }
        }
        thread.name = "heap trimming"
        thread.start()
    }
}
