import Processes

extension ClusterNode {
    /// Calls the server registered as `name` on each of `nodes` (default: this node and every
    /// visible peer) at once (Erlang's `GenServer.multi_call`): the replies by node, and the
    /// nodes that are down, have no such server, or did not answer within `timeout`.
    /// One process sends every request and gathers the replies by tag, as Erlang's does: no
    /// task per node. `CallMessage<Request>` and `CallReply<Reply>` must be in the wire registry.
    /// Inlinable, so that the caller's module specializes it for its types. Unspecialized,
    /// each multicall looked up its types' metadata at run time, 3 to 5 µs of the caller's CPU.
    @inlinable
    public func multiCall<Request: Sendable, Reply: Sendable>(
        on nodes: [NodeName]? = nil, _ name: String, _ request: Request, replyType: Reply.Type = Reply.self,
        timeout: Duration = .seconds(5)
    ) async -> (replies: [NodeName: Reply], badNodes: [NodeName]) {
        let targets = Array(Set(nodes ?? ([self.name] + self.nodes())))
        let reachable = await connected(targets)
        let replies = (try? await runtime.withProcess { context in
            try await gatherReplies(reachable, name, request, replyType: Reply.self, timeout: timeout, context: context)
        }) ?? [:]
        return (replies, targets.filter { replies[$0] == nil }.sorted())
    }

    /// Casts to the server registered as `name` on each node (Erlang's `GenServer.abcast`).
    public func abcast<Message: Sendable>(on nodes: [NodeName]? = nil, _ name: String, _ message: Message) {
        for target in nodes ?? ([self.name] + self.nodes()) {
            runtime.send(CastMessage(message: message), toName: name, on: target.description)
        }
    }

    /// The targets this node is connected to (itself included), dialling the others at once.
    @usableFromInline
    func connected(_ targets: [NodeName]) async -> Set<NodeName> {
        var reachable = Set(targets.filter { $0 == name || isConnected($0) })
        let others = targets.filter { !reachable.contains($0) }
        guard !others.isEmpty else { return reachable }
        await withTaskGroup(of: (NodeName, Bool).self) { group in
            for target in others { group.addTask { (target, await self.connect(target)) } }
            for await (target, up) in group where up { reachable.insert(target) }
        }
        return reachable
    }

    /// Sends the call to `name` on every target from `context`'s process, then takes the
    /// replies by tag until all came, a node or the local server went down, or `timeout`
    /// passed. The local server is monitored, as `call` does; a remote node, by node monitor
    /// (a node without the server drops the request, and its answer is the timeout).
    @inlinable
    func gatherReplies<Request: Sendable, Reply: Sendable>(
        _ targets: Set<NodeName>, _ name: String, _ request: Request, replyType: Reply.Type, timeout: Duration,
        context: ProcessContext
    ) async throws -> [NodeName: Reply] {
        var pending: [Ref: NodeName] = [:]
        var localServer: (pid: Pid, watch: Ref)?
        for target in targets {
            if target == self.name {
                guard let pid = runtime.whereis(name) else { continue }
                let watch = context.monitor(pid)
                localServer = (pid, watch)
                pending[watch] = target
                context.send(CallMessage(from: CallFrom(caller: context.pid, tag: watch), request: request), to: pid)
            } else {
                monitorNode(target, for: context.pid)
                let tag = runtime.makeRef()
                pending[tag] = target
                runtime.send(CallMessage(from: CallFrom(caller: context.pid, tag: tag), request: request),
                             toName: name, on: target.description)
            }
        }
        defer {
            for target in targets where target != self.name { demonitorNode(target, for: context.pid) }
            if let localServer { context.demonitor(localServer.watch, target: localServer.pid) }
        }
        var replies: [NodeName: Reply] = [:]
        let deadline = ContinuousClock.now + timeout
        while !pending.isEmpty {
            let waiting = pending
            let event = try await context.receive(timeout: max(.zero, deadline - .now)) { message -> (tag: Ref?, target: NodeName, reply: Reply?)? in
                if let reply = message as? CallReply<Reply>, let target = waiting[reply.tag] { return (reply.tag, target, reply.value) }
                if let down = message as? Down, let target = waiting[down.ref] { return (down.ref, target, nil) }
                if let down = message as? NodeDown, waiting.values.contains(down.node) { return (nil, down.node, nil) }
                return nil
            }
            guard let event else { break }
            if let tag = event.tag {
                pending.removeValue(forKey: tag)
            } else {
                pending = pending.filter { $0.value != event.target }
            }
            if let reply = event.reply { replies[event.target] = reply }
        }
        return replies
    }
}
