import CZeroMQ

/// The stable socket options the cluster needs, typed. Durations are milliseconds, as in libzmq.
extension Socket {
    func setOption(_ option: Int32, _ value: Int32, _ name: String) throws(ZMQError) {
        var value = value
        try check(zmq_setsockopt(try open("setsockopt"), option, &value, MemoryLayout<Int32>.size), "setsockopt \(name)")
    }

    func setOption(_ option: Int32, _ value: Int64, _ name: String) throws(ZMQError) {
        var value = value
        try check(zmq_setsockopt(try open("setsockopt"), option, &value, MemoryLayout<Int64>.size), "setsockopt \(name)")
    }

    func setOption(_ option: Int32, bytes: [UInt8], _ name: String) throws(ZMQError) {
        let handle = try open("setsockopt")
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        try check(rc, "setsockopt \(name)")
    }

    func int32Option(_ option: Int32, _ name: String) throws(ZMQError) -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        try check(zmq_getsockopt(try open("getsockopt"), option, &value, &size), "getsockopt \(name)")
        return value
    }

    func stringOption(_ option: Int32, _ name: String) throws(ZMQError) -> String {
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        try check(zmq_getsockopt(try open("getsockopt"), option, &buffer, &size), "getsockopt \(name)")
        let bytes = buffer.prefix(max(0, size - 1)).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Identity and routing

    /// ZMQ_ROUTING_ID: the name a ROUTER peer sees for this socket (1 to 255 bytes).
    public func setRoutingID(_ id: [UInt8]) throws(ZMQError) { try setOption(ZMQ_ROUTING_ID, bytes: id, "ZMQ_ROUTING_ID") }
    /// ZMQ_ROUTER_MANDATORY: a ROUTER send to an unknown peer fails (EHOSTUNREACH) instead of vanishing.
    public func setRouterMandatory(_ on: Bool) throws(ZMQError) { try setOption(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0), "ZMQ_ROUTER_MANDATORY") }
    /// ZMQ_ROUTER_HANDOVER: a new connection with a taken routing id takes it over.
    public func setRouterHandover(_ on: Bool) throws(ZMQError) { try setOption(ZMQ_ROUTER_HANDOVER, Int32(on ? 1 : 0), "ZMQ_ROUTER_HANDOVER") }
    /// ZMQ_IMMEDIATE: queue only to completed connections.
    public func setImmediate(_ on: Bool) throws(ZMQError) { try setOption(ZMQ_IMMEDIATE, Int32(on ? 1 : 0), "ZMQ_IMMEDIATE") }

    // MARK: Queues and timeouts

    public func setSendHighWaterMark(_ messages: Int32) throws(ZMQError) { try setOption(ZMQ_SNDHWM, messages, "ZMQ_SNDHWM") }
    public func setReceiveHighWaterMark(_ messages: Int32) throws(ZMQError) { try setOption(ZMQ_RCVHWM, messages, "ZMQ_RCVHWM") }
    /// -1 blocks forever; otherwise a blocking send gives up (returns false) after this long.
    public func setSendTimeout(milliseconds: Int32) throws(ZMQError) { try setOption(ZMQ_SNDTIMEO, milliseconds, "ZMQ_SNDTIMEO") }
    /// -1 blocks forever; otherwise a blocking receive gives up (returns nil) after this long.
    public func setReceiveTimeout(milliseconds: Int32) throws(ZMQError) { try setOption(ZMQ_RCVTIMEO, milliseconds, "ZMQ_RCVTIMEO") }
    public func setLinger(milliseconds: Int32) throws(ZMQError) { try setOption(ZMQ_LINGER, milliseconds, "ZMQ_LINGER") }
    public func setReconnectInterval(milliseconds: Int32) throws(ZMQError) { try setOption(ZMQ_RECONNECT_IVL, milliseconds, "ZMQ_RECONNECT_IVL") }
    public func setReconnectIntervalMax(milliseconds: Int32) throws(ZMQError) { try setOption(ZMQ_RECONNECT_IVL_MAX, milliseconds, "ZMQ_RECONNECT_IVL_MAX") }
    /// ZMQ_HANDSHAKE_IVL: drop a connection whose ZMTP handshake has not finished by then.
    public func setHandshakeInterval(milliseconds: Int32) throws(ZMQError) { try setOption(ZMQ_HANDSHAKE_IVL, milliseconds, "ZMQ_HANDSHAKE_IVL") }
    public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) { try setOption(ZMQ_MAXMSGSIZE, bytes, "ZMQ_MAXMSGSIZE") }

    /// ZMTP heartbeats: ping every `interval`, drop the connection when no traffic for `timeout`.
    public func setHeartbeat(intervalMilliseconds: Int32, timeoutMilliseconds: Int32, ttlMilliseconds: Int32 = 0) throws(ZMQError) {
        try setOption(ZMQ_HEARTBEAT_IVL, intervalMilliseconds, "ZMQ_HEARTBEAT_IVL")
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, timeoutMilliseconds, "ZMQ_HEARTBEAT_TIMEOUT")
        if ttlMilliseconds > 0 { try setOption(ZMQ_HEARTBEAT_TTL, ttlMilliseconds, "ZMQ_HEARTBEAT_TTL") }
    }

    // MARK: PUB/SUB

    public func subscribe(_ prefix: [UInt8] = []) throws(ZMQError) { try setOption(ZMQ_SUBSCRIBE, bytes: prefix, "ZMQ_SUBSCRIBE") }
    public func unsubscribe(_ prefix: [UInt8] = []) throws(ZMQError) { try setOption(ZMQ_UNSUBSCRIBE, bytes: prefix, "ZMQ_UNSUBSCRIBE") }

    // MARK: CURVE

    /// Makes this socket a CURVE server with its own secret key (Z85, 40 characters).
    public func makeCurveServer(secretKey: String) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVER, Int32(1), "ZMQ_CURVE_SERVER")
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8), "ZMQ_CURVE_SECRETKEY")
    }

    /// Makes this socket a CURVE client of the server whose public key is given (all Z85).
    public func makeCurveClient(serverKey: String, keyPair: CurveKeyPair) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8), "ZMQ_CURVE_SERVERKEY")
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(keyPair.publicKey.utf8), "ZMQ_CURVE_PUBLICKEY")
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keyPair.secretKey.utf8), "ZMQ_CURVE_SECRETKEY")
    }

    /// ZMQ_ZAP_DOMAIN: the domain a ZAP request names. A CURVE server asks the context's ZAP
    /// handler (`inproc://zeromq.zap.01`) about every client once one is bound there, so bind
    /// the handler before the server (Debian's libzmq has no ZMQ_ZAP_ENFORCE_DOMAIN).
    public func setZAPDomain(_ domain: String) throws(ZMQError) {
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8), "ZMQ_ZAP_DOMAIN")
    }

    // MARK: Read-only

    /// The endpoint of the last bind, with the real port when bound to `*` or `0`.
    public func lastEndpoint() throws(ZMQError) -> String { try stringOption(ZMQ_LAST_ENDPOINT, "ZMQ_LAST_ENDPOINT") }
    /// Whether the last frame received has more parts after it.
    public func hasMore() throws(ZMQError) -> Bool { try int32Option(ZMQ_RCVMORE, "ZMQ_RCVMORE") != 0 }
    /// ZMQ_EVENTS: what the socket can do right now without blocking.
    /// Reading it also takes in what the I/O thread has signalled since the last operation.
    public func events() throws(ZMQError) -> PollEvents { PollEvents(rawValue: Int16(try int32Option(ZMQ_EVENTS, "ZMQ_EVENTS"))) }
    /// ZMQ_FD: a descriptor that becomes readable when `events()` may have changed. It is
    /// edge-like: after any operation on the socket, check `events()` before waiting on it.
    /// Polling it needs no access to the socket, so another thread may use the socket meanwhile.
    public func fileDescriptor() throws(ZMQError) -> Int32 { try int32Option(ZMQ_FD, "ZMQ_FD") }
}

/// What a socket is ready for (`events()`, ZMQ_EVENTS).
public struct PollEvents: OptionSet, Sendable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
    public static let error = PollEvents(rawValue: Int16(ZMQ_POLLERR))
}
