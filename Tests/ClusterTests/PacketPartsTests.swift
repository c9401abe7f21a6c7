@testable import Cluster
import Testing

/// Big packets travel in pieces, and come back whole.
@Suite struct PacketPartsTests {
    @Test func aPacketThatFitsAFrameGoesWhole() {
        let packet = [UInt8](repeating: 7, count: Packet.maxWholeBytes)
        #expect(Packet.parts(of: packet) == [packet])
    }

    @Test func aBigPacketGoesInPartsNoBiggerThanAWholePacketAndIsPutTogetherAgain() throws {
        let packet = patternedBytes(3 * Packet.maxWholeBytes + 5, step: 31)
        let parts = Packet.parts(of: packet)
        #expect(parts.count == 4)
        #expect(parts.allSatisfy { $0.count <= Packet.maxWholeBytes })

        var assembly = PartAssembly()
        var steps: [PartAssembly.Step] = []
        for part in parts {
            var reader = WireReader(part)
            guard case .part(let last, let bytes) = try Packet(from: &reader) else {
                Issue.record("not a part")
                return
            }
            steps.append(assembly.add(bytes, last: last))
        }
        #expect(steps == [.waiting, .waiting, .waiting, .complete(packet)])
        #expect(assembly.waitingBytes == 0)
    }

    /// A peer cannot make a node keep more than the largest packet for it.
    @Test func piecesPastTheLargestPacketAreRefusedAndForgotten() {
        var assembly = PartAssembly()
        let piece = [UInt8](repeating: 1, count: 1 << 20)
        for _ in 0..<(Packet.maxBytes / piece.count) {
            #expect(assembly.add(piece, last: false) == .waiting)
        }
        #expect(assembly.waitingBytes == Packet.maxBytes)
        #expect(assembly.add([1], last: true) == .tooLarge)
        #expect(assembly.waitingBytes == 0)
        #expect(assembly.add([1, 2], last: true) == .complete([1, 2]))
    }
}
