import Processes

/// Everything nodes say to each other on their data connections. Several packets travel in one
/// ZeroMQ frame under load (see `Batch`); each is a kind byte and its fields.
enum Packet: Sendable, Equatable {
    /// Handshake 1, initiator → acceptor: who I am, and a challenge for you.
    case hello(Hello)
    /// Handshake 2, acceptor → initiator: who I am, and my challenge.
    case challenge(Challenge)
    /// Handshake 3, initiator → acceptor: my proof of the exchange (see `Handshake`).
    case proof([UInt8])
    /// Handshake 4: accepted, with the acceptor's visible peers (for the full mesh) and its
    /// own proof of the exchange.
    case welcome(peers: [String], proof: [UInt8])
    /// The handshake was refused, with the reason in words.
    case refused(String)
    /// Visible peers of the sender, so that joining one member joins them all.
    case peers([String])
    /// A message for a pid of the receiving node (the payload is registry-encoded).
    case message(to: Pid, payload: [UInt8])
    /// A message for a name registered on the receiving node.
    case namedMessage(name: String, payload: [UInt8])
    case link(from: Pid, to: Pid)
    case unlink(from: Pid, to: Pid)
    case exit(from: Pid, to: Pid, reason: ExitReason, viaLink: Bool)
    case monitor(ref: Ref, watcher: Pid, target: Pid)
    case demonitor(ref: Ref, target: Pid)
    /// The sender leaves (shutdown) or drops this connection (disconnect).
    case goodbye(NodeDownReason)
    /// A piece of a packet bigger than `maxWholeBytes`, which travels in pieces so that no
    /// frame is much bigger than a batch (see `parts(of:)`); the last piece completes it.
    case part(last: Bool, bytes: [UInt8])

    struct Hello: Sendable, Equatable {
        let node: String
        let incarnation: UInt64
        let version: UInt64
        let hidden: Bool
        let nonce: [UInt8]
        let publishEndpoint: String
        /// The acceptor's port as this initiator dialled it.
        let dialledPort: UInt64
        /// The initiator's tick time in milliseconds (`Handshake.Transcript.Side.tickMillis`).
        let tickMillis: UInt64
    }

    struct Challenge: Sendable, Equatable {
        let node: String
        let incarnation: UInt64
        let hidden: Bool
        let nonce: [UInt8]
        let publishEndpoint: String
        let tickMillis: UInt64
    }

    /// The largest packet the cluster carries (a message with its address): 64 MiB, as much
    /// as a peer may have queued. A send past it fails with `MessageTooLarge`.
    public static let maxBytes = 64 << 20
    /// The largest packet that travels whole: a batch's worth, with room for a 64 KiB
    /// message's address and type. A bigger one goes in `part`s of at most this size, so
    /// that ZeroMQ, whose queues count frames, never holds a frame much bigger than a batch.
    static let maxWholeBytes = Batch.flushBytes + 4_096
    /// The largest ZeroMQ frame a node accepts (`ZMQ_MAXMSGSIZE`): a batch just short of
    /// being flushed plus one whole packet, with room for its length and CURVE's box.
    static let maxFrameBytes = Batch.flushBytes + maxWholeBytes + 1_024
    /// The largest frame worth reading from a connection that has not shaken hands: a hello
    /// or a proof (names are at most 255 bytes, endpoints a few dozen).
    static let maxHandshakeFrameBytes = 2_048

    static let messageKind = Kind.message.rawValue
    static let namedMessageKind = Kind.namedMessage.rawValue

    fileprivate enum Kind: UInt8 {
        case hello = 1, challenge, proof, welcome, refused, peers, message, namedMessage
        case link, unlink, exit, monitor, demonitor, goodbye, part
    }

