/// A spawned process whose task is not made yet. `spawn` makes only the process's cell (its
/// pid, mailbox, links and monitors, all a process needs to be sent to, linked and monitored)
/// and queues this; the pool thread that first runs the process makes its task. The task and
/// its first frames are most of a new process's memory, so a process that spawns many pays
/// only for their cells, and the rest is made by the threads that run them, in parallel.
struct ProcessStart: Sendable {
    let cell: ProcessCell
    let body: @Sendable (ProcessContext) async throws -> Void

    /// Makes the process's task, whose first job is queued on `scheduler`; a process killed
    /// before it ever ran has ended already, and does not run at all.
    func begin(on scheduler: ProcessScheduler) {
        guard cell.isAlive else { return }
        Task(executorPreference: scheduler) { [cell, body] in
            let reason: ExitReason
            do {
                try await body(ProcessContext(cell: cell))
                reason = .normal
            } catch {
                reason = ExitReason(error)
            }
            cell.terminate(reason)
        }
    }
}
