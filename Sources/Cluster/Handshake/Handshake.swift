import Crypto

/// The cookie handshake, as pure state machines. Each side proves it knows the cookie by an
/// HMAC of the other side's random challenge; the cookie itself never crosses the wire.
///
///     initiator                         acceptor
///     hello(name, nonceI)        →
///                                ←      challenge(name, proof(nonceI), nonceA)
///     proof(nonceA)              →
///                                ←      welcome(peers) | refused(reason)
public enum Handshake {
    public static let version: UInt64 = 1

    /// HMAC-SHA256 of the challenge and both names, keyed by the cookie.
    static func proof(cookie: String, nonce: [UInt8], prover: String, verifier: String) -> [UInt8] {
        var data = nonce
        data.append(contentsOf: Array("\(prover)>\(verifier)".utf8))
        let code = HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: Array(cookie.utf8)))
        return Array(code)
    }

    static func verify(_ proof: [UInt8], cookie: String, nonce: [UInt8], prover: String, verifier: String) -> Bool {
        let expected = Self.proof(cookie: cookie, nonce: nonce, prover: prover, verifier: verifier)
        guard proof.count == expected.count else { return false }
        var difference: UInt8 = 0
        for index in proof.indices { difference |= proof[index] ^ expected[index] }
        return difference == 0
    }

    static func nonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}

/// Who is at the other end, once the handshake succeeded.
struct PeerInfo: Sendable, Equatable {
    let node: NodeName
    let incarnation: UInt64
    let hidden: Bool
    let publishEndpoint: String
}

/// This node's side of the handshake: the identity and secret it proves.
struct LocalIdentity: Sendable {
    let node: NodeName
    let incarnation: UInt64
    let hidden: Bool
    let cookie: String
    let publishEndpoint: String
}

/// The connecting side.
struct InitiatorHandshake: Sendable {
    enum Step: Equatable {
        case send(Packet)
        case established(PeerInfo, peers: [String])
        case failed(String)
        /// Send this (so the acceptor sees the mismatch and logs it, as Erlang's target does),
        /// then fail.
        case sendThenFail(Packet, String)
        /// Both nodes dialled each other at once; the peer's own connection wins (it is the
        /// lower name), so wait for it instead of failing.
        case yield
    }

    /// The refusal that settles a simultaneous connect.
    static let simultaneous = "simultaneous connection: the lower node name's connection wins"


    let local: LocalIdentity
    let expected: NodeName
    let nonce: [UInt8]
    private var peer: PeerInfo?

    init(local: LocalIdentity, connectingTo expected: NodeName, nonce: [UInt8] = Handshake.nonce()) {
        self.local = local
        self.expected = expected
        self.nonce = nonce
    }

    var hello: Packet {
        .hello(.init(node: local.node.description, incarnation: local.incarnation, version: Handshake.version,
                     hidden: local.hidden, nonce: nonce, publishEndpoint: local.publishEndpoint))
    }

    mutating func receive(_ packet: Packet) -> Step {
        switch packet {
        case .challenge(let challenge):
            guard peer == nil else { return .failed("a second challenge from \(expected)") }
            guard challenge.node == expected.description else {
                return .failed("\(expected) answered as \(challenge.node)")
            }
            let proof = Packet.proof(Handshake.proof(cookie: local.cookie, nonce: challenge.nonce,
                                                     prover: local.node.description, verifier: challenge.node))
            guard Handshake.verify(challenge.proof, cookie: local.cookie, nonce: nonce,
                                   prover: challenge.node, verifier: local.node.description)
            else { return .sendThenFail(proof, "\(expected) does not share our cookie (invalid challenge reply)") }
            peer = PeerInfo(node: expected, incarnation: challenge.incarnation, hidden: challenge.hidden,
                            publishEndpoint: challenge.publishEndpoint)
            return .send(proof)
        case .welcome(let peers):
            guard let peer else { return .failed("welcome before challenge from \(expected)") }
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
    let nonce: [UInt8]
    private(set) var peer: PeerInfo?

    /// Answers a hello: a challenge, or a refusal for a bad version or name.
    static func start(_ hello: Packet.Hello, local: LocalIdentity, nonce: [UInt8] = Handshake.nonce()) -> (AcceptorHandshake?, Step) {
        guard hello.version == Handshake.version else {
            return (nil, .refused(.refused("protocol version \(hello.version) is not supported (we speak \(Handshake.version))"),
                                  log: "Connection attempt from node \(hello.node) rejected: protocol version \(hello.version)"))
        }
        guard let node = try? NodeName(parsing: hello.node, defaultHost: "-"), node.host != "-" else {
            return (nil, .refused(.refused("bad node name"), log: "Connection attempt with a bad node name rejected"))
        }
        var acceptor = AcceptorHandshake(local: local, nonce: nonce)
        acceptor.peer = PeerInfo(node: node, incarnation: hello.incarnation, hidden: hello.hidden, publishEndpoint: hello.publishEndpoint)
        let challenge = Packet.challenge(.init(
            node: local.node.description, incarnation: local.incarnation, hidden: local.hidden,
            proof: Handshake.proof(cookie: local.cookie, nonce: hello.nonce, prover: local.node.description, verifier: hello.node),
            nonce: nonce, publishEndpoint: local.publishEndpoint))
        return (acceptor, .send(challenge))
    }

    private init(local: LocalIdentity, nonce: [UInt8]) {
        self.local = local
        self.nonce = nonce
    }

    /// Checks the initiator's proof. `peers` are this node's visible peers, for the welcome.
    func receive(_ packet: Packet, peers: [String]) -> Step {
        guard let peer else { return .refused(.refused("no hello"), log: "handshake out of order") }
        guard case .proof(let proof) = packet else {
            return .refused(.refused("unexpected packet"), log: "Connection attempt from node \(peer.node) rejected: unexpected packet")
        }
        guard Handshake.verify(proof, cookie: local.cookie, nonce: nonce, prover: peer.node.description, verifier: local.node.description) else {
            return .refused(.refused("invalid challenge reply (cookie mismatch)"),
                            log: "Connection attempt from node \(peer.node) rejected. Invalid challenge reply.")
        }
        return .established(peer, welcome: .welcome(peers: peers))
    }
}
