/// The receive loop of a started server: dispatches calls, casts, infos and idle timeouts to
/// its `GenServer` until one of them stops it.
struct ServerLoop<Server: GenServer> {
    var state: Server
    let parent: Pid?
    let name: ServerName?

    /// Runs the server until it stops; a hibernating one in a task per busy spell
    /// (`HibernatingServer`). Consuming: the loop is moved, not copied, so its state's storage
    /// stays unique (a copy alive elsewhere would make the callback's first write to it, a
    /// list's array, copy all of it).
    static func run(_ loop: consuming ServerLoop, _ context: ProcessContext) async throws {
        guard Server.hibernates else {
            var loop = loop
            let reason = try await loop.loopUntilStopped(context)
            try await loop.finish(reason, context)
            return
        }
        try await HibernatingServer(loop).live(context, woken: false)
    }

    private mutating func loopUntilStopped(_ context: ProcessContext) async throws -> ExitReason {
        do {
            while true {
                let message = try await nextMessage(context, idleTimeout: state.idleTimeout)
                if let reason = try await dispatch(message, context) { return reason }
            }
        } catch {
            return try Self.stopReason(error, context)
        }
    }

    /// The reason a callback's error stops the server with; rethrown when the server was
    /// killed, which runs no `terminate`, as in Erlang.
    fileprivate static func stopReason(_ error: any Error, _ context: ProcessContext) throws -> ExitReason {
        if let reason = error as? ExitReason, !context.cell.isAlive { throw reason }
        return ExitReason(error)
    }

    fileprivate mutating func finish(_ reason: ExitReason, _ context: ProcessContext) async throws {
        await state.terminate(reason: reason, context: context)
        if case .via(let registry, let name) = name { await registry.unregister(name, context.pid) }
        if reason != .normal { throw reason }
    }

    /// How a busy spell of a hibernating server ended.
    fileprivate enum Spell {
        case stopped(ExitReason)
        /// No mail came for this long: the server hibernates.
        case idle(Duration)
    }

    /// Dispatches `first`, then every message already waiting, and idle timeouts no longer
    /// than `hibernateAfter`; gives up when the server stops or no mail waits. A `lingering`
    /// spell, one that began within `hibernateAfter` of the last one's end, also waits for
    /// mail that comes within `hibernateAfter` (stretched to the grid) of the last.
    /// A server in steady use so pays for one task per spell, not one per message; one woken
    /// now and then (most to-do lists) hibernates as soon as it has answered, without the
    /// timer and the wake that ending a wait for mail costs.
    fileprivate mutating func serveWhileBusy(_ first: (any Sendable)?, lingering: Bool, _ context: ProcessContext) async throws -> Spell {
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

/// A hibernating server. Between busy spells it has no task: its cell holds this box, and
/// its next mail (or its idle timeout) starts a task that serves the next spell
/// (`ProcessCell.hibernate(until:then:)`), then hibernates again. A task keeps the memory of
/// its deepest frames until it ends, so an idle server is its cell and this box. The loop
/// is moved from task to task in the box, never copied; one task at a time touches it, as
/// the next starts only once this one has hibernated.
private final class HibernatingServer<Server: GenServer>: @unchecked Sendable {
    private var loop: ServerLoop<Server>
    /// Until when a new spell is one of a server in steady use (see `serveWhileBusy`).
    private var warmUntil = WaitTimer.Moment.min
    /// When the idle timeout runs out, counted from the last message; nil: never.
    private var idleDeadline: WaitTimer.Moment?

    init(_ loop: consuming ServerLoop<Server>) {
        self.loop = loop
        idleDeadline = self.loop.state.idleTimeout.map(WaitTimer.moment(after:))
    }

    /// Serves the server in this task until it stops or hibernates (then throws `Hibernated`,
    /// which ends the task and leaves the process): from its start it hibernates at once,
    /// woken it serves a spell first. Mail that came meanwhile is served in this task.
    func live(_ context: ProcessContext, woken: Bool) async throws {
        var serveFirst = woken
        while true {
            if !serveFirst, context.cell.hibernate(until: idleDeadline, then: { [self] in try await live($0, woken: true) }) {
                throw Hibernated()
            }
            serveFirst = false
            if let reason = try await spell(context) {
                try await loop.finish(reason, context)
                return
            }
        }
    }

    /// One busy spell: the mail that woke the server, or its idle timeout, and what follows
    /// (`serveWhileBusy`); the reason it stopped with, if it did.
    private func spell(_ context: ProcessContext) async throws -> ExitReason? {
        context.runtime.serverSpells.add(1, ordering: .relaxed)
        do {
            let left = idleDeadline.map { Duration.nanoseconds(max(0, $0 - WaitTimer.now())) }
            let message = try await nextMessage(context, idleTimeout: left)
            switch try await loop.serveWhileBusy(message, lingering: WaitTimer.now() < warmUntil, context) {
            case .stopped(let reason):
                return reason
            case .idle(let waited):
                warmUntil = WaitTimer.moment(after: Server.hibernateAfter)
                idleDeadline = loop.state.idleTimeout.map { WaitTimer.moment(after: max(.zero, $0 - waited)) }
                return nil
            }
        } catch {
            return try ServerLoop<Server>.stopReason(error, context)
        }
    }
}