    func encode(to writer: inout WireWriter) {
        switch self {
        case .hello(let hello):
            writer.write(Kind.hello.rawValue)
            writer.writeString(hello.node)
            writer.writeVarint(hello.incarnation)
            writer.writeVarint(hello.version)
            hello.hidden.encode(to: &writer)
            writer.writeBytes(hello.nonce)
            writer.writeString(hello.publishEndpoint)
            writer.writeVarint(hello.dialledPort)
            writer.writeVarint(hello.tickMillis)
        case .challenge(let challenge):
            writer.write(Kind.challenge.rawValue)
            writer.writeString(challenge.node)
            writer.writeVarint(challenge.incarnation)
            challenge.hidden.encode(to: &writer)
            writer.writeBytes(challenge.nonce)
            writer.writeString(challenge.publishEndpoint)
            writer.writeVarint(challenge.tickMillis)
        case .proof(let proof):
            writer.write(Kind.proof.rawValue)
            writer.writeBytes(proof)
        case .welcome(let peers, let proof):
            writer.write(Kind.welcome.rawValue)
            Self.writeNames(peers, to: &writer)
            writer.writeBytes(proof)
        case .refused(let reason):
            writer.write(Kind.refused.rawValue)
            writer.writeString(reason)
        case .peers(let peers):
            writer.write(Kind.peers.rawValue)
            Self.writeNames(peers, to: &writer)
        case .message(let pid, let payload):
            writer.write(Kind.message.rawValue)
            pid.encode(to: &writer)
            writer.writeRaw(payload)
        case .namedMessage(let name, let payload):
            writer.write(Kind.namedMessage.rawValue)
            writer.writeString(name)
            writer.writeRaw(payload)
        case .link(let from, let to):
            writer.write(Kind.link.rawValue)
            from.encode(to: &writer)
            to.encode(to: &writer)
        case .unlink(let from, let to):
            writer.write(Kind.unlink.rawValue)
            from.encode(to: &writer)
            to.encode(to: &writer)
        case .exit(let from, let to, let reason, let viaLink):
            writer.write(Kind.exit.rawValue)
            from.encode(to: &writer)
            to.encode(to: &writer)
            reason.encode(to: &writer)
            viaLink.encode(to: &writer)
        case .monitor(let ref, let watcher, let target):
            writer.write(Kind.monitor.rawValue)
            ref.encode(to: &writer)
            watcher.encode(to: &writer)
            target.encode(to: &writer)
        case .demonitor(let ref, let target):
            writer.write(Kind.demonitor.rawValue)
            ref.encode(to: &writer)
            target.encode(to: &writer)
        case .goodbye(let reason):
            writer.write(Kind.goodbye.rawValue)
            writer.writeString(reason.rawValue)
        case .part(let last, let bytes):
            writer.write(Kind.part.rawValue)
            last.encode(to: &writer)
            writer.writeRaw(bytes)
        }
    }

    /// Reads one packet spanning all of `reader`.
    init(from reader: inout WireReader) throws(WireError) {
        guard let kind = Kind(rawValue: try reader.read()) else { throw .malformed("unknown packet kind") }
        switch kind {
        case .hello:
            self = .hello(Hello(
                node: try reader.readString(), incarnation: try reader.readVarint(), version: try reader.readVarint(),
                hidden: try Bool(from: &reader), nonce: try reader.readBytes(), publishEndpoint: try reader.readString(),
                dialledPort: try reader.readVarint(), tickMillis: try reader.readVarint()))
        case .challenge:
            self = .challenge(Challenge(
                node: try reader.readString(), incarnation: try reader.readVarint(), hidden: try Bool(from: &reader),
                nonce: try reader.readBytes(), publishEndpoint: try reader.readString(), tickMillis: try reader.readVarint()))
        case .proof: self = .proof(try reader.readBytes())
        case .welcome: self = .welcome(peers: try Self.readNames(&reader), proof: try reader.readBytes())
        case .refused: self = .refused(try reader.readString())
        case .peers: self = .peers(try Self.readNames(&reader))
        case .message: self = .message(to: try Pid(from: &reader), payload: reader.readRest())
        case .namedMessage: self = .namedMessage(name: try reader.readString(), payload: reader.readRest())
        case .link: self = .link(from: try Pid(from: &reader), to: try Pid(from: &reader))
        case .unlink: self = .unlink(from: try Pid(from: &reader), to: try Pid(from: &reader))
        case .exit:
            self = .exit(from: try Pid(from: &reader), to: try Pid(from: &reader),
                         reason: try ExitReason(from: &reader), viaLink: try Bool(from: &reader))
        case .monitor: self = .monitor(ref: try Ref(from: &reader), watcher: try Pid(from: &reader), target: try Pid(from: &reader))
        case .demonitor: self = .demonitor(ref: try Ref(from: &reader), target: try Pid(from: &reader))
        case .goodbye:
            guard let reason = NodeDownReason(rawValue: try reader.readString()) else { throw .malformed("bad goodbye reason") }
            self = .goodbye(reason)
        case .part: self = .part(last: try Bool(from: &reader), bytes: reader.readRest())
        }
        guard reader.isAtEnd else { throw .malformed("trailing bytes after a packet") }
    }

