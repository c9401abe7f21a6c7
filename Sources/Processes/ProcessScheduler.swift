import DequeModule
import Foundation
import Synchronization

/// Where every process runs (a task executor, as Erlang's schedulers are to its processes):
/// on the global concurrent pool, job by job, as every other task, with three things the pool
/// cannot do:
/// - a thread that makes processes ready by delivering messages (a node's transport, or the
///   store's thread as a commit ends) may keep one of them and run it itself, so a message
///   that arrives wakes no other thread;
/// - a spawned process's task is made by the pool thread that first runs it (`start`), not
///   by its spawner. Like an Erlang process, it inherits no task-local values from it;
/// - a caller's thread runs the server it calls, while it waits for the answer
///   (`collectingHandOff`).
public final class ProcessScheduler: TaskExecutor, @unchecked Sendable {
    /// The scheduler of every runtime in this OS process (`startNext` relies on it being the
    /// only one).
    public static let shared = ProcessScheduler()

    /// Each thread's `JobCollector`. Stored here rather than in a static, which would call
    /// `swift_once` at every look (several per message delivered).
    private let collectorKey = JobCollector.makeKey()

    private init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if let collector = JobCollector.current(collectorKey) {
            collector.jobs.append(job)
            return
        }
        globalConcurrentExecutor.enqueue(job)
    }

    // MARK: Starting a spawned process

    /// Starts a spawned process, or a hibernated one that mail woke: its task is made by the
    /// pool thread that first runs it, so the spawner (the sender) pays only for the cell.
    /// Inside `runningReady` or a call's send it is made at once, so that it runs on this
    /// thread next. Otherwise it waits in `starts`, and one turn of the pool is asked for per
    /// process (in order, as each job is), with a block made once.
    func start(_ process: ProcessStart) {
        if JobCollector.current(collectorKey) != nil {
            process.begin(on: self)
            return
        }
        starts.withLock { $0.append(process) }
        Self.pool.async(execute: Self.startNext)
    }

    private let starts = Mutex(StartQueue())
    /// Kept: each `DispatchQueue.global()` makes a wrapper object.
    private static let pool = DispatchQueue.global()

    private static let startNext: @Sendable @convention(block) () -> Void = {
        let scheduler = ProcessScheduler.shared
        guard let process = scheduler.starts.withLock({ $0.popFirst() }) else { return }
        scheduler.firstJob(of: process)?.runSynchronously(on: scheduler.asUnownedTaskExecutor())
    }

    /// Spawned processes waiting for their first turn, oldest first. Its storage is let go
    /// once a burst of spawns has been started, so that a million spawned at once do not
    /// leave 32 MB behind for good.
    struct StartQueue {
        private var waiting = Deque<ProcessStart>()
        private var grown = false
        static let keptCapacity = 1_024

        mutating func append(_ process: ProcessStart) {
            waiting.append(process)
            if waiting.count > Self.keptCapacity { grown = true }
        }

        mutating func popFirst() -> ProcessStart? {
            let first = waiting.popFirst()
            if grown, waiting.isEmpty {
                waiting = Deque()
                grown = false
            }
            return first
        }
    }

    /// Makes `process`'s task on this thread and gives its first job, to be run here at once
    /// rather than queued on the pool again.
    private func firstJob(of process: ProcessStart) -> UnownedJob? {
        let collector = JobCollector.ofThisThread(collectorKey)
        collector.isCollecting = true
        process.begin(on: self)
        collector.isCollecting = false
        defer { collector.jobs.removeAll(keepingCapacity: true) }
        return collector.jobs.first
    }

    // MARK: Running where the message arrived

    /// Runs `body` (which delivers messages), then runs here the first process it made ready,
    /// until that process next waits, and queues the rest on the pool. What that process makes
    /// ready in turn (a process it spawned, the server it called) runs here next the same way,
    /// a few at most, so that a request that crosses processes wakes no thread either, and the
    /// caller is held up only so long. Called inside itself, it leaves the ready processes to
    /// the outer call.
    public func runningReady<T>(_ body: () -> T) -> T {
        let collector = JobCollector.ofThisThread(collectorKey)
        guard !collector.isCollecting else { return body() }
        collector.isCollecting = true
        let result = body()
        var budget = Self.chainBudget
        while budget > 0, let job = collector.takeFirstQueueingTheRest() {
            budget -= 1
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
        collector.isCollecting = false
        // Past the budget: the first is queued too.
        for job in collector.jobs { globalConcurrentExecutor.enqueue(job) }
        collector.jobs.removeAll(keepingCapacity: true)
        return result
    }

    /// How many processes, one after another, a delivering thread runs itself.
    static let chainBudget = 4

    // MARK: Handing a call's thread to its server

    /// Runs `send` (a call's request) and keeps the job of the process it made ready, the
    /// server, for this thread to run once the caller waits for the answer (`runHandedOff`),
    /// rather than queue it behind the pool's other work while the caller's thread looks for
    /// some (Go's `runnext`). Kept on the thread, not in the caller's cell (which every process
    /// would pay for): nothing else runs on this thread before the caller's wait takes it, as
    /// a call suspends nowhere before then. Nothing is kept inside `runningReady`, which runs
    /// the server next anyway, nor inside a handed-off server as deep as servers may nest.
    func collectingHandOff<T>(_ send: () -> T) -> T {
        let collector = JobCollector.ofThisThread(collectorKey)
        guard !collector.isCollecting, collector.turns.mayNest else { return send() }
        collector.isCollecting = true
        let sent = send()
        collector.isCollecting = false
        if let stale = collector.takeHandOff() { globalConcurrentExecutor.enqueue(stale) }  // never lose one
        collector.handOff = collector.takeFirstQueueingTheRest()
        return sent
    }

    /// Runs the kept server, if any, on this thread inside its caller's wait, which has parked
    /// its continuation: an answer that comes meanwhile only marks it resumed, and the caller
    /// goes on once the server next waits. Within `HandOffTurns`' limits; past them the
    /// server is queued. `callerWaits` tells, after the server's turn, whether the caller is
    /// left to suspend. Swift's runtime allows a job run inside another task's: it sets the
    /// outer task back as the running one after (`runJobInEstablishedExecutorContext`).
    func runHandedOff(callerWaits: () -> Bool) {
        let collector = JobCollector.ofThisThread(collectorKey)
        guard let server = collector.takeHandOff() else { return }
        guard collector.turns.begin() else {
            globalConcurrentExecutor.enqueue(server)
            return
        }
        server.runSynchronously(on: asUnownedTaskExecutor())
        collector.turns.end(callerWaits: callerWaits())
    }

    /// Queues the kept server, if any, on the pool: its caller will not wait for it here (its
    /// answer, or news of the server's end, was already in, or other mail came first).
    func queueHandOff() {
        if let server = JobCollector.ofThisThread(collectorKey).takeHandOff() { globalConcurrentExecutor.enqueue(server) }
    }

    /// Whether this code runs in a handed-off server's turn (for tests).
    static var isRunningHandedOff: Bool { JobCollector.ofThisThread(shared.collectorKey).turns.depth > 0 }
}

