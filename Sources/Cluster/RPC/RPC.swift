import Processes
import Synchronization

/// Why a remote call failed (Erlang's `{:badrpc, reason}`).
public enum RPCError: Error, Equatable, Sendable, CustomStringConvertible {
    case nodedown(String)
    case timeout
    /// The function threw; its words.
    case remote(String)
    /// No function of that name on the target node.
    case undefined(String)
    case badArguments(String)

    public var description: String {
        switch self {
        case .nodedown(let node): "node \(node) is down"
        case .timeout: "the call timed out"
        case .remote(let words): "the function failed: \(words)"
        case .undefined(let name): "no function \(name) on that node"
        case .badArguments(let words): "bad arguments: \(words)"
        }
    }
}

struct RPCRequest: Codable, Sendable {
    let tag: Ref
    let from: Pid
    let function: String
    let arguments: [UInt8]
}

extension RPCRequest: WireCodable {
    func encode(to writer: inout WireWriter) {
        tag.encode(to: &writer)
        from.encode(to: &writer)
        writer.writeString(function)
        writer.writeBytes(arguments)
    }

    init(from reader: inout WireReader) throws(WireError) {
        tag = try Ref(from: &reader)
        from = try Pid(from: &reader)
        function = try reader.readString()
        arguments = try reader.readBytes()
    }
}

struct RPCReply: Codable, Sendable {
    enum Outcome: Codable, Sendable {
        case value([UInt8])
        case failed(String)
        case undefined
        case badArguments(String)
    }

    let tag: Ref
    let outcome: Outcome
}

extension RPCReply: WireCodable {
    func encode(to writer: inout WireWriter) {
        tag.encode(to: &writer)
        switch outcome {
        case .value(let bytes): writer.write(0); writer.writeBytes(bytes)
        case .failed(let words): writer.write(1); writer.writeString(words)
        case .undefined: writer.write(2)
        case .badArguments(let words): writer.write(3); writer.writeString(words)
        }
    }

    init(from reader: inout WireReader) throws(WireError) {
        tag = try Ref(from: &reader)
        switch try reader.read() {
        case 0: outcome = .value(try reader.readBytes())
        case 1: outcome = .failed(try reader.readString())
        case 2: outcome = .undefined
        case 3: outcome = .badArguments(try reader.readString())
        default: throw .malformed("bad rpc reply")
        }
    }
}

/// Remote procedure calls (Erlang's `:rpc`): functions registered by name on each node, run
/// on request in a process of their own by the node's `rex` server.
public struct RPC: Sendable {
    /// A registered function: its encoded arguments, the process it runs in and the node that
    /// called it, to its encoded result.
    typealias Function = @Sendable ([UInt8], ProcessContext, NodeName) async throws -> [UInt8]

    static let serverName = "rex"
    @usableFromInline
    let node: ClusterNode

    static func registerMessages(in registry: WireRegistry) {
        registry.register(RPCRequest.self, as: "rpc.request")
        registry.register(RPCReply.self, as: "rpc.reply")
    }

    /// Registers `function` under `name` on this node, callable from any node.
    public func register<Arguments: Codable & Sendable, Result: Codable & Sendable>(
        _ name: String, _ function: @escaping @Sendable (Arguments) async throws -> Result
    ) {
        register(name) { (arguments: Arguments, _: ProcessContext) in try await function(arguments) }
    }

    /// As `register(_:_:)`, for a function that works in the process `rex` runs it in, as an
    /// Erlang function called by rpc does (to call a server without a process of its own).
    public func register<Arguments: Codable & Sendable, Result: Codable & Sendable>(
        _ name: String, _ function: @escaping @Sendable (Arguments, ProcessContext) async throws -> Result
    ) {
        register(name) { (arguments: Arguments, context: ProcessContext, _: NodeName) in try await function(arguments, context) }
    }

    /// As `register(_:_:)`, for a function that needs to know the node that called it.
    public func register<Arguments: Codable & Sendable, Result: Codable & Sendable>(
        _ name: String, _ function: @escaping @Sendable (Arguments, ProcessContext, NodeName) async throws -> Result
    ) {
        node.rpcFunctions.withLock {
            $0[name] = { bytes, context, caller in
                let arguments = try Self.decode(Arguments.self, from: bytes)
                return try Self.encode(try await function(arguments, context, caller))
            }
        }
    }

