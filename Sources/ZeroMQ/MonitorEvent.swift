import CZeroMQ

/// A socket monitor event (zmq_socket_monitor), decoded.
public struct MonitorEvent: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case connected, connectDelayed, connectRetried, listening, bindFailed
        case accepted, acceptFailed, closed, closeFailed, disconnected, monitorStopped
        case handshakeFailedNoDetail, handshakeSucceeded, handshakeFailedProtocol, handshakeFailedAuth
        case unknown(UInt16)

        /// The event's bit in a monitor's mask (0 for `unknown`).
        var mask: Int32 {
            switch self {
            case .connected: ZMQ_EVENT_CONNECTED
            case .connectDelayed: ZMQ_EVENT_CONNECT_DELAYED
            case .connectRetried: ZMQ_EVENT_CONNECT_RETRIED
            case .listening: ZMQ_EVENT_LISTENING
            case .bindFailed: ZMQ_EVENT_BIND_FAILED
            case .accepted: ZMQ_EVENT_ACCEPTED
            case .acceptFailed: ZMQ_EVENT_ACCEPT_FAILED
            case .closed: ZMQ_EVENT_CLOSED
            case .closeFailed: ZMQ_EVENT_CLOSE_FAILED
            case .disconnected: ZMQ_EVENT_DISCONNECTED
            case .monitorStopped: ZMQ_EVENT_MONITOR_STOPPED
            case .handshakeFailedNoDetail: ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
            case .handshakeSucceeded: ZMQ_EVENT_HANDSHAKE_SUCCEEDED
            case .handshakeFailedProtocol: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
            case .handshakeFailedAuth: ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
            case .unknown: 0
            }
        }

        init(_ raw: UInt16) {
            switch Int32(raw) {
            case ZMQ_EVENT_CONNECTED: self = .connected
            case ZMQ_EVENT_CONNECT_DELAYED: self = .connectDelayed
            case ZMQ_EVENT_CONNECT_RETRIED: self = .connectRetried
            case ZMQ_EVENT_LISTENING: self = .listening
            case ZMQ_EVENT_BIND_FAILED: self = .bindFailed
            case ZMQ_EVENT_ACCEPTED: self = .accepted
            case ZMQ_EVENT_ACCEPT_FAILED: self = .acceptFailed
            case ZMQ_EVENT_CLOSED: self = .closed
            case ZMQ_EVENT_CLOSE_FAILED: self = .closeFailed
            case ZMQ_EVENT_DISCONNECTED: self = .disconnected
            case ZMQ_EVENT_MONITOR_STOPPED: self = .monitorStopped
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: self = .handshakeFailedNoDetail
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: self = .handshakeSucceeded
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: self = .handshakeFailedProtocol
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: self = .handshakeFailedAuth
            default: self = .unknown(raw)
            }
        }
    }

    public let kind: Kind
    /// The event's value: a file descriptor, an errno or a reconnect interval, by kind.
    public let value: UInt32
    public let endpoint: String

    /// The value as the descriptor it is for `accepted`, `disconnected`, `closed` and the like.
    public var descriptor: Int32 { Int32(bitPattern: value) }

    public var description: String { "\(kind) \(endpoint) (\(value))" }

    /// Decodes the two frames a monitor socket delivers; nil when they are not a monitor event.
    public init?(frames: [[UInt8]]) {
        guard frames.count == 2, frames[0].count == 6 else { return nil }
        let head = frames[0]
        kind = Kind(UInt16(head[0]) | UInt16(head[1]) << 8)
        value = UInt32(head[2]) | UInt32(head[3]) << 8 | UInt32(head[4]) << 16 | UInt32(head[5]) << 24
        endpoint = String(decoding: frames[1], as: UTF8.self)
    }
}

extension Socket {
    /// The next event waiting on this socket, a PAIR reading a monitor, without waiting; nil
    /// when none waits. Frames that are no monitor event are skipped.
    public func nextMonitorEvent() -> MonitorEvent? {
        while let frames = try? receiveMessage(dontWait: true) {
            if let event = MonitorEvent(frames: frames) { return event }
        }
        return nil
    }

    /// Starts publishing this socket's events (all, or only those of `events`) on `endpoint`
    /// (an `inproc://` address); read them with a PAIR socket connected there and
    /// `MonitorEvent(frames:)`. Read them promptly: libzmq blocks on a full monitor.
    public func monitor(on endpoint: String, events: [MonitorEvent.Kind]? = nil) throws(ZMQError) {
        let mask = events.map { $0.reduce(Int32(0)) { $0 | $1.mask } } ?? ZMQ_EVENT_ALL
        try check(zmq_socket_monitor(try open("monitor"), endpoint, mask), "zmq_socket_monitor \(endpoint)")
    }

    /// Stops the monitor started by `monitor(on:)`.
    public func stopMonitor() throws(ZMQError) {
        try check(zmq_socket_monitor(try open("monitor"), nil, 0), "zmq_socket_monitor stop")
    }
}
