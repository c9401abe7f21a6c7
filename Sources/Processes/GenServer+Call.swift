/// What ended a call's wait.
@usableFromInline
enum CallAnswer<Reply> {
    case reply(Reply)
    case down(ExitReason)
}

/// Why a call failed (Erlang's call exits, as values).
public enum CallError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No answer within the timeout (the request may still be handled).
    case timeout
    /// The server was not alive when called.
    case noproc
    /// The server's node was lost during the call.
    case nodedown(String)
    /// The server ended before answering.
    case exited(ExitReason)

    public var description: String {
        switch self {
        case .timeout: "the call timed out"
        case .noproc: "no such process"
        case .nodedown(let node): "node \(node) is down"
        case .exited(let reason): "the server exited: \(reason)"
        }
    }
}

extension ProcessContext {
    /// Calls `server` and waits for its answer: fails with `CallError` when the server is gone,
    /// dies meanwhile, or does not answer within `timeout` (default 5 s, as GenServer.call).
    @inlinable
    public func call<Server: GenServer>(
        _ server: ServerRef<Server>, _ request: Server.Request, timeout: Duration = .seconds(5)
    ) async throws -> Server.Reply {
        try await call(server.pid, request, replyType: Server.Reply.self, timeout: timeout)
    }

    /// An untyped call to any pid serving `Request`. Inlinable, so that it is specialized where
    /// it is called: unspecialized, it looked up the metadata of `CallReply<Reply>` and of its
    /// own answer's type at run time for every message it looked at: about 7 % of a local
    /// call's CPU (`todo-bench calls-profile`).
    @inlinable
    public func call<Request: Sendable, Reply: Sendable>(
        _ target: Pid, _ request: Request, replyType: Reply.Type, timeout: Duration = .seconds(5)
    ) async throws -> Reply {
        let tag = cell.sendingCall {
            runtime.monitor(target, watcher: pid) { [pid] tag in
                CallMessage(from: CallFrom(caller: pid, tag: tag), request: request)
            }
        }
        defer { cell.endCall() }
        let answer = try await receive(timeout: timeout) { message -> CallAnswer<Reply>? in
            if let reply = message as? CallReply<Reply>, reply.tag == tag { return .reply(reply.value) }
            if let down = message as? Down, down.ref == tag { return .down(down.reason) }
            return nil
        }
        demonitor(tag, target: target)
        switch answer {
        case .reply(let value)?: return value
        case .down(.noproc)?: throw CallError.noproc
        case .down(.noconnection)?: throw CallError.nodedown(target.node)
        case .down(let reason)?: throw CallError.exited(reason)
        case nil:
            // A late reply must not linger in the mailbox.
            cell.discard { ($0 as? CallReply<Reply>)?.tag == tag }
            throw CallError.timeout
        }
    }

    /// Sends `message` to `server` without waiting (GenServer.cast).
    public func cast<Server: GenServer>(_ server: ServerRef<Server>, _ message: Server.Cast) {
        send(CastMessage(message: message), to: server.pid)
    }
}

extension ProcessRuntime {
    /// A call from code that is not a process (it runs as a short-lived one).
    @inlinable
    public func call<Server: GenServer>(
        _ server: ServerRef<Server>, _ request: Server.Request, timeout: Duration = .seconds(5)
    ) async throws -> Server.Reply {
        try await withProcess { try await $0.call(server, request, timeout: timeout) }
    }

    public func cast<Server: GenServer>(_ server: ServerRef<Server>, _ message: Server.Cast) {
        send(CastMessage(message: message), to: server.pid)
    }
}
