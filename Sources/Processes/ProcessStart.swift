/// A spawned process whose task is not made yet. `spawn` makes only the process's cell (its
/// pid, mailbox, links and monitors, all a process needs to be sent to, linked and monitored)
/// and queues this; the pool thread that first runs the process makes its task. The task and
/// its first frames are most of a new process's memory, so a process that spawns many pays
/// only for their cells, and the rest is made by the threads that run them, in parallel.
/// A hibernated process is woken the same way, with the rest of its body.
struct ProcessStart: Sendable {
    typealias Body = @Sendable (ProcessContext) async throws -> Void

    let cell: ProcessCell
    let body: Body

    /// Makes the process's task, whose first job is queued on `scheduler`; a process killed
    /// before it ever ran has ended already, and does not run at all. A body that hibernates
    /// ends its task, not its process. Detached, as an Erlang process inherits no process
    /// dictionary: a task made at once inside a caller's task (a call waking a hibernated
    /// server) would copy the caller's task-local values (a web request's, say), at an
    /// allocation each. The priority stays the starter's, as before.
    func begin(on scheduler: ProcessScheduler) {
        guard cell.isAlive else { return }
        Task.detached(executorPreference: scheduler, priority: Task.currentPriority) { [cell, body] in
            let reason: ExitReason
            do {
                try await body(ProcessContext(cell: cell))
                reason = .normal
            } catch is Hibernated {
                return
            } catch {
                reason = ExitReason(error)
            }
            cell.terminate(reason)
        }
    }
}

/// Thrown by a process body that has hibernated (`ProcessCell.hibernate(until:then:)`) to end
/// its task: the process lives on without one.
struct Hibernated: Error {}
