@testable import Cluster
import ClusterTestKit
import Processes
import Synchronization
import Testing
import ZeroMQ

/// Messages bigger than a batch cross in parts: ZeroMQ's queues count frames, so no frame
/// may be much bigger than a batch if 1,000 of them are to be a bound on memory.
@Suite(.timeLimit(.minutes(2)))
struct BigMessageTests {
    @Test func aBigMessageLeavesInFramesNoBiggerThanABatchAndArrivesWhole() async throws {
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a") { $0.encrypted = false }
            let peer = try await RawPeer.logIn(to: a, context: try Context())
            defer { peer.close() }

            let big = patternedBytes(1 << 20, step: 7)
            a.runtime.send(big, toName: "sink", on: RawPeer.name.description)
            a.runtime.send([UInt8]([1, 2, 3]), toName: "sink", on: RawPeer.name.description)

            let (frameSizes, messages) = try await peer.read(registry: a.registry)
            #expect(frameSizes.count > 1)
            // A batch and a whole packet at most, and so within what ZeroMQ accepts.
            #expect(frameSizes.allSatisfy { $0 <= 140 << 10 && $0 <= Packet.maxFrameBytes }, "\(frameSizes)")
            #expect(messages == [big, [1, 2, 3]])
        }
    }

    /// Between two nodes, encrypted, whose ZeroMQ refuses frames past `maxFrameBytes`: a
    /// message of 5 MiB arrives whole, in order between the small ones around it.
    @Test func twoNodesCarryABigMessageInOrderBetweenSmallOnes() async throws {
        // A long tick: a loaded machine that takes seconds to encrypt 5 MiB must not look dead.
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try #require(await a.connect(b.name))
            let seen = Mutex<[[UInt8]]>([])
            let sink = b.runtime.spawn { context in
                for _ in 0..<3 {
                    let message = try await context.receive([UInt8].self)
                    seen.withLock { $0.append(message) }
                }
            }
            let big = patternedBytes(5 << 20, step: 13)
            a.runtime.send([UInt8]([1]), to: sink)
            a.runtime.send(big, to: sink)
            a.runtime.send([UInt8]([2]), to: sink)
            try await eventually("three messages", within: .seconds(30)) { seen.withLock { $0.count } == 3 }
            #expect(seen.withLock { $0 } == [[1], big, [2]])
            #expect(a.nodes() == [b.name])
        }
    }

    /// A logged-in peer that sends pieces of a packet past the largest one a node sends is
    /// disconnected, not kept for: its node holds at most that much for it.
    @Test func aPeerThatSendsMoreThanTheLargestMessageInPartsIsDisconnected() async throws {
        try await withTestCluster(tickTime: .seconds(60)) { cluster in
            let a = try await cluster.startNode("a") { $0.encrypted = false }
            let peer = try await RawPeer.logIn(to: a, context: try Context())
            defer { peer.close() }

            let piece = [UInt8](repeating: 9, count: Packet.maxWholeBytes - 2)
            for _ in 0...(Packet.maxBytes / piece.count) {
                try peer.send(.part(last: false, bytes: piece))
            }
            try await eventually("a disconnects the peer", within: .seconds(30)) { a.nodes().isEmpty }
            #expect(cluster.logs.contains("slow@localhost sent more than the 64 MiB a cluster message may be; disconnecting"))
            let b = try await cluster.startNode("b") { $0.encrypted = false }
            #expect(await a.connect(b.name))
        }
    }
}