    /// Calls `name` on `target` and waits at most `timeout` (Erlang's `:rpc.call`).
    public func call<Arguments: Codable & Sendable, Result: Codable & Sendable>(
        _ target: NodeName, _ name: String, _ arguments: Arguments, returning: Result.Type = Result.self,
        timeout: Duration = .seconds(5)
    ) async throws(RPCError) -> Result {
        let encoded: [UInt8]
        do { encoded = try Self.encode(arguments) } catch { throw .badArguments("\(error)") }
        let outcome: Swift.Result<[UInt8], RPCError>
        do {
            outcome = try await node.runtime.withProcess { context in
                try await self.request(target, name, encoded, timeout: timeout, context: context)
            }
        } catch {
            throw .timeout
        }
        let bytes = try outcome.get()
        do { return try Self.decode(Result.self, from: bytes) } catch { throw .badArguments("cannot read the answer: \(error)") }
    }

    /// Arguments and results in their hand-written wire form when they have one (both ends
    /// name the same types, so they agree), else in the tagged binary form.
    @inlinable
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        // By the static type, as `decode` does: a cast alone would unwrap an Optional.
        if T.self is any WireCodable.Type, let wire = value as? any WireCodable {
            var writer = WireWriter()
            wire.encode(to: &writer)
            return writer.bytes
        }
        return try BinaryEncoder().encode(value)
    }

    /// An answer's bytes as the caller's type, or why they are not.
    @inlinable
    static func decoded<T: Decodable>(_ answer: Swift.Result<[UInt8], RPCError>, as type: T.Type) -> Swift.Result<T, RPCError> {
        answer.flatMap { bytes in
            do { return .success(try decode(T.self, from: bytes)) } catch { return .failure(.badArguments("cannot read the answer: \(error)")) }
        }
    }

    @inlinable
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        if let wire = T.self as? any WireCodable.Type {
            var reader = WireReader(bytes)
            guard let value = try wire.init(from: &reader) as? T, reader.isAtEnd else {
                throw WireError.malformed("trailing or mistyped bytes")
            }
            return value
        }
        return try BinaryDecoder().decode(T.self, from: bytes)
    }

    /// Calls `name` on every node of `nodes` (default: this node and every visible peer) at
    /// once; answers by node, and the nodes that failed or did not answer in time, as
    /// `:rpc.multicall` gives `{results, bad_nodes}`. One process sends every request (the
    /// arguments encoded once) and gathers the replies by tag, watching the nodes it waits on.
    /// Inlinable, as `ClusterNode.multiCall` is: specialized for the caller's types, it builds
    /// its answers without looking types and conformances up at run time.
    @inlinable
    public func multicall<Arguments: Codable & Sendable, Result: Codable & Sendable>(
        on nodes: [NodeName]? = nil, _ name: String, _ arguments: Arguments, returning: Result.Type = Result.self,
        timeout: Duration = .seconds(5)
    ) async -> (results: [NodeName: Swift.Result<Result, RPCError>], badNodes: [NodeName]) {
        let targets = Array(Set(nodes ?? ([node.name] + node.nodes())))
        var outcomes: [NodeName: Swift.Result<[UInt8], RPCError>] = [:]
        let encoded: [UInt8]
        do { encoded = try Self.encode(arguments) } catch {
            return (Dictionary(uniqueKeysWithValues: targets.map { ($0, .failure(.badArguments("\(error)"))) }), [])
        }
        let reachable = await node.connected(targets)
        for target in targets where !reachable.contains(target) { outcomes[target] = .failure(.nodedown(target.description)) }
        do {
            let gathered = try await node.runtime.withProcess { context in
                try await self.gather(reachable, name, encoded, timeout: timeout, context: context)
            }
            outcomes.merge(gathered) { $1 }
        } catch {  // as `call`: a wait that could not finish is a timeout
            for target in reachable { outcomes[target] = .failure(.timeout) }
        }
        var results: [NodeName: Swift.Result<Result, RPCError>] = [:]
        for (target, outcome) in outcomes {
            results[target] = Self.decoded(outcome, as: Result.self)
        }
        let bad = results.compactMap { target, result -> NodeName? in
            switch result {
            case .failure(.nodedown), .failure(.timeout): target
            default: nil
            }
        }.sorted()
        return (results, bad)
    }

    /// Sends the request to `rex` on every target from `context`'s process, then takes the
    /// replies by tag until all came, a node went down, or `timeout` passed.
    @usableFromInline
    func gather(
        _ targets: Set<NodeName>, _ name: String, _ arguments: [UInt8], timeout: Duration, context: ProcessContext
    ) async throws -> [NodeName: Swift.Result<[UInt8], RPCError>] {
        var pending: [Ref: NodeName] = [:]
        for target in targets {
            if target != node.name { node.monitorNode(target, for: context.pid) }
            let tag = context.runtime.makeRef()
            pending[tag] = target
            sendRequest(to: target, name, encodedArguments: arguments, tag: tag, replyTo: context.pid)
        }
        defer { for target in targets where target != node.name { node.demonitorNode(target, for: context.pid) } }
        var outcomes: [NodeName: Swift.Result<[UInt8], RPCError>] = [:]
        let deadline = ContinuousClock.now + timeout
        while !pending.isEmpty, ContinuousClock.now < deadline {
            let waiting = pending
            let event = try await context.receive(timeout: deadline - .now) { message -> (Ref?, NodeName, RPCReply.Outcome?)? in
                if let reply = message as? RPCReply, let target = waiting[reply.tag] { return (reply.tag, target, reply.outcome) }
                if let down = message as? NodeDown, waiting.values.contains(down.node) { return (nil, down.node, nil) }
                return nil
            }
            guard let (tag, target, outcome) = event else { break }
            if let tag, let outcome {
                pending.removeValue(forKey: tag)
                outcomes[target] = Self.result(outcome, name)
            } else {
                pending = pending.filter { $0.value != target }
                outcomes[target] = .failure(.nodedown(target.description))
            }
        }
        for target in pending.values { outcomes[target] = .failure(.timeout) }
        return outcomes
    }

    static func result(_ outcome: RPCReply.Outcome, _ name: String) -> Swift.Result<[UInt8], RPCError> {
        switch outcome {
        case .value(let bytes): .success(bytes)
        case .failed(let words): .failure(.remote(words))
        case .undefined: .failure(.undefined(name))
        case .badArguments(let words): .failure(.badArguments(words))
        }
    }

    private func request(
        _ target: NodeName, _ name: String, _ arguments: [UInt8], timeout: Duration, context: ProcessContext
    ) async throws -> Swift.Result<[UInt8], RPCError> {
        let tag = context.runtime.makeRef()
        let request = RPCRequest(tag: tag, from: context.pid, function: name, arguments: arguments)
        let answer = try await node.ask(target, server: Self.serverName, request, from: context, timeout: timeout) {
            ($0 as? RPCReply).flatMap { $0.tag == tag ? $0.outcome : nil }
        }
        switch answer {
        case .reply(let outcome): return Self.result(outcome, name)
        case .nodedown: return .failure(.nodedown(target.description))
        case .timeout: return .failure(.timeout)
        }
    }

    /// The `rex` server: each request runs in a process of its own, so a slow function does
    /// not hold up the others.
    static func startServer(on node: ClusterNode) {
        let pid = node.runtime.spawn { context in
            while true {
                let request = try await context.receive(RPCRequest.self)
                let function = node.rpcFunctions.withLock { $0[request.function] }
                context.spawn { worker in
                    let outcome: RPCReply.Outcome
                    if let function {
                        do {
                            outcome = .value(try await function(request.arguments, worker, NodeName(unchecked: request.from.node)))
                        } catch let error as DecodingError {
                            outcome = .badArguments("\(error)")
                        } catch let error as WireError {
                            outcome = .badArguments("\(error)")
                        } catch {
                            outcome = .failed("\(error)")
                        }
                    } else {
                        outcome = .undefined
                    }
                    worker.send(RPCReply(tag: request.tag, outcome: outcome), to: request.from)
                }
            }
        }
        try? node.runtime.register(Self.serverName, pid)
    }
}
