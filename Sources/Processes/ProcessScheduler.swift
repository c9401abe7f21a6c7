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
    /// on the pool: the caller is held up by one process at most.
    public func run(_ ready: ReadyProcesses) {
        guard let first = ready.jobs.first else { return }
        for other in ready.jobs.dropFirst() { globalConcurrentExecutor.enqueue(other) }
        first.runSynchronously(on: asUnownedTaskExecutor())
    }
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
