/// Erlang's gen_server shape: state owned by one process, changed by calls (answered), casts
/// (fire and forget) and other messages ("info"). The state is made inside the server's own
/// process by the `start` closure, so it never needs to be `Sendable`.
public protocol GenServer: SendableMetatype {
    associatedtype Request: Sendable
    associatedtype Reply: Sendable
    associatedtype Cast: Sendable = Never

    mutating func handleCall(_ request: Request, from: CallFrom, context: ProcessContext) async throws -> CallResult<Reply>
    mutating func handleCast(_ message: Cast, context: ProcessContext) async throws -> ServerAction
    /// Any other message, `Exit`s from linked processes among them when trapping exits.
    mutating func handleInfo(_ message: any Sendable, context: ProcessContext) async throws -> ServerAction
    /// `idleTimeout` passed with no message.
    mutating func handleTimeout(context: ProcessContext) async throws -> ServerAction
    /// Called when the server stops by its own choice, by an error, or by its parent's exit
    /// signal while trapping exits; not when killed.
    mutating func terminate(reason: ExitReason, context: ProcessContext) async

    /// Read after every callback: with no message for this long, `handleTimeout` runs.
    var idleTimeout: Duration? { get }

    /// Erlang's `:hibernate`, whenever idle: the server's task ends when no mail waits, and
    /// its next mail (or idle timeout) starts another, so that an idle server has no task at
    /// all. A task keeps the memory of its deepest frames until it ends; for a server that
    /// lives long and mostly idle (one per to-do list) that is most of its size. It costs a
    /// task per busy spell; a server in steady use keeps its task (`hibernateAfter`).
    static var hibernates: Bool { get }
    /// gen_server's `hibernate_after`, for a server in steady use: one woken again within
    /// this long of its last hibernation waits this long for mail before it hibernates again
    /// (1 s by default; the wait ends on a 50 ms grid, so a little longer). One woken less
    /// often hibernates as soon as no mail waits, much as with Erlang's `:hibernate` reply.
    static var hibernateAfter: Duration { get }
}

extension GenServer {
    public mutating func handleCast(_ message: Cast, context: ProcessContext) async throws -> ServerAction { .continue }
    public mutating func handleInfo(_ message: any Sendable, context: ProcessContext) async throws -> ServerAction { .continue }
    public mutating func handleTimeout(context: ProcessContext) async throws -> ServerAction { .continue }
    public mutating func terminate(reason: ExitReason, context: ProcessContext) async {}
    public var idleTimeout: Duration? { nil }
    public static var hibernates: Bool { false }
    public static var hibernateAfter: Duration { .seconds(1) }
}

/// What a server does after a cast, an info or a timeout.
public enum ServerAction: Sendable {
    case `continue`
    case stop(ExitReason)
}

/// How a server answers a call.
public enum CallResult<Reply: Sendable>: Sendable {
    case reply(Reply)
    /// Answer later with `CallFrom.reply(_:)`.
    case noReply
    case replyAndStop(Reply, ExitReason)
}

/// Who is waiting for a call's answer (Erlang's `from`); lets a server answer later.
public struct CallFrom: Sendable, Hashable {
    public let caller: Pid
    public let tag: Ref

    public init(caller: Pid, tag: Ref) {
        self.caller = caller
        self.tag = tag
    }

    public func reply<Reply: Sendable>(_ value: Reply, via runtime: ProcessRuntime) {
        runtime.send(CallReply(tag: tag, value: value), to: caller)
    }
}

/// A server's pid typed by its server, so calls and casts are checked at compile time.
public struct ServerRef<Server: GenServer>: Sendable, Hashable, CustomStringConvertible {
    public let pid: Pid
    public init(_ pid: Pid) { self.pid = pid }
    public var description: String { pid.description }
}

/// The envelopes on the wire between caller and server.
public struct CallMessage<Request: Sendable>: Sendable {
    public let from: CallFrom
    public let request: Request

    public init(from: CallFrom, request: Request) {
        self.from = from
        self.request = request
    }
}

public struct CallReply<Value: Sendable>: Sendable {
    public let tag: Ref
    public let value: Value

    public init(tag: Ref, value: Value) {
        self.tag = tag
        self.value = value
    }
}

public struct CastMessage<Message: Sendable>: Sendable {
    public let message: Message

    public init(message: Message) { self.message = message }
}

extension CallMessage: Codable where Request: Codable {}
extension CallReply: Codable where Value: Codable {}
extension CastMessage: Codable where Message: Codable {}
extension CallFrom: Codable {}
