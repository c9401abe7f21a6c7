import Cluster

/// What the `todo` client asks a node for: it is a hidden node, outside the global registry,
/// so the node it joined finds the list's server for it.
public struct ClientCall: Codable, Sendable {
    public let list: String
    public let request: TodoServer.Request

    public init(list: String, request: TodoServer.Request) {
        self.list = list
        self.request = request
    }
}

public enum ClientAnswer: Codable, Sendable, Equatable {
    case reply(TodoServer.Reply)
    case badInput(String)
    case unavailable(String)
    case failed(String)
}

extension TodoSystem {
    func registerClientFunctions() {
        node.rpc.register(Self.callFunction) { [self] (call: ClientCall) async -> ClientAnswer in
            do throws(TodoInputError) {
                try Self.validate(call)
            } catch {
                return .badInput(error.description)
            }
            do throws(TodoFailure) {
                return .reply(try await perform(call.list, call.request))
            } catch {
                switch error {
                case .unavailable(let words): return .unavailable(words)
                case .failed(let words): return .failed(words)
                }
            }
        }
        node.rpc.register(Self.whereisFunction) { [self] (list: String) async -> String? in
            whereis(list)?.description
        }
    }

    /// The node checks input itself: a client is outside input too.
    static func validate(_ call: ClientCall) throws(TodoInputError) {
        _ = try TodoInput.listName(call.list)
        switch call.request {
        case .entries: break
        case .add(_, let title): _ = try TodoInput.title(title)
        case .update(_, _, let title?): _ = try TodoInput.title(title)
        case .update, .delete: break
        case .merge, .mergeOverruled: throw TodoInputError("merging copies is not a client request")
        }
    }

    /// For the client: `todo.call` on `target`.
    public static func clientCall(_ call: ClientCall, on target: NodeName, via node: ClusterNode) async throws(RPCError) -> ClientAnswer {
        try await node.rpc.call(target, callFunction, call, returning: ClientAnswer.self, timeout: .seconds(12))
    }

    /// For the client: `todo.whereis` on `target`.
    public static func clientWhereis(_ list: String, on target: NodeName, via node: ClusterNode) async throws(RPCError) -> String? {
        try await node.rpc.call(target, whereisFunction, list, returning: String?.self)
    }
}
