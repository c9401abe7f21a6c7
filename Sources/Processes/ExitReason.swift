/// Why a process ended, or the reason an exit signal carries (Erlang's exit reasons).
/// It is also an `Error`: `throw ExitReason.shutdown` in a process body ends it with that reason.
public enum ExitReason: Error, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The body returned. Linked processes that do not trap exits ignore it.
    case normal
    /// Orderly stop requested by a supervisor or a parent.
    case shutdown
    /// Sent with `exit(pid, .kill)`: cannot be trapped; the target ends with `.killed`.
    case kill
    /// The reason of a process ended by `.kill`.
    case killed
    /// The process did not exist (a link or monitor to a dead pid).
    case noproc
    /// The connection to the process's node was lost.
    case noconnection
    /// Any other reason, in words (a thrown error, or a custom exit).
    case other(String)

    /// The reason a body's thrown error ends its process with.
    public init(_ error: any Error) {
        if let reason = error as? ExitReason {
            self = reason
        } else {
            self = .other(String(describing: error))
        }
    }

    /// `normal` and `shutdown` end a process without being a failure (Erlang's transient rule).
    public var isAbnormal: Bool {
        switch self {
        case .normal, .shutdown: false
        default: true
        }
    }

    public var description: String {
        switch self {
        case .normal: "normal"
        case .shutdown: "shutdown"
        case .kill: "kill"
        case .killed: "killed"
        case .noproc: "noproc"
        case .noconnection: "noconnection"
        case .other(let words): words
        }
    }
}
