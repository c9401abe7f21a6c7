/// Why a connection to a node could not be made, in words for a user: no port mapper
/// answered, the name is not registered there, the node refused us (a different cookie?),
/// went away in the middle of the handshake, or did not answer in time.
public struct ConnectFailure: Error, Equatable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
