import Cluster
import ClusterTestKit
import Processes
import Testing

@Suite(.timeLimit(.minutes(2)))
struct GlobalLockTests {
    @Test func aLockIsHeldByOneRequesterAtATime() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            let first = nodes[0].runtime.spawn(idle)
            let second = nodes[1].runtime.spawn(idle)
            #expect(try await nodes[0].global.setLock("res", for: first))
            #expect(try await nodes[0].global.setLock("res", for: first))  // again: the same holder
            #expect(try await nodes[1].global.setLock("res", for: second, timeout: .milliseconds(300)) == false)
            async let waiting = nodes[1].global.setLock("res", for: second, timeout: .seconds(10))
            await nodes[0].global.delLock("res", for: first)
            await nodes[0].global.delLock("res", for: first)
            #expect(try await waiting)
        }
    }

    @Test func aHolderWhoseNodeDiesReleasesTheLock() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let holder = nodes[2].runtime.spawn(idle)
            #expect(try await nodes[2].global.setLock("db", for: holder))
            let waiter = nodes[1].runtime.spawn(idle)
            async let granted = nodes[1].global.setLock("db", for: waiter, timeout: .seconds(20))
            await nodes[2].shutdown()
            #expect(try await granted)
        }
    }

    @Test func locksOutliveTheLeaderThatGrantedThem() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)  // n1 leads
            let holder = nodes[2].runtime.spawn(idle)
            #expect(try await nodes[2].global.setLock("db", for: holder))
            await nodes[0].shutdown()
            try await eventually("n1 gone") { nodes[1].nodes() == [nodes[2].name] && nodes[2].nodes() == [nodes[1].name] }
            let waiter = nodes[1].runtime.spawn(idle)
            #expect(try await nodes[1].global.setLock("db", for: waiter, timeout: .milliseconds(300)) == false)
            async let granted = nodes[1].global.setLock("db", for: waiter, timeout: .seconds(10))
            await nodes[2].global.delLock("db", for: holder)
            #expect(try await granted)
        }
    }

    @Test func transRunsTheBodyUnderTheLockAndReleasesIt() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            let a = nodes[0].runtime.spawn(idle)
            let b = nodes[1].runtime.spawn(idle)
            let value = try await nodes[0].global.trans("t", for: a) {
                try await nodes[1].global.setLock("t", for: b, timeout: .milliseconds(200)) ? "overlap" : "exclusive"
            }
            #expect(value == "exclusive")
            #expect(try await nodes[1].global.setLock("t", for: b, timeout: .seconds(5)))
        }
    }
}
