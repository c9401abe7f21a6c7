/// How a server is named when started (Erlang's `{:local, n}` / `{:via, module, n}`).
public enum ServerName: Sendable {
    case local(String)
    case via(any NameRegistry, String)
}

/// A name table a server can be registered in (the cluster's global names are one).
public protocol NameRegistry: Sendable {
    /// Registers `name` for `pid`; returns the current owner instead when the name is taken.
    func register(_ name: String, _ pid: Pid) async throws -> Pid?
    func whereis(_ name: String) async -> Pid?
    func unregister(_ name: String, _ pid: Pid) async
}

/// Why a server did not start.
public enum StartError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The name is taken: here is the process that has it (the book's cache relies on this).
    case alreadyStarted(Pid)
    /// Its init failed, or it died before answering.
    case initFailed(ExitReason)

    public var description: String {
        switch self {
        case .alreadyStarted(let pid): "already started as \(pid)"
        case .initFailed(let reason): "init failed: \(reason)"
        }
    }
}

/// The acknowledgement a starting server sends its starter.
struct StartAck: Sendable {
    let tag: Ref
    let result: Result<Pid, StartError>
}

extension ProcessContext {
    /// Starts a server and waits until its `initialize` has run (Erlang's `GenServer.start`).
    /// With `link`, it is linked to this process before it runs (`start_link`). A taken name
    /// gives `StartError.alreadyStarted(owner)`.
    public func startServer<Server: GenServer>(
        name: ServerName? = nil,
        link: Bool = false,
        trapExit: Bool = false,
        _ initialize: @escaping @Sendable (ProcessContext) async throws -> Server
    ) async throws(StartError) -> ServerRef<Server> {
        let tag = runtime.makeRef()
        let starter = pid
        var options: [ProcessRuntime.SpawnOption] = link ? [.link(starter)] : []
        if trapExit { options.append(.trapExit) }
        let server = runtime.spawn(options: options) { context in
            // Two steps, so that the frame a server waits in does not keep start-up's temporaries.
            guard let loop = try await Self.startUp(name: name, link: link, starter: starter, tag: tag, context: context, initialize) else {
                return
            }
            try await ServerLoop.run(consume loop, context)
        }
        let watch = monitor(server)
        let outcome: Result<Pid, StartError>
        do {
            outcome = try await receive { message -> Result<Pid, StartError>? in
                if let ack = message as? StartAck, ack.tag == tag { return ack.result }
                if let down = message as? Down, down.ref == watch { return .failure(.initFailed(down.reason)) }
                return nil
            }
        } catch {
            outcome = .failure(.initFailed(ExitReason(error)))
        }
        demonitor(watch, target: server)
        return try outcome.map { ServerRef<Server>($0) }.get()
    }

    /// Claims the name, runs `initialize` and tells the starter; the loop to run, nil when the
    /// name is taken, and the init's error (the process's exit reason) when it failed.
    private static func startUp<Server: GenServer>(
        name: ServerName?, link: Bool, starter: Pid, tag: Ref, context: ProcessContext,
        _ initialize: @Sendable (ProcessContext) async throws -> Server
    ) async throws -> ServerLoop<Server>? {
        if let name {
            switch await context.claim(name) {
            case .claimed: break
            case .taken(let owner):
                context.send(StartAck(tag: tag, result: .failure(.alreadyStarted(owner))), to: starter)
                return nil
            case .failed(let reason):
                context.send(StartAck(tag: tag, result: .failure(.initFailed(reason))), to: starter)
                return nil
            }
        }
        do {
            let state = try await initialize(context)
            context.send(StartAck(tag: tag, result: .success(context.pid)), to: starter)
            return ServerLoop(state: state, parent: link ? starter : nil, name: name)
        } catch {
            let reason = ExitReason(error)
            context.send(StartAck(tag: tag, result: .failure(.initFailed(reason))), to: starter)
            if case .via(let registry, let name) = name { await registry.unregister(name, context.pid) }
            throw reason
        }
    }

    enum Claim { case claimed, taken(Pid), failed(ExitReason) }

    /// Takes `name` for this process.
    func claim(_ name: ServerName) async -> Claim {
        switch name {
        case .local(let local):
            do {
                try register(local)
                return .claimed
            } catch {
                if case .taken(let owner) = error { return .taken(owner) }
                return .failed(.other("\(error)"))
            }
        case .via(let registry, let name):
            do {
                // In a task of its own: registering may go deep (a leader on another node), and
                // a task keeps the frame memory of its deepest call for as long as it lives.
                let owner = try await Task { [pid] in try await registry.register(name, pid) }.value
                return owner.map { .taken($0) } ?? .claimed
            } catch {
                return .failed(.other("cannot register \(name): \(error)"))
            }
        }
    }
}
