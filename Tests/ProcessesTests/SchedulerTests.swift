import Foundation
@testable import Processes
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(1)))
struct SchedulerTests {
    /// What a node's transport does with a message that arrives: the process it wakes runs on
    /// the transport's own thread, and a second one goes to the pool.
    @Test func aProcessWokenByADeliveryRunsOnTheDeliveringThread() async throws {
        let runtime = ProcessRuntime(node: "test@localhost")
        try await runtime.withProcess { context in
            let me = context.pid
            let first = runtime.spawn(reportingItsThread(to: me))
            let second = runtime.spawn(reportingItsThread(to: me))
            try await eventuallyWaiting([first, second], runtime)
            let deliverer = try await onThreadOfItsOwn {
                runtime.scheduler.runningReady {
                    runtime.send("go", to: first)
                    runtime.send("go", to: second)
                }
                return UInt(pthread_self())
            }
            let threads = [try await context.expectMessage(UInt.self), try await context.expectMessage(UInt.self)]
            #expect(threads.filter { $0 == deliverer }.count == 1)
        }
    }

    /// Every target runs a nonisolated async function on its caller's executor (Package.swift):
    /// a receive made by an actor looks at its mail on the actor's executor, before a wait and
    /// after it, with no hop to the pool (each such hop was a task switch, as a function began
    /// and after every call it made).
    @Test func processCodeRunsOnItsCallersExecutor() async throws {
        let onTheActorsQueue = try await QueueActor().receiveTwice(on: ProcessRuntime(node: "test@localhost"))
        #expect(onTheActorsQueue == [true, true])
    }

    /// A request that crosses processes: the woken process wakes another, which runs on the
    /// same thread next.
    @Test func whatTheWokenProcessMakesReadyRunsOnTheSameThreadNext() async throws {
        let runtime = ProcessRuntime(node: "test@localhost")
        try await runtime.withProcess { context in
            let me = context.pid
            let second = runtime.spawn(reportingItsThread(to: me))
            let first = runtime.spawn { inner in
                _ = try await inner.receive(String.self)
                inner.send("go", to: second)
                inner.send(UInt(pthread_self()), to: me)
            }
            try await eventuallyWaiting([first, second], runtime)
            let deliverer = try await onThreadOfItsOwn {
                runtime.scheduler.runningReady { runtime.send("go", to: first) }
                return UInt(pthread_self())
            }
            let threads = [try await context.expectMessage(UInt.self), try await context.expectMessage(UInt.self)]
            #expect(threads == [deliverer, deliverer])
        }
    }

    @Test func aDeliveryOutsideCollectionQueuesTheProcessOnThePool() async throws {
        let runtime = ProcessRuntime(node: "test@localhost")
        try await runtime.withProcess { context in
            let me = context.pid
            let pid = runtime.spawn(reportingItsThread(to: me))
            try await eventuallyWaiting([pid], runtime)
            let deliverer = try await onThreadOfItsOwn {
                runtime.send("go", to: pid)
                return UInt(pthread_self())
            }
            #expect(try await context.expectMessage(UInt.self) != deliverer)
        }
    }

    /// A call from the pool: the server it wakes runs on the caller's thread, inside the
    /// caller's wait, not queued behind the pool's other work.
    @Test func aCallsServerRunsOnTheCallersThreadWhileTheCallerWaits() async throws {
        let runtime = ProcessRuntime(node: "test@localhost")
        try await runtime.withProcess { context in
            let relay = try await context.startServer { _ in Relay(next: nil) }
            let (caller, hops) = try await callHandedOff(relay, chain: [relay.pid], context)
            #expect(hops == [Hop(thread: caller, handedOff: true)])
        }
    }

    /// Servers that call in turn hand off again only up to the depth limit: the next is queued
    /// on the pool.
    @Test func aChainOfCallsHandsOffOnlyToTheDepthLimit() async throws {
        let runtime = ProcessRuntime(node: "test@localhost")
        try await runtime.withProcess { context in
            var chain: [ServerRef<Relay>] = []
            for _ in 0...HandOffTurns.depthLimit {
                chain.append(try await context.startServer { [next = chain.last] _ in Relay(next: next) })
            }
            let (caller, hops) = try await callHandedOff(try #require(chain.last), chain: chain.map(\.pid), context)
            let limit = HandOffTurns.depthLimit
            #expect(hops.prefix(limit).map(\.handedOff) == Array(repeating: true, count: limit))
            #expect(hops.prefix(limit).allSatisfy { $0.thread == caller })
            #expect(hops.count == limit + 1)
            #expect(hops.last?.handedOff == false)
        }
    }

    /// A loop of calls whose answers all come during the wait never suspends its caller: its
    /// thread runs its server at most a streak of calls in a row, then queues one, so the
    /// pool's other work gets a turn.
    @Test func aLoopOfCallsGivesItsThreadBackAfterAStreak() async throws {
        let runtime = ProcessRuntime(node: "test@localhost")
        try await runtime.withProcess { context in
            let relay = try await context.startServer { _ in Relay(next: nil) }
            var handedOff: [Bool] = []
            for _ in 0..<(3 * HandOffTurns.streakLimit) {
                try await eventuallyWaiting([relay.pid], runtime)
                handedOff += try await context.call(relay, 0, timeout: patience).map(\.handedOff)
            }
            let longestStreak = handedOff.split(separator: false).map(\.count).max() ?? 0
            #expect(longestStreak <= HandOffTurns.streakLimit)
            #expect(handedOff.contains(false))
            #expect(handedOff.filter { $0 }.count >= handedOff.count / 2)
        }
    }
}

/// Where a server ran: its thread, and whether as a handed-off server.
private struct Hop: Sendable, Equatable {
    let thread: UInt
    let handedOff: Bool
}

/// A server that tells where it runs, after calling the next one when it has one.
private struct Relay: GenServer {
    let next: ServerRef<Relay>?

    mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<[Hop]> {
        let here = Hop(thread: UInt(pthread_self()), handedOff: ProcessScheduler.isRunningHandedOff)
        guard let next else { return .reply([here]) }
        return .reply([here] + (try await context.call(next, request)))
    }
}

/// Processes and task-local values: like an Erlang process, which inherits no process
/// dictionary, a process sees none of its starter's, however its task is made. (A server
/// woken by a call is made at once, inside the caller's task; made with `Task(...)` it copied
/// the caller's task-local values, such as a web request's, for the rest of its spell.)
@Suite(.timeLimit(.minutes(1)))
struct TaskLocalTests {
    enum Probe {
        @TaskLocal static var tag: String?
    }

    /// Answers with the tag its callback sees; hibernates after every spell, so that every
    /// call wakes it and makes its task anew.
    struct TagReader: GenServer {
        static var hibernates: Bool { true }
        static var hibernateAfter: Duration { .zero }

        mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<String> {
            .reply(Probe.tag ?? "none")
        }
    }

    @Test func aProcessSeesNoneOfItsStartersTaskLocalValues() async throws {
        let runtime = ProcessRuntime(node: "test@localhost")
        try await Probe.$tag.withValue("the caller's") {
            try await runtime.withProcess { context async throws in
                #expect(Probe.tag == "the caller's")
                let reader = try await context.startServer { _ in TagReader() }
                for _ in 0..<3 {
                    try await eventuallyHibernated(reader.pid, runtime)
                    #expect(try await context.call(reader, 1) == "none")
                }
                let me = context.pid
                context.spawn { spawned in spawned.send(Probe.tag ?? "none", to: me) }
                #expect(try await context.expectMessage(String.self) == "none")
            }
        }
    }
}

/// Calls `relay` (the last of `chain`) once the chain's servers wait, until the first is
/// handed off: a thread whose callers have run a full streak (`HandOffTurns`, in another
/// test) queues one server, then starts again, so this takes a few tries at most. Gives the
/// caller's thread.
private func callHandedOff(_ relay: ServerRef<Relay>, chain: [Pid], _ context: ProcessContext) async throws -> (UInt, [Hop]) {
    for _ in 0..<8 {
        try await eventuallyWaiting(chain, context.runtime)
        let caller = UInt(pthread_self())
        let hops = try await context.call(relay, 0, timeout: patience)
        if hops.first?.handedOff == true { return (caller, hops) }
    }
    Issue.record("no call was handed off")
    return (0, [])
}

/// A process body that waits for a word, then tells `watcher` which thread it runs on.
private func reportingItsThread(to watcher: Pid) -> @Sendable (ProcessContext) async throws -> Void {
    { context in
        _ = try await context.receive(String.self)
        context.send(UInt(pthread_self()), to: watcher)
    }
}

/// Runs `body` on a new OS thread (not one of the scheduler's or the global pool's).
private func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

/// An actor whose jobs run on a queue of its own, which the code it runs can tell.
private actor QueueActor {
    private final class QueueExecutor: SerialExecutor {
        let queue = DispatchQueue(label: "QueueActor")

        func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
        }
    }

    private static let mark = DispatchSpecificKey<Bool>()
    private let executor = QueueExecutor()

    init() { executor.queue.setSpecific(key: Self.mark, value: true) }

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// As a short-lived process: whether each of two receives, the second after a wait, looked
    /// at its message on this actor's queue.
    func receiveTwice(on runtime: ProcessRuntime) async throws -> [Bool] {
        try await runtime.withProcess { context in
            let me = context.pid
            context.send(1, to: me)
            let first = try await context.receive { @Sendable in $0 as? Int == 1 ? Self.onQueue : nil }
            runtime.spawn { sender in
                _ = try await sender.receive(Int.self, timeout: .milliseconds(5))  // so that the receive below waits
                sender.send(2, to: me)
            }
            let second = try await context.receive { @Sendable in $0 as? Int == 2 ? Self.onQueue : nil }
            return [first, second]
        }
    }

    private static var onQueue: Bool { DispatchQueue.getSpecific(key: mark) ?? false }
}
