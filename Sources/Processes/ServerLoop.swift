/// The receive loop of a started server: dispatches calls, casts, infos and idle timeouts to
/// its `GenServer` until one of them stops it.
struct ServerLoop<Server: GenServer> {
    var state: Server
    let parent: Pid?
    let name: ServerName?

    mutating func run(_ context: ProcessContext) async throws {
        if Server.hibernates { context.cell.hibernate() }
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

    /// Waits for the next message, then hands it to `dispatch`: a server waits in this small
    /// frame, while `dispatch`'s larger one (every callback's temporaries) exists only while
    /// it runs. That keeps an idle server near the size of an idle process.
    private mutating func loop(_ context: ProcessContext) async throws -> ExitReason {
        while true {
            let message = try await nextMessage(context, idleTimeout: state.idleTimeout)
            if Server.hibernates {
                if let reason = try await dispatchInOwnTask(message, context) { return reason }
            } else if let reason = try await dispatch(message, context) {
                return reason
            }
        }
    }

    /// `dispatch` in a task of its own, which ends with the callback: its frames go with it.
    /// The loop is moved to the task and back while this one waits, so one task at a time
    /// touches it, as the process's own. Moved, not copied: a copy would share the state's
    /// storage, and the callback's first write to it (a list's array) would copy all of it.
    private mutating func dispatchInOwnTask(_ message: (any Sendable)?, _ context: ProcessContext) async throws -> ExitReason? {
        let handoff = LoopHandoff(consume self)
        let outcome = await Task(executorPreference: context.runtime.scheduler) {
            await handoff.dispatch(message, context)
        }.value
        self = handoff.loop
        return try outcome.get()
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

/// The next message for a server, or nil after `idleTimeout`. Not generic and not inlined,
/// so the frame a server waits in stays small whatever the server's type.
@inline(never)
private func nextMessage(_ context: ProcessContext, idleTimeout: Duration?) async throws -> (any Sendable)? {
    if let idleTimeout { return try await context.receiveAny(timeout: idleTimeout) }
    return try await context.receiveAny()
}

/// A server's loop, lent to the task that runs one callback while its own task waits:
/// never touched by both at once.
private final class LoopHandoff<Server: GenServer>: @unchecked Sendable {
    var loop: ServerLoop<Server>
    init(_ loop: consuming ServerLoop<Server>) { self.loop = loop }

    func dispatch(_ message: (any Sendable)?, _ context: ProcessContext) async -> Result<ExitReason?, any Error> {
        do { return .success(try await loop.dispatch(message, context)) } catch { return .failure(error) }
    }
}
