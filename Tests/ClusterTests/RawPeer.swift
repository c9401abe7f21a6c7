@testable import Cluster
import ClusterTestKit
import Testing
import ZeroMQ

/// A node speaking the cluster protocol from raw sockets: it shakes hands with a node (and
/// `logIn` returns once that node counts it among its peers), then reads nothing until told
/// to (its ZeroMQ queue holds one frame).
struct RawPeer {
    static let name = NodeName(name: "slow", host: "localhost")
    let dealer: Socket
    let publisher: Socket

    static func logIn(to node: ClusterNode, context: Context) async throws -> RawPeer {
        let publisher = try context.socket(.pub)
        try publisher.setLinger(milliseconds: 0)
        try publisher.bind("tcp://127.0.0.1:*")
        let dealer = try context.socket(.dealer)
        try dealer.setLinger(milliseconds: 0)
        try dealer.setReceiveHighWaterMark(1)
        try dealer.connect("tcp://127.0.0.1:\(node.clusterPort)")
        let identity = LocalIdentity(node: name, incarnation: 1, hidden: false, cookie: "test-cookie",
                                     publishEndpoint: try publisher.lastEndpoint())
        var handshake = InitiatorHandshake(local: identity, connectingTo: node.name)
        var next = handshake.hello(dialling: node.clusterPort)
        while true {
            _ = try dealer.send([frame(next)], dontWait: false)
            let reply = try #require(try await nextMessage(on: dealer, within: .seconds(5))?.last)
            let packet = try #require(Batch.packets(in: reply).packets.first)
            switch handshake.receive(packet) {
            case .send(let answer): next = answer
            case .established:
                try await eventually("\(node.name) sees the raw peer") { node.nodes().contains(name) }
                return RawPeer(dealer: dealer, publisher: publisher)
            case .failed(let reason): throw TestClusterError.notConnected(reason)
            case .yield: throw TestClusterError.notConnected("yielded")
            }
        }
    }

    /// The next message on `socket`, or nil when none comes within `limit`. Looked for without
    /// holding a thread: a test that blocked in ZeroMQ held one of the pool's threads (two on
    /// a machine of two cores), which every process of every test in the binary shares, for a
    /// second or more.
    static func nextMessage(on socket: Socket, within limit: Duration) async throws -> [[UInt8]]? {
        let deadline = ContinuousClock.now + limit
        while true {
            if let message = try socket.receiveMessage(dontWait: true) { return message }
            guard ContinuousClock.now < deadline else { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    static func frame(_ packet: Packet) -> [UInt8] {
        var frame: [UInt8] = []
        Batch.append(Batch.encode(packet), to: &frame)
        return frame
    }

    /// The number a `payload` carries.
    static func number(in payload: [UInt8]) -> Int {
        payload.prefix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
    }

    /// A message of `size` bytes (64 KiB unless told) whose first four bytes are `number`.
    static func payload(_ number: Int, size: Int = 64 << 10) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        withUnsafeBytes(of: UInt32(number).littleEndian) { bytes.replaceSubrange(0..<4, with: $0) }
        return bytes
    }

    /// The numbers of the messages for `sink` it reads, in order, until nothing comes for a
    /// second.
    func readNumbers(registry: WireRegistry) async throws -> [Int] {
        try await read(registry: registry).messages.map(Self.number(in:))
    }

    /// What it reads until nothing comes for a second: each frame's size, and the messages
    /// for `sink` (byte arrays), put together from their parts.
    func read(registry: WireRegistry) async throws -> (frameSizes: [Int], messages: [[UInt8]]) {
        var frameSizes: [Int] = []
        var messages: [[UInt8]] = []
        var assembly = PartAssembly()
        func take(_ packet: Packet) throws {
            switch packet {
            case .namedMessage("sink", let payload):
                var reader = WireReader(payload)
                messages.append(try #require(try registry.decode(from: &reader) as? [UInt8]))
            case .part(let last, let bytes):
                guard case .complete(let whole) = assembly.add(bytes, last: last) else { return }
                var reader = WireReader(whole)
                try take(try Packet(from: &reader))
            default:
                break
            }
        }
        while let message = try await Self.nextMessage(on: dealer, within: .seconds(1)), let frame = message.last {
            frameSizes.append(frame.count)
            let (packets, error) = Batch.packets(in: frame)
            #expect(error == nil)
            for packet in packets { try take(packet) }
        }
        return (frameSizes, messages)
    }

    /// Sends `packet` in a frame of its own.
    func send(_ packet: Packet) throws {
        _ = try dealer.send([Self.frame(packet)], dontWait: false)
    }

    func close() {
        dealer.close()
        publisher.close()
    }
}
