@testable import Cluster
import Testing
import ZeroMQ

/// A peer's way out, on real sockets: a lone packet leaves at once in a frame of its own,
/// after the packets riding with it; what ZeroMQ will not take waits in the peer's backlog,
/// in order and up to its bound, and leaves with the next flush.
@Suite(.timeLimit(.minutes(1)))
struct PeerSendTests {
    let context: Context
    /// Only a ROUTER link sends on it; these peers are DEALER links.
    let router: Socket

    init() throws {
        context = try Context()
        router = try context.socket(.router)
    }

    /// A DEALER link's peer; its frames are dropped at close, so a failed test cannot hang the
    /// context's end.
    func peer(on dealer: Socket) throws -> TransportLoop.Peer {
        try dealer.setLinger(milliseconds: 0)
        let info = PeerInfo(node: NodeName(name: "b", host: "h"), incarnation: 1, hidden: false, publishEndpoint: "tcp://127.0.0.1:1")
        return TransportLoop.Peer(info: info, link: .dealer(dealer, monitor: try context.socket(.pair)), hidden: false)
    }

    func packet(_ name: String) -> [UInt8] { Batch.encode(.peers([name])) }

    /// The packets of each frame `receiver` reads, until it has `count` frames (5 s at most each).
    func frames(_ count: Int, at receiver: Socket) throws -> [[Packet]] {
        try receiver.setReceiveTimeout(milliseconds: 5_000)
        return try (0..<count).map { _ in
            let message = try #require(try receiver.receiveMessage())
            let (packets, error) = Batch.packets(in: try #require(message.last))
            #expect(error == nil)
            return packets
        }
    }

    @Test func aLonePacketLeavesAtOnceInItsOwnFrameAfterItsRiders() throws {
        let receiver = try context.socket(.router)
        try receiver.bind("tcp://127.0.0.1:*")
        let dealer = try context.socket(.dealer)
        try dealer.connect(try receiver.lastEndpoint())
        var peer = try peer(on: dealer)
        Batch.append(packet("rider"), to: &peer.riders)
        var frame: [UInt8] = []
        let lone = peer.sendAlone(packet("lone"), router: router, frame: &frame, limit: 1 << 20)
        #expect(lone && peer.riders.isEmpty && peer.batch.isEmpty && peer.backlog.isEmpty)
        let next = peer.sendAlone(packet("next"), router: router, frame: &frame, limit: 1 << 20)
        #expect(next)
        #expect(try frames(2, at: receiver) == [[.peers(["rider"]), .peers(["lone"])], [.peers(["next"])]])
    }

    @Test func whatZeroMQRefusesWaitsInTheBacklogInOrderUpToItsBound() throws {
        let dealer = try context.socket(.dealer)  // connected to nothing yet: ZeroMQ takes no frame
        var peer = try peer(on: dealer)
        var framed: [UInt8] = []
        Batch.append(packet("first"), to: &framed)
        let limit = 2 * framed.count  // "first" and "third" frame to the same size
        var frame: [UInt8] = []
        let sent = ["first", "third", "over"].map { peer.sendAlone(packet($0), router: router, frame: &frame, limit: limit) }
        #expect(sent == [true, true, false], "past the bound, a frame is dropped")
        #expect(peer.backlog.count == 2 && peer.backlogBytes == limit && peer.overflowed)

        let receiver = try context.socket(.router)
        try receiver.bind("tcp://127.0.0.1:*")
        try dealer.connect(try receiver.lastEndpoint())
        // What was kept still leaves, in order; the peer stays overflowed (its connection is
        // about to be dropped).
        let flushed = peer.flush(router: router, limit: limit)
        #expect(!flushed && peer.backlog.isEmpty && peer.backlogBytes == 0)
        #expect(try frames(2, at: receiver) == [[.peers(["first"])], [.peers(["third"])]])
    }

    /// Once a frame was dropped, nothing after it is queued, even what the emptied backlog
    /// would hold: it would arrive after the lost frame as if nothing had been lost.
    @Test func nothingIsQueuedAfterAFrameWasDropped() throws {
        let dealer = try context.socket(.dealer)  // connected to nothing: ZeroMQ takes no frame
        var peer = try peer(on: dealer)
        var framed: [UInt8] = []
        Batch.append(packet("first"), to: &framed)
        let limit = framed.count
        peer.enqueue(packet("first"))
        let kept = peer.flush(router: router, limit: limit)
        #expect(kept && !peer.overflowed)
        peer.enqueue(packet("lost"))
        let lost = peer.flush(router: router, limit: limit)
        #expect(!lost && peer.overflowed)
        peer.backlog.removeAll()  // as if ZeroMQ had taken "first" meanwhile
        peer.backlogBytes = 0
        peer.enqueue(packet("after"))
        let after = peer.flush(router: router, limit: limit)
        #expect(!after, "a frame after the lost one is dropped too")
        var frame: [UInt8] = []
        let alone = peer.sendAlone(packet("alone"), router: router, frame: &frame, limit: limit)
        #expect(!alone)
        #expect(peer.backlog.isEmpty && peer.batch.isEmpty)
    }
}
