/// Why a to-do request could not be served (bad input is `TodoInputError`).
public enum TodoFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The list's server cannot be reached now (a node failing, a timeout): try again soon.
    /// HTTP answers `503` with `Retry-After`.
    case unavailable(String)
    /// The request reached its server and failed there, e.g. a disk error.
    case failed(String)

    public var description: String {
        switch self {
        case .unavailable(let words): "unavailable: \(words)"
        case .failed(let words): words
        }
    }
}
