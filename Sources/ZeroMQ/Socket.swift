import CZeroMQ

/// One libzmq socket. Not thread-safe (libzmq sockets are not): keep each socket on the thread
/// that uses it. It starts with linger 0, so closing drops unsent messages unless `setLinger`
/// gave them time, and any use after `close()` throws instead of touching freed memory.
public final class Socket {
    public let type: SocketType
    private let context: Context  // keeps the context alive while the socket is open
    private var handle: UnsafeMutableRawPointer?

    init(context: Context, type: SocketType) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.raw) else {
            throw ZMQError.last("zmq_socket")
        }
        self.context = context
        self.type = type
        self.handle = handle
        try setOption(ZMQ_LINGER, Int32(0), "ZMQ_LINGER")
    }

    deinit { close() }

    public var isClosed: Bool { handle == nil }

    /// Closes the socket, dropping anything unsent unless `setLinger` gave it time to leave
    /// (which it gets while the context lives: see `Context.terminate`). Safe to call twice.
    public func close() {
        guard let handle else { return }
        zmq_close(handle)
        self.handle = nil
    }

    func open(_ operation: String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(code: ENOTSOCK, operation: "\(operation) on a closed socket") }
        return handle
    }

    public func bind(_ endpoint: String) throws(ZMQError) {
        try check(zmq_bind(try open("bind"), endpoint), "bind \(endpoint)")
    }

    public func unbind(_ endpoint: String) throws(ZMQError) {
        try check(zmq_unbind(try open("unbind"), endpoint), "unbind \(endpoint)")
    }

    public func connect(_ endpoint: String) throws(ZMQError) {
        try check(zmq_connect(try open("connect"), endpoint), "connect \(endpoint)")
    }

    public func disconnect(_ endpoint: String) throws(ZMQError) {
        try check(zmq_disconnect(try open("disconnect"), endpoint), "disconnect \(endpoint)")
    }

    // MARK: Sending

    /// Sends one frame. `more` marks it as not the last of a multipart message. With
    /// `dontWait`, returns false instead of blocking when the message cannot be queued now.
    @discardableResult
    public func send(_ frame: [UInt8], more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        let handle = try open("send")
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        while true {
            let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
            if rc >= 0 { return true }
            let error = ZMQError.last("send")
            if error.code == EINTR { continue }
            if error.isWouldBlock { return false }
            throw error
        }
    }

    /// Sends a multipart message. With `dontWait`, returns false (nothing sent) when it cannot
    /// be queued now; libzmq queues multipart messages atomically.
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws(ZMQError) -> Bool {
        guard let last = frames.indices.last else { return true }
        for index in frames.indices {
            let sent = try send(frames[index], more: index != last, dontWait: dontWait)
            if !sent { return false }
        }
        return true
    }

    // MARK: Receiving

    /// Receives one frame. Returns nil when `dontWait` is set and nothing is waiting, or when the
    /// receive timeout (`receiveTimeout`) passes.
    public func receive(dontWait: Bool = false) throws(ZMQError) -> [UInt8]? {
        try receiveFrame(dontWait: dontWait)?.bytes
    }

    /// Receives a whole multipart message, or nil as `receive` does.
    public func receiveMessage(dontWait: Bool = false) throws(ZMQError) -> [[UInt8]]? {
        try receiveMessageWithOrigin(dontWait: dontWait, when: { _ in false })?.frames
    }

    /// A message and where it came from: the peer's IP address (ZeroMQ's "Peer-Address"
    /// property, TCP only) and the descriptor of its connection, which monitor events name.
    public struct Received {
        public let frames: [[UInt8]]
        public let peerAddress: String?
        public let descriptor: Int32
    }

    /// Receives a whole multipart message, or nil as `receive` does, with its origin when
    /// `wanted` says so of its first frame: reading the origin costs a lookup and a string,
    /// so a ROUTER asks only about connections it does not know yet. The origin is read off
    /// the frames after the first: a ROUTER's routing-id frame, made by the ROUTER itself,
    /// does not always carry it (a single-frame message has none).
    public func receiveMessageWithOrigin(
        dontWait: Bool = false, when wanted: ([UInt8]) -> Bool = { _ in true }
    ) throws(ZMQError) -> Received? {
        guard let first = try receiveFrame(dontWait: dontWait) else { return nil }
        let withOrigin = first.more && wanted(first.bytes)
        var frames: [[UInt8]] = []
        frames.reserveCapacity(first.more ? 2 : 1)  // a ROUTER's messages: a routing id and one frame
        frames.append(first.bytes)
        var more = first.more
        var origin: (address: String?, descriptor: Int32)?
        // The remaining parts of a multipart message are already here: libzmq delivers it whole.
        while more, let next = try receiveFrame(dontWait: false, withOrigin: withOrigin) {
            frames.append(next.bytes)
            more = next.more
            origin = next.origin ?? origin
        }
        return Received(frames: frames, peerAddress: origin?.address, descriptor: origin?.descriptor ?? -1)
    }

    private func receiveFrame(
        dontWait: Bool, withOrigin: Bool = false
    ) throws(ZMQError) -> (bytes: [UInt8], more: Bool, origin: (address: String?, descriptor: Int32)?)? {
        let handle = try open("receive")
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        while true {
            let rc = zmq_msg_recv(&message, handle, dontWait ? ZMQ_DONTWAIT : 0)
            if rc >= 0 { break }
            let error = ZMQError.last("receive")
            if error.code == EINTR { continue }
            if error.isWouldBlock { return nil }
            throw error
        }
        let origin = withOrigin
            ? (zmq_msg_gets(&message, "Peer-Address").map { String(cString: $0) }, zmq_msg_get(&message, ZMQ_SRCFD))
            : nil
        let size = zmq_msg_size(&message)
        let bytes: [UInt8]
        if size == 0 {
            bytes = []
        } else if let data = zmq_msg_data(&message) {
            bytes = [UInt8](UnsafeRawBufferPointer(start: data, count: size))
        } else {
            bytes = []
        }
        return (bytes, zmq_msg_more(&message) == 1, origin)
    }
}
