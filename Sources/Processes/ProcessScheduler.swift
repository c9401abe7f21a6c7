import Foundation

/// Where every process runs (a task executor, as Erlang's schedulers are to its processes):
/// on the global concurrent pool, with one thing the pool cannot do. A thread that makes
/// processes ready by delivering messages (a node's transport) may keep one of them and run
/// it itself, so a message that arrives wakes no other thread.
public final class ProcessScheduler: TaskExecutor, @unchecked Sendable {
    /// The scheduler of every runtime in this OS process.
    public static let shared = ProcessScheduler()

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if let collector = JobCollector.current {
            collector.jobs.append(job)
            return
        }
        globalConcurrentExecutor.enqueue(job)
    }

    // MARK: Running where the message arrived

    /// Processes made ready on a delivering thread, not yet queued.
    public struct ReadyProcesses {
        fileprivate var jobs: [UnownedJob]
    }

    /// Runs `body` (which delivers messages) and returns, instead of queueing them, the
    /// processes it made ready; hand them to `run(_:)`.
    public func collectingReady<T>(_ body: () -> T) -> (T, ReadyProcesses) {
        let collector = JobCollector()
        let outer = JobCollector.current
        JobCollector.current = collector
        let result = body()
        JobCollector.current = outer
        return (result, ReadyProcesses(jobs: collector.jobs))
    }

    /// Runs the first ready process on this thread, until it next waits, and queues the rest
    /// on the pool. What that process makes ready in turn (a process it spawned, the server
    /// it called) runs here next the same way, a few at most, so that a request that crosses
    /// processes wakes no thread either, and the caller is held up only so long.
    public func run(_ ready: ReadyProcesses) {
        var next = ready.jobs.first
        for other in ready.jobs.dropFirst() { globalConcurrentExecutor.enqueue(other) }
        var budget = Self.chainBudget
        while let job = next, budget > 0 {
            budget -= 1
            let ((), madeReady) = collectingReady { job.runSynchronously(on: asUnownedTaskExecutor()) }
            next = madeReady.jobs.first
            for other in madeReady.jobs.dropFirst() { globalConcurrentExecutor.enqueue(other) }
        }
        if let next { globalConcurrentExecutor.enqueue(next) }
    }

    /// How many processes, one after another, a delivering thread runs itself.
    static let chainBudget = 4
}

/// Where `ProcessScheduler.enqueue` puts jobs on a thread inside `collectingReady`.
private final class JobCollector {
    var jobs: [UnownedJob] = []

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static var current: JobCollector? {
        get { pthread_getspecific(key).map { Unmanaged<JobCollector>.fromOpaque($0).takeUnretainedValue() } }
        set { pthread_setspecific(key, newValue.map { Unmanaged.passUnretained($0).toOpaque() }) }
    }
}
