import Processes

/// A dynamic supervisor that holds many children, as the to-do cache holds a list server per
/// list in use: the time from telling them to end, in an order unlike their start order, until
/// the supervisor has taken every exit, per child.
enum SupervisorBench {
    static func exitsWithManyChildren(count: Int = 50_000) async throws -> Double {
        let runtime = ProcessRuntime(node: "bench@localhost")
        return try await runtime.withProcess { context in
            context.trapExit()  // the supervisor is linked to this process: its end is a message
            let supervisor = try await context.startDynamicSupervisor()
            var pids: [Pid] = []
            pids.reserveCapacity(count)
            for _ in 0..<count {
                let spec = ChildSpec(id: "child", restart: .temporary) { supervisor in
                    supervisor.spawnLink { child in _ = try await child.receive(Int.self) }
                }
                guard case .started(let pid) = try await context.startChild(supervisor, spec) else { throw BenchFailure("no child") }
                pids.append(pid)
            }
            // Half of them from the last started down, the other half from the first up: the
            // exits come from all over the start order, as idle list servers' do.
            let order = stride(from: count - 1, through: 0, by: -2).map { pids[$0] } + stride(from: 0, to: count, by: 2).map { pids[$0] }
            for pid in pids { _ = context.monitor(pid) }
            let start = ContinuousClock.now
            for pid in order { context.send(0, to: pid) }
            for _ in 0..<count { _ = try await context.receive(Down.self) }
            // Every child has ended, so its exit waits in the supervisor's mailbox: a call
            // comes after them all.
            while try await !context.whichChildren(supervisor).isEmpty {}
            let elapsed = ContinuousClock.now - start
            context.exit(supervisor.pid, reason: .shutdown)
            return seconds(elapsed) * 1e6 / Double(count)
        }
    }
}
