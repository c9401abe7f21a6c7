import Crypto

/// The cookie handshake, as pure state machines. Each side proves it knows the cookie by an
/// HMAC, keyed by the cookie, of the whole exchange: both nonces, both names, incarnations,
/// hidden flags, heartbeat endpoints and tick times, the port the initiator dialled, and a
/// label for the prover's role. The cookie itself never crosses the wire.
///
///     initiator                                  acceptor
///     hello(name, nonceI, dialled port)    →
///                                          ←     challenge(name, nonceA)
///     proof(MAC "initiator")               →
///                                          ←     welcome(peers, MAC "acceptor") | refused(reason)
///
/// The initiator proves first, and the acceptor answers with a proof only to a valid one, so
/// neither side is an oracle that signs a stranger's nonce; the role label keeps one side's
/// proof from passing for the other's; and since a proof covers both nonces, both names and
/// the dialled port, a proof made for one connection is worth nothing on another (a relay
/// that hands node X's hello to node A shows A a port that is not A's).
public enum Handshake {
    /// 6: a `todo.fetch` answer tells how many of the lists asked it covers, and the table of
    /// global names comes in parts (`GlobalSync.more`), which a node of version 5 cannot read.
    /// 5: the global registry's messages in hand-written wire forms (`GlobalMessages+Wire`).
    /// 4: tick times in the hello.
    public static let version: UInt64 = 6

    enum Role: String {
        case initiator, acceptor
    }

    /// What both sides said, in a fixed order: the text every proof covers.
    struct Transcript: Equatable {
        let initiator: Side
        let acceptor: Side
        /// The acceptor's port as the initiator dialled it.
        let dialledPort: UInt64

        struct Side: Equatable {
            let node: String
            let incarnation: UInt64
            let hidden: Bool
            let publishEndpoint: String
            let nonce: [UInt8]
            /// The side's tick time, in milliseconds: the other side sends its heartbeats
            /// often enough for it (`FailureDetector.heartbeatInterval`).
            let tickMillis: UInt64
        }

        var bytes: [UInt8] {
            var writer = WireWriter()
            writer.writeVarint(Handshake.version)
            for side in [initiator, acceptor] {
                writer.writeString(side.node)
                writer.writeVarint(side.incarnation)
                side.hidden.encode(to: &writer)
                writer.writeString(side.publishEndpoint)
                writer.writeBytes(side.nonce)
                writer.writeVarint(side.tickMillis)
            }
            writer.writeVarint(dialledPort)
            return writer.bytes
        }
    }

    /// HMAC-SHA256, keyed by the cookie, of the role and the transcript.
    static func proof(cookie: String, role: Role, transcript: Transcript) -> [UInt8] {
        var data = Array("todo-handshake \(role.rawValue)\n".utf8)
        data.append(contentsOf: transcript.bytes)
        let code = HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: Array(cookie.utf8)))
        return Array(code)
    }

    static func verify(_ proof: [UInt8], cookie: String, role: Role, transcript: Transcript) -> Bool {
        let expected = Self.proof(cookie: cookie, role: role, transcript: transcript)
        guard proof.count == expected.count else { return false }
        var difference: UInt8 = 0
        for index in proof.indices { difference |= proof[index] ^ expected[index] }
        return difference == 0
    }

    static let nonceBytes = 16

    /// The tick times a side may announce, in milliseconds: those a node may be started with.
    static let tickMillis: ClosedRange<UInt64> = 1...3_600_000

    /// A peer's heartbeat endpoint is where this node's SUB connects: TCP only, so that a
    /// peer cannot point it at an `inproc://` socket of this process.
    static func isHeartbeatEndpoint(_ endpoint: String) -> Bool {
        endpoint.hasPrefix("tcp://") && endpoint.utf8.count <= 300
    }

    static func nonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<nonceBytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}

/// Who is at the other end, once the handshake succeeded.
struct PeerInfo: Sendable, Equatable {
    let node: NodeName
    let incarnation: UInt64
    let hidden: Bool
    let publishEndpoint: String
    /// How long the peer waits for a sign of life before it declares this node down.
    var tickTime: Duration = .seconds(15)
}

