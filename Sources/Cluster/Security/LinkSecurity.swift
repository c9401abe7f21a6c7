import ZeroMQ

/// What every cluster socket on the network gets before it binds or connects: CURVE keyed by
/// the cookie (unless turned off for a benchmark), a bound on the size of a frame, and on a
/// listening socket, a short deadline for ZeroMQ's own handshake.
struct LinkSecurity: Sendable {
    /// The cluster's key pair; nil when links are not encrypted.
    let keys: CurveKeyPair?
    /// The public key the ZAP handler admits, as raw bytes.
    let allowedKey: [UInt8]
    /// An accepted connection that has not finished ZeroMQ's handshake by then is dropped:
    /// the node's `acceptTimeout`, within which it must log in as well.
    let acceptMilliseconds: Int32

    init(settings: ClusterSettings) throws {
        keys = settings.encrypted ? try ClusterKeys.derive(cookie: settings.cookie) : nil
        allowedKey = keys?.publicKeyBytes ?? []
        let (seconds, attoseconds) = settings.acceptTimeout.components
        acceptMilliseconds = Int32(clamping: max(1, min(seconds, Int64(Int32.max)) * 1_000 + attoseconds / 1_000_000_000_000_000))
    }

    /// What a client sends before ZeroMQ's handshake has shown that it holds the cluster's key:
    /// the greeting (64 bytes) and CURVE's HELLO (a 200-byte command in a 2-byte frame head).
    /// A connection that has sent more was let in, or is being dropped for what it sent.
    /// Without encryption, anyone who sent the greeting is let in.
    var bytesBeforeAdmission: Int64 { keys == nil ? 64 : 64 + 202 }

    /// A connection made that has not finished ZeroMQ's handshake by then is dropped.
    static let handshakeMilliseconds: Int32 = 3_000

    /// A ROUTER or PUB that peers connect to.
    func listening(_ socket: Socket, maxFrame: Int) throws {
        try socket.setMaxMessageSize(Int64(maxFrame))
        try socket.setHandshakeInterval(milliseconds: acceptMilliseconds)
        guard let keys else { return }
        try socket.setZAPDomain(ZAPHandler.domain)
        try socket.makeCurveServer(secretKey: keys.secretKey)
    }

    /// A DEALER or SUB that connects to a peer.
    func connecting(_ socket: Socket, maxFrame: Int) throws {
        try socket.setMaxMessageSize(Int64(maxFrame))
        try socket.setHandshakeInterval(milliseconds: Self.handshakeMilliseconds)
        guard let keys else { return }
        try socket.makeCurveClient(serverKey: keys.publicKey, keyPair: keys)
    }
}
