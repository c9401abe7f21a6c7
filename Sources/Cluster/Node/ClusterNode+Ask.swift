import Processes

/// How a request to a server on some node ended.
enum Answer<Reply> {
    case reply(Reply)
    /// The node went down (or could not be reached) before answering.
    case nodedown
    case timeout
}

extension ClusterNode {
    /// Sends `request` from `context`'s process to the server registered as `server` on
    /// `target`, then waits for the first message `match` accepts, giving up when `target` goes
    /// down or `timeout` passes. Every request-reply exchange with another node's server
    /// (rpc, global names and locks, remote spawn) goes through here; multicalls gather
    /// theirs in one process.
    func ask<Reply>(
        _ target: NodeName, server: String, _ request: any Sendable, from context: ProcessContext,
        timeout: Duration, match: (any Sendable) -> Reply?
    ) async throws -> Answer<Reply> {
        let remote = target != name
        if remote, !(await connect(target)) { return .nodedown }
        if remote { monitorNode(target, for: context.pid) }
        defer { if remote { demonitorNode(target, for: context.pid) } }
        runtime.send(request, toName: server, on: target.description)
        let answer = try await context.receive(timeout: timeout) { message -> Answer<Reply>? in
            if let reply = match(message) { return .reply(reply) }
            if let down = message as? NodeDown, down.node == target { return .nodedown }
            return nil
        }
        return answer ?? .timeout
    }

    /// The node that serializes global registrations and locks: the lowest visible name.
    var globalLeader: NodeName { ([name] + nodes()).min() ?? name }
}
