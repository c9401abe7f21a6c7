import CZeroMQ

/// A libzmq failure, with libzmq's own words and the call that failed.
public struct ZMQError: Error, Equatable, CustomStringConvertible, Sendable {
    public let code: Int32
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    public var message: String { String(cString: zmq_strerror(code)) }
    public var description: String { "\(operation): \(message) (errno \(code))" }

    /// True when a non-blocking call had nothing to do (EAGAIN).
    public var isWouldBlock: Bool { code == EAGAIN }
    /// True when the context was terminated under the call (ETERM).
    public var isTerminated: Bool { code == ETERM }

    static func last(_ operation: String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation)
    }
}

@inline(__always)
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(ZMQError) {
    if rc == -1 { throw ZMQError.last(operation()) }
}