extension PeerInfo {
    /// The peer as its side of the exchange describes it.
    init(_ node: NodeName, _ side: Handshake.Transcript.Side) {
        self.init(node: node, incarnation: side.incarnation, hidden: side.hidden, publishEndpoint: side.publishEndpoint,
                  tickTime: .milliseconds(side.tickMillis))
    }
}

/// This node's side of the handshake: the identity and secret it proves.
struct LocalIdentity: Sendable {
    let node: NodeName
    let incarnation: UInt64
    let hidden: Bool
    let cookie: String
    let publishEndpoint: String
    /// The port of this node's inbox, which an initiator says it dialled.
    var clusterPort: Int = 0
    var tickTime: Duration = .seconds(15)

    /// The tick time as the handshake carries it: whole milliseconds, rounded up, within the
    /// range a side may announce.
    var tickMillis: UInt64 {
        let millis = (tickTime / .milliseconds(1)).rounded(.up)
        return UInt64(min(max(millis, Double(Handshake.tickMillis.lowerBound)), Double(Handshake.tickMillis.upperBound)))
    }

    func side(nonce: [UInt8]) -> Handshake.Transcript.Side {
        .init(node: node.description, incarnation: incarnation, hidden: hidden, publishEndpoint: publishEndpoint, nonce: nonce,
              tickMillis: tickMillis)
    }
}

/// The connecting side.
struct InitiatorHandshake: Sendable {
    enum Step: Equatable {
        case send(Packet)
        case established(PeerInfo, peers: [String])
        case failed(String)
        /// Both nodes dialled each other at once; the peer's own connection wins (it is the
        /// lower name), so wait for it instead of failing.
        case yield
    }

    /// The refusal that settles a simultaneous connect.
    static let simultaneous = "simultaneous connection: the lower node name's connection wins"

    let local: LocalIdentity
    let expected: NodeName
    /// The acceptor's port, once looked up.
    private(set) var dialledPort: Int
    let nonce: [UInt8]
    private var transcript: Handshake.Transcript?
    private var peer: PeerInfo?

    init(local: LocalIdentity, connectingTo expected: NodeName, port: Int = 0, nonce: [UInt8] = Handshake.nonce()) {
        self.local = local
        self.expected = expected
        self.dialledPort = port
        self.nonce = nonce
    }

    /// The hello, once the acceptor's port is known.
    mutating func hello(dialling port: Int) -> Packet {
        dialledPort = port
        return hello
    }

    var hello: Packet {
        .hello(.init(node: local.node.description, incarnation: local.incarnation, version: Handshake.version,
                     hidden: local.hidden, nonce: nonce, publishEndpoint: local.publishEndpoint, dialledPort: UInt64(dialledPort),
                     tickMillis: local.tickMillis))
    }

    mutating func receive(_ packet: Packet) -> Step {
        switch packet {
        case .challenge(let challenge):
            guard transcript == nil else { return .failed("a second challenge from \(expected)") }
            guard challenge.node == expected.description else {
                return .failed("\(expected) answered as \(challenge.node)")
            }
            guard challenge.nonce.count == Handshake.nonceBytes, Handshake.isHeartbeatEndpoint(challenge.publishEndpoint),
                  Handshake.tickMillis.contains(challenge.tickMillis) else {
                return .failed("\(expected) sent a bad challenge")
            }
            let acceptor = Handshake.Transcript.Side(
                node: challenge.node, incarnation: challenge.incarnation, hidden: challenge.hidden,
                publishEndpoint: challenge.publishEndpoint, nonce: challenge.nonce, tickMillis: challenge.tickMillis)
            let transcript = Handshake.Transcript(initiator: local.side(nonce: nonce), acceptor: acceptor, dialledPort: UInt64(dialledPort))
            self.transcript = transcript
            peer = PeerInfo(expected, acceptor)
            return .send(.proof(Handshake.proof(cookie: local.cookie, role: .initiator, transcript: transcript)))
        case .welcome(let peers, let proof):
            guard let peer, let transcript else { return .failed("welcome before challenge from \(expected)") }
            guard Handshake.verify(proof, cookie: local.cookie, role: .acceptor, transcript: transcript) else {
                return .failed("\(expected) does not share our cookie (invalid welcome proof)")
            }
            return .established(peer, peers: peers)
        case .refused(let reason) where reason == Self.simultaneous:
            return .yield
        case .refused(let reason):
            return .failed("\(expected) refused the connection: \(reason)")
        default:
            return .failed("unexpected packet during the handshake with \(expected)")
        }
    }
}

