import Processes

extension ClusterNode {
    /// Calls the server registered as `name` on each of `nodes` (default: this node and every
    /// visible peer) at once (Erlang's `GenServer.multi_call`): the replies by node, and the
    /// nodes that are down, have no such server, or did not answer within `timeout`.
    /// `CallMessage<Request>` and `CallReply<Reply>` must be in the wire registry.
    public func multiCall<Request: Sendable, Reply: Sendable>(
        on nodes: [NodeName]? = nil, _ name: String, _ request: Request, replyType: Reply.Type = Reply.self,
        timeout: Duration = .seconds(5)
    ) async -> (replies: [NodeName: Reply], badNodes: [NodeName]) {
        let targets = nodes ?? ([self.name] + self.nodes())
        var replies: [NodeName: Reply] = [:]
        await withTaskGroup(of: (NodeName, Reply?).self) { group in
            for target in targets {
                group.addTask { (target, try? await self.callNamed(target, name, request, replyType: Reply.self, timeout: timeout)) }
            }
            for await (target, reply) in group { if let reply { replies[target] = reply } }
        }
        return (replies, targets.filter { replies[$0] == nil }.sorted())
    }

    /// Casts to the server registered as `name` on each node (Erlang's `GenServer.abcast`).
    public func abcast<Message: Sendable>(on nodes: [NodeName]? = nil, _ name: String, _ message: Message) {
        for target in nodes ?? ([self.name] + self.nodes()) {
            runtime.send(CastMessage(message: message), toName: name, on: target.description)
        }
    }

    private func callNamed<Request: Sendable, Reply: Sendable>(
        _ target: NodeName, _ name: String, _ request: Request, replyType: Reply.Type, timeout: Duration
    ) async throws -> Reply? {
        try await runtime.withProcess { context in
            if target == self.name {
                guard let pid = runtime.whereis(name) else { return nil }
                return try await context.call(pid, request, replyType: Reply.self, timeout: timeout)
            }
            let tag = runtime.makeRef()
            let message = CallMessage(from: CallFrom(caller: context.pid, tag: tag), request: request)
            let answer = try await ask(target, server: name, message, from: context, timeout: timeout) {
                ($0 as? CallReply<Reply>).flatMap { $0.tag == tag ? $0.value : nil }
            }
            if case .reply(let value) = answer { return value }
            return nil
        }
    }
}
