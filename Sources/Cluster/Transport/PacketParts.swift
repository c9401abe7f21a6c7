/// Packets bigger than a frame should be, in pieces: ZeroMQ bounds its queues in frames, so
/// a frame of 64 MiB would let it hold a thousand times that for a peer that stops reading.
extension Packet {
    /// The packets that carry the encoded `packet`: itself when it goes whole, or else its
    /// bytes in order in `part` packets of at most `maxWholeBytes` each, the last one marked.
    /// They must go to the peer one after another, nothing between them.
    static func parts(of packet: [UInt8]) -> [[UInt8]] {
        guard packet.count > maxWholeBytes else { return [packet] }
        let pieceBytes = maxWholeBytes - 2  // a part's kind and flag
        return stride(from: 0, to: packet.count, by: pieceBytes).map { start in
            let end = min(start + pieceBytes, packet.count)
            return Batch.encode(.part(last: end == packet.count, bytes: Array(packet[start..<end])))
        }
    }
}

/// A packet put together again from the `part`s of one peer's stream, which come in order.
/// Bounded by `Packet.maxBytes`, the largest packet a node sends: a peer that sends more is
/// broken or hostile. (A node sends nothing between a packet's parts; packets that a broken
/// peer puts there are read as they come, and cost it only its own message.)
struct PartAssembly {
    enum Step: Equatable {
        case waiting
        case complete([UInt8])
        case tooLarge
    }

    private var bytes: [UInt8] = []

    /// How many bytes wait for the rest of their packet.
    var waitingBytes: Int { bytes.count }

    mutating func add(_ piece: [UInt8], last: Bool) -> Step {
        guard bytes.count + piece.count <= Packet.maxBytes else {
            bytes = []
            return .tooLarge
        }
        bytes.append(contentsOf: piece)
        guard last else { return .waiting }
        defer { bytes = [] }
        return .complete(bytes)
    }
}