/// The accepting side.
struct AcceptorHandshake: Sendable {
    enum Step: Equatable {
        case send(Packet)
        /// Accepted: send the welcome, then the peer is up.
        case established(PeerInfo, welcome: Packet)
        /// Refused: send the refusal; `log` says why, for the refusing node's log.
        case refused(Packet, log: String)
    }

    let local: LocalIdentity
    let transcript: Handshake.Transcript
    let peer: PeerInfo

    /// Answers a hello: a challenge, or a refusal for a bad version, name, nonce or port.
    static func start(_ hello: Packet.Hello, local: LocalIdentity, nonce: [UInt8] = Handshake.nonce()) -> (AcceptorHandshake?, Step) {
        guard hello.version == Handshake.version else {
            return (nil, .refused(.refused("protocol version \(hello.version) is not supported (we speak \(Handshake.version))"),
                                  log: "Connection attempt from node \(hello.node.prefix(255)) rejected: protocol version \(hello.version)"))
        }
        guard let node = try? NodeName(parsing: hello.node, defaultHost: "-"), node.host != "-" else {
            return (nil, .refused(.refused("bad node name"), log: "Connection attempt with a bad node name rejected"))
        }
        guard hello.nonce.count == Handshake.nonceBytes else {
            return (nil, .refused(.refused("bad hello"), log: "Connection attempt from node \(node) rejected: a bad nonce"))
        }
        guard Handshake.isHeartbeatEndpoint(hello.publishEndpoint) else {
            return (nil, .refused(.refused("bad heartbeat endpoint"), log: "Connection attempt from node \(node) rejected: a bad heartbeat endpoint"))
        }
        guard Handshake.tickMillis.contains(hello.tickMillis) else {
            return (nil, .refused(.refused("bad tick time"), log: "Connection attempt from node \(node) rejected: a tick time of \(hello.tickMillis) ms"))
        }
        guard hello.dialledPort == UInt64(local.clusterPort) else {
            return (nil, .refused(.refused("this node does not listen on port \(hello.dialledPort)"),
                                  log: "Connection attempt from node \(node) rejected: it dialled port \(hello.dialledPort), not ours (a relayed connection?)"))
        }
        let initiator = Handshake.Transcript.Side(
            node: hello.node, incarnation: hello.incarnation, hidden: hello.hidden,
            publishEndpoint: hello.publishEndpoint, nonce: hello.nonce, tickMillis: hello.tickMillis)
        let transcript = Handshake.Transcript(initiator: initiator, acceptor: local.side(nonce: nonce), dialledPort: hello.dialledPort)
        let acceptor = AcceptorHandshake(local: local, transcript: transcript, peer: PeerInfo(node, initiator))
        let challenge = Packet.challenge(.init(
            node: local.node.description, incarnation: local.incarnation, hidden: local.hidden,
            nonce: nonce, publishEndpoint: local.publishEndpoint, tickMillis: local.tickMillis))
        return (acceptor, .send(challenge))
    }

    /// Checks the initiator's proof; only then proves itself, in the welcome. `peers` are this
    /// node's visible peers, for the welcome.
    func receive(_ packet: Packet, peers: [String]) -> Step {
        guard case .proof(let proof) = packet else {
            return .refused(.refused("unexpected packet"), log: "Connection attempt from node \(peer.node) rejected: unexpected packet")
        }
        guard Handshake.verify(proof, cookie: local.cookie, role: .initiator, transcript: transcript) else {
            return .refused(.refused("invalid challenge reply (cookie mismatch)"),
                            log: "Connection attempt from node \(peer.node) rejected. Invalid challenge reply.")
        }
        let mine = Handshake.proof(cookie: local.cookie, role: .acceptor, transcript: transcript)
        return .established(peer, welcome: .welcome(peers: peers, proof: mine))
    }
}
