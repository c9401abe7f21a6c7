import Processes

struct SpawnRequest: Codable, Sendable {
    let kind: String
    let arguments: [UInt8]
    let tag: Ref
    let replyTo: Pid
    let linkTo: Pid?
    let monitor: Ref?
}

struct SpawnReply: Codable, Sendable {
    let tag: Ref
    let pid: Pid?
    let error: String?
}

/// Why a remote spawn failed.
public enum SpawnError: Error, Equatable, Sendable {
    case nodedown(String)
    case unknownKind(String)
    case badArguments(String)
    case timeout
}

/// Remote spawn (Erlang's `Node.spawn` with a module and function): closures cannot travel, so
/// each node registers the kinds of process it can start, and other nodes start them by name.
public struct RemoteSpawn: Sendable {
    typealias Body = @Sendable (ProcessContext, [UInt8]) async throws -> Void
    static let serverName = "spawner"
    let node: ClusterNode

    static func registerMessages(in registry: WireRegistry) {
        registry.registerCodable(SpawnRequest.self, as: "spawn.request")
        registry.registerCodable(SpawnReply.self, as: "spawn.reply")
    }

    /// Lets other nodes start processes of `kind` here, running `body` with their arguments.
    public func register<Arguments: Codable & Sendable>(
        _ kind: String, _ body: @escaping @Sendable (ProcessContext, Arguments) async throws -> Void
    ) {
        node.spawnKinds.withLock {
            $0[kind] = { context, bytes in try await body(context, try BinaryDecoder().decode(Arguments.self, from: bytes)) }
        }
    }

    /// Starts a process of `kind` on `target` and returns its pid.
    public func spawn<Arguments: Codable & Sendable>(on target: NodeName, _ kind: String, _ arguments: Arguments) async throws -> Pid {
        try await node.runtime.withProcess { try await request(target, kind, arguments, link: false, monitor: nil, context: $0) }
    }

    /// Starts it linked to `context`'s process before it runs (Erlang's `spawn_link`).
    public func spawnLink<Arguments: Codable & Sendable>(
        on target: NodeName, _ kind: String, _ arguments: Arguments, from context: ProcessContext
    ) async throws -> Pid {
        try await request(target, kind, arguments, link: true, monitor: nil, context: context)
    }

    /// Starts it monitored by `context`'s process before it runs (Erlang's `spawn_monitor`).
    public func spawnMonitor<Arguments: Codable & Sendable>(
        on target: NodeName, _ kind: String, _ arguments: Arguments, from context: ProcessContext
    ) async throws -> (Pid, Ref) {
        let ref = node.runtime.makeRef()
        guard target != node.name else {
            return (try await request(target, kind, arguments, link: false, monitor: ref, context: context), ref)
        }
        // Recorded before the request: the child may end, and its `Down` arrive, before the
        // reply that names it (a `Down` with no record is dropped).
        let unknown = Pid(node: target.description, incarnation: 0, serial: 0)
        node.shared.withLock { $0.book.addMonitorOfRemote(ref, .init(watcher: context.pid, target: unknown), peer: target) }
        do {
            let pid = try await request(target, kind, arguments, link: false, monitor: ref, context: context)
            node.shared.withLock { $0.book.setTarget(pid, ofMonitor: ref, peer: target) }
            return (pid, ref)
        } catch {
            context.demonitor(ref, target: unknown)  // and drops a `noconnection` it may have fired
            throw error
        }
    }

    private func request<Arguments: Codable & Sendable>(
        _ target: NodeName, _ kind: String, _ arguments: Arguments, link: Bool, monitor: Ref?, context: ProcessContext
    ) async throws -> Pid {
        let bytes: [UInt8]
        do { bytes = try BinaryEncoder().encode(arguments) } catch { throw SpawnError.badArguments("\(error)") }
        let tag = node.runtime.makeRef()
        let request = SpawnRequest(kind: kind, arguments: bytes, tag: tag, replyTo: context.pid,
                                   linkTo: link ? context.pid : nil, monitor: monitor)
        let answer = try await node.ask(target, server: Self.serverName, request, from: context, timeout: .seconds(5)) {
            ($0 as? SpawnReply).flatMap { $0.tag == tag ? $0 : nil }
        }
        switch answer {
        case .reply(let reply):
            guard let pid = reply.pid else { throw SpawnError.unknownKind(kind) }
            return pid
        case .nodedown: throw SpawnError.nodedown(target.description)
        case .timeout: throw SpawnError.timeout
        }
    }

    /// The `spawner` server: starts the requested kind with the requested link or monitor in
    /// place before the body runs.
    static func startServer(on node: ClusterNode) {
        let pid = node.runtime.spawn { context in
            while true {
                let request = try await context.receive(SpawnRequest.self)
                guard let body = node.spawnKinds.withLock({ $0[request.kind] }) else {
                    context.send(SpawnReply(tag: request.tag, pid: nil, error: "unknown kind"), to: request.replyTo)
                    continue
                }
                var options: [ProcessRuntime.SpawnOption] = []
                if let linkTo = request.linkTo { options.append(.link(linkTo)) }
                if let ref = request.monitor { options.append(.monitoredBy(ref, request.replyTo)) }
                let arguments = request.arguments
                let child = node.runtime.spawn(options: options) { try await body($0, arguments) }
                if let ref = request.monitor, !node.runtime.isLocal(request.replyTo) {
                    let peer = node.peer(of: request.replyTo)
                    node.shared.withLock { $0.book.addMonitorByRemote(ref, target: child, peer: peer) }
                }
                context.send(SpawnReply(tag: request.tag, pid: child, error: nil), to: request.replyTo)
            }
        }
        try? node.runtime.register(serverName, pid)
    }
}
