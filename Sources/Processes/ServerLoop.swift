/// The receive loop of a started server: dispatches calls, casts, infos and idle timeouts to
/// its `GenServer` until one of them stops it.
struct ServerLoop<Server: GenServer> {
    var state: Server
    let parent: Pid?
    let name: ServerName?

    mutating func run(_ context: ProcessContext) async throws {
        let reason = try await loopUntilStopped(context)
        try await finish(reason, context)
    }

    private mutating func loopUntilStopped(_ context: ProcessContext) async throws -> ExitReason {
        do {
            return try await loop(context)
        } catch let error as ExitReason where !context.cell.isAlive {
            throw error  // killed: no terminate, as in Erlang
        } catch {
            return ExitReason(error)
        }
    }

    private mutating func finish(_ reason: ExitReason, _ context: ProcessContext) async throws {
        await state.terminate(reason: reason, context: context)
        if case .via(let registry, let name) = name { await registry.unregister(name, context.pid) }
        if reason != .normal { throw reason }
    }

    /// Waits for the next message, then hands it to `dispatch`. A hibernating server waits
    /// in this small frame, while the larger frames of its callbacks (their temporaries)
    /// exist only in a task that serves it while it is busy (`serveWhileBusy`). That keeps an
    /// idle server near the size of an idle process.
    private mutating func loop(_ context: ProcessContext) async throws -> ExitReason {
        var waited = Duration.zero  // of the idle timeout, already spent by the busy task
        // Until when a new spell is one of a server in steady use (see `serveWhileBusy`).
        var warmUntil = WaitTimer.Moment.min
        while true {
            if Server.hibernates { context.cell.hibernate(true) }  // waiting idle, it keeps none
            let message = try await nextMessage(context, idleTimeout: state.idleTimeout.map { max(.zero, $0 - waited) })
            waited = .zero
            guard Server.hibernates else {
                if let reason = try await dispatch(message, context) { return reason }
                continue
            }
            let lingering = WaitTimer.now() < warmUntil
            switch try await serveInOwnTask(message, lingering: lingering, context) {
            case .stopped(let reason): return reason
            case .idle(let time):
                waited = time
                warmUntil = WaitTimer.moment(after: Server.hibernateAfter)
            }
        }
    }

    /// How a busy spell of a hibernating server ended.
    fileprivate enum Spell {
        case stopped(ExitReason)
        /// No mail came for this long: the task ended, and its frames went with it.
        case idle(Duration)
    }

    /// `serveWhileBusy` in a task of its own. The loop is moved to the task and back while
    /// this one waits, so one task at a time touches it, as the process's own. Moved, not
    /// copied: a copy would share the state's storage, and the callback's first write to it
    /// (a list's array) would copy all of it.
    private mutating func serveInOwnTask(_ message: (any Sendable)?, lingering: Bool, _ context: ProcessContext) async throws -> Spell {
        context.runtime.serverSpells.add(1, ordering: .relaxed)
        let handoff = LoopHandoff(consume self)
        let outcome = await Task(executorPreference: context.runtime.scheduler) {
            await handoff.serve(message, lingering: lingering, context)
        }.value
        self = handoff.loop
        return try outcome.get()
    }

    /// Dispatches `first`, then every message already waiting, and idle timeouts no longer
    /// than `hibernateAfter`; gives up when the server stops or no mail waits. A `lingering`
    /// spell, one that began within `hibernateAfter` of the last one's end, also waits for
    /// mail that comes within `hibernateAfter` (stretched to the grid) of the last.
    /// A server in steady use so pays for one task per spell, not one per message; one woken
    /// now and then (most to-do lists) hibernates as soon as it has answered, without the
    /// timer, the wake and the second task switch that ending a wait for mail costs.
    fileprivate mutating func serveWhileBusy(_ first: (any Sendable)?, lingering: Bool, _ context: ProcessContext) async throws -> Spell {
        context.cell.hibernate(false)  // the spell keeps the mailbox's buffers between messages
        var message = first
        while true {
            if let reason = try await dispatch(message, context) { return .stopped(reason) }
            let idleTimeout = state.idleTimeout
            if let idleTimeout, idleTimeout <= Server.hibernateAfter {
                message = try await nextMessage(context, idleTimeout: idleTimeout)
                continue
            }
            guard lingering else {
                message = try await nextMessage(context, idleTimeout: .zero)
                if message == nil { return .idle(.zero) }
                continue
            }
            let wait = hibernationWait(Server.hibernateAfter)
            message = try await nextMessage(context, idleTimeout: wait)
            if message == nil { return .idle(wait) }
        }
    }

    /// Runs the callback for one message (nil: the idle timeout); the exit reason when the
    /// server stops.
    fileprivate mutating func dispatch(_ message: (any Sendable)?, _ context: ProcessContext) async throws -> ExitReason? {
        let action: ServerAction
        switch message {
        case nil:
            action = try await state.handleTimeout(context: context)
        case let call as CallMessage<Server.Request>:
            switch try await state.handleCall(call.request, from: call.from, context: context) {
            case .reply(let value):
                call.from.reply(value, via: context.runtime)
                action = .continue
            case .noReply:
                action = .continue
            case .replyAndStop(let value, let reason):
                call.from.reply(value, via: context.runtime)
                action = .stop(reason)
            }
        case let cast as CastMessage<Server.Cast>:
            action = try await state.handleCast(cast.message, context: context)
        case let exit as Exit where exit.from == parent:
            // The parent's exit signal, trapped: stop with its reason (gen_server's rule).
            action = .stop(exit.reason)
        case let other?:
            action = try await state.handleInfo(other, context: context)
        }
        if case .stop(let reason) = action { return reason }
        return nil
    }
}

/// `hibernateAfter`, stretched to end on a 50 ms grid: busy servers re-arm the timer of this
/// wait with every message, so its entry fires every `hibernateAfter`, and servers whose
/// entries fall in the same 50 ms then share one wake of the timer thread (a thousand busy
/// list servers: 20 wakes a second, not 4,000).
func hibernationWait(_ hibernateAfter: Duration, now: ContinuousClock.Instant = .now) -> Duration {
    let steps = ((now + hibernateAfter) - hibernationGrid.origin) / hibernationGrid.step
    return (hibernationGrid.origin + hibernationGrid.step * Int(steps.rounded(.up))) - now
}

private let hibernationGrid = (origin: ContinuousClock.now, step: Duration.milliseconds(50))

/// The next message for a server, or nil after `idleTimeout`. Not generic and not inlined,
/// so the frame a server waits in stays small whatever the server's type.
@inline(never)
private func nextMessage(_ context: ProcessContext, idleTimeout: Duration?) async throws -> (any Sendable)? {
    if let idleTimeout { return try await context.receiveAny(timeout: idleTimeout) }
    return try await context.receiveAny()
}

/// A server's loop, lent to the task that serves it while it is busy, while its own task
/// waits: never touched by both at once.
private final class LoopHandoff<Server: GenServer>: @unchecked Sendable {
    var loop: ServerLoop<Server>
    init(_ loop: consuming ServerLoop<Server>) { self.loop = loop }

    func serve(_ message: (any Sendable)?, lingering: Bool, _ context: ProcessContext) async -> Result<ServerLoop<Server>.Spell, any Error> {
        do { return .success(try await loop.serveWhileBusy(message, lingering: lingering, context)) } catch { return .failure(error) }
    }
}
