import Processes

/// The answer to a request sent with `RPC.sendRequest`, as it arrives in the sender's mailbox
/// (erpc's `check_response`: the sender takes it among its other messages).
public struct RPCResponse: Sendable {
    /// The tag the request was sent under.
    public let tag: Ref
    let outcome: RPCReply.Outcome

    /// The function's result, or why there is none; `name` is the function's, for the words.
    public func result<Result: Codable & Sendable>(of name: String, returning: Result.Type = Result.self) -> Swift.Result<Result, RPCError> {
        RPC.decoded(RPC.result(outcome, name), as: Result.self)
    }
}

extension RPC {
    /// Arguments in the form `sendRequest` carries: encoded once, sent to as many nodes as
    /// needed.
    public static func encodeArguments<Arguments: Codable & Sendable>(_ arguments: Arguments) throws(RPCError) -> [UInt8] {
        do { return try encode(arguments) } catch { throw .badArguments("\(error)") }
    }

    /// Sends a request for `name` to `rex` on `target`, answered to `pid` under `tag`, and does
    /// not wait (erpc's `send_request`): the answer arrives in `pid`'s mailbox, where
    /// `RPC.response(in:)` recognizes it. Nothing else arrives, so the sender watches the
    /// target's node itself (`monitorNodes`) and keeps its own deadline.
    public func sendRequest(to target: NodeName, _ name: String, encodedArguments arguments: [UInt8], tag: Ref, replyTo pid: Pid) {
        node.runtime.send(RPCRequest(tag: tag, from: pid, function: name, arguments: arguments),
                          toName: Self.serverName, on: target.description)
    }

    /// The answer `message` is, when it is one of `sendRequest`'s.
    public static func response(in message: any Sendable) -> RPCResponse? {
        (message as? RPCReply).map { RPCResponse(tag: $0.tag, outcome: $0.outcome) }
    }
}