/// Where `ProcessScheduler.enqueue` puts jobs on a thread inside `runningReady`, and where a
/// call's server waits for its caller's thread: one per thread, made on its first use and
/// kept, so that a round of a node's transport allocates nothing for it.
private final class JobCollector {
    var jobs: [UnownedJob] = []
    var isCollecting = false
    /// A call's server, from its request to its caller's wait (`collectingHandOff`).
    var handOff: UnownedJob?
    var turns = HandOffTurns()

    /// The kept server, now no longer kept.
    func takeHandOff() -> UnownedJob? {
        defer { handOff = nil }
        return handOff
    }

    /// The first job collected, the others queued on the pool; nil when there is none.
    func takeFirstQueueingTheRest() -> UnownedJob? {
        guard let first = jobs.first else { return nil }
        for other in jobs.dropFirst() { globalConcurrentExecutor.enqueue(other) }
        jobs.removeAll(keepingCapacity: true)
        return first
    }

    /// The thread-specific key collectors are kept under; each is released with its thread.
    static func makeKey() -> pthread_key_t {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in raw.map { Unmanaged<JobCollector>.fromOpaque($0).release() } }
        return key
    }

    /// This thread's collector while it collects; nil otherwise (a cheap look for `enqueue`).
    static func current(_ key: pthread_key_t) -> JobCollector? {
        guard let raw = pthread_getspecific(key) else { return nil }
        let collector = Unmanaged<JobCollector>.fromOpaque(raw).takeUnretainedValue()
        return collector.isCollecting ? collector : nil
    }

    static func ofThisThread(_ key: pthread_key_t) -> JobCollector {
        if let raw = pthread_getspecific(key) { return Unmanaged<JobCollector>.fromOpaque(raw).takeUnretainedValue() }
        let collector = JobCollector()
        pthread_setspecific(key, Unmanaged.passRetained(collector).toOpaque())
        return collector
    }
}