    private static func writeNames(_ names: [String], to writer: inout WireWriter) {
        writer.writeVarint(UInt64(names.count))
        for name in names { writer.writeString(name) }
    }

    private static func readNames(_ reader: inout WireReader) throws(WireError) -> [String] {
        let count = try reader.readVarint()
        guard count <= UInt64(reader.remaining) else { throw .truncated }
        var names: [String] = []
        for _ in 0..<count { names.append(try reader.readString()) }
        return names
    }
}

/// Several packets in one frame: each preceded by its length.
enum Batch {
    /// The most bytes a packet's length takes in a frame (a varint of 64 bits).
    static let maxLengthPrefix = 10
    /// A frame is handed to ZeroMQ once it holds this much.
    static let flushBytes = 64 << 10

    static func append(_ packet: [UInt8], to frame: inout [UInt8]) {
        // The length as a varint, written in place (as `WireWriter.writeVarint` does).
        var length = UInt64(packet.count)
        while length >= 0x80 {
            frame.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        frame.append(UInt8(length))
        frame.append(contentsOf: packet)
    }

    /// The packets of a frame; a malformed one ends the frame (what came before it stands).
    static func packets(in frame: [UInt8]) -> (packets: [Packet], error: WireError?) {
        var packets: [Packet] = []
        let error = walk(frame, message: { pid, payload in packets.append(.message(to: pid, payload: payload.readRest())) },
                         other: { packets.append($0); return true })
        return (packets, error)
    }

    /// Walks a frame's packets in order. A `.message` packet, most of them, is handed over as
    /// its pid and a reader at its payload, read straight from the frame: no packet value and
    /// no copy of the payload. A string read that equals one of `sharedNames` (the names of
    /// the frame's two nodes) shares it (`WireReader.sharedStrings`). Any other packet is
    /// handed over whole, and `other` returns false to stop (after a goodbye). A malformed
    /// packet ends the walk and is returned; what came before it stands.
    static func walk(
        _ frame: [UInt8], sharedNames: [String] = [], message: (Pid, inout WireReader) -> Void, other: (Packet) -> Bool
    ) -> WireError? {
        var reader = WireReader(frame)
        reader.sharedStrings = sharedNames
        do throws(WireError) {
            while !reader.isAtEnd {
                var packet = try reader.readLengthPrefixed()
                if packet.next == Packet.messageKind {
                    packet.skip(1)
                    message(try Pid(from: &packet), &packet)
                } else if !other(try Packet(from: &packet)) {
                    return nil
                }
            }
            return nil
        } catch {
            return error
        }
    }

    static func encode(_ packet: Packet) -> [UInt8] {
        var writer = WireWriter()
        packet.encode(to: &writer)
        return writer.bytes
    }
}
