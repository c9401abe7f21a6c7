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
