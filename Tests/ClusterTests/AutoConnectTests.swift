@testable import Cluster
import ClusterTestKit
import Processes
import Synchronization
import Testing

/// A link, a monitor or a node monitor towards a node this one is not connected to connects
/// to it first, as in Erlang (and a call, which monitors its server); only if that fails do
/// they fire with `noconnection` or `NodeDown`. They used to fire at once, so a call to a
/// server on a node not yet connected failed without trying it.
@Suite(.timeLimit(.minutes(2)))
struct AutoConnectTests {
    /// A process on `node` that ends with `.other(reason)` when it gets any message.
    func quitter(on node: ClusterNode, reason: String) -> Pid {
        node.runtime.spawn { context in
            _ = try await context.receiveAny()
            throw ExitReason.other(reason)
        }
    }

    @Test func aMonitorAndALinkConnectToTheNodeAndCarryTheRealReason() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            let target = quitter(on: b, reason: "bye")
            try await a.runtime.withProcess { context async throws in
                context.trapExit()
                let ref = context.monitor(target)
                context.link(target)
                try await eventually("a connects to b") { a.nodes() == [b.name] }
                context.send("go", to: target)
                let down = try await context.receive(timeout: .seconds(10)) { ($0 as? Down).flatMap { $0.ref == ref ? $0 : nil } }
                #expect(down?.reason == .other("bye"))
                #expect(try await context.receive(Exit.self, timeout: .seconds(10)) == Exit(from: target, reason: .other("bye")))
            }
        }
    }

    @Test func anExitSignalConnectsToTheNode() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            let target = b.runtime.spawn(idle)
            let ended = try await b.runtime.withProcess { watcher async throws in
                let ref = watcher.monitor(target)
                a.runtime.spawn { context in context.exit(target, reason: .other("from a")) }
                return try await watcher.receive(timeout: .seconds(10)) { ($0 as? Down).flatMap { $0.ref == ref ? $0.reason : nil } }
            }
            #expect(ended == .other("from a"))
        }
    }

    @Test func aCallToAServerOnANodeNotYetConnectedIsAnswered() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a", registry: callRegistry())
            let b = try await cluster.startNode("b", registry: callRegistry())
            let server = try await b.runtime.withProcess { context async throws in
                try await context.startServer { _ in Doubler() }
            }
            try await a.runtime.withProcess { context async throws in
                #expect(try await context.call(server, 21) == 42)
            }
            #expect(a.nodes() == [b.name])
        }
    }

    @Test func aNodeMonitorConnectsAndFiresWhenTheNodeGoes() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let b = try await cluster.startNode("b")
            try await a.runtime.withProcess { context async throws in
                a.monitorNode(b.name, for: context.pid)
                try await eventually("a connects to b") { a.nodes() == [b.name] }
                await b.shutdown()
                #expect(try await context.receive(NodeDown.self, timeout: .seconds(10)) == NodeDown(node: b.name))
            }
        }
    }

    /// Nobody answers: everything recorded for the attempt fires once it fails.
    @Test func towardsANodeThatCannotBeReachedAllFireWithNoconnection() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a")
            let ghost = NodeName(name: "ghost", host: "localhost")
            let remote = Pid(node: ghost.description, incarnation: 1, serial: 1)
            try await a.runtime.withProcess { context async throws in
                context.trapExit()
                let ref = context.monitor(remote)
                context.link(remote)
                a.monitorNode(ghost, for: context.pid)
                let down = try await context.receive(timeout: .seconds(10)) { ($0 as? Down).flatMap { $0.ref == ref ? $0 : nil } }
                #expect(down?.reason == .noconnection)
                #expect(try await context.receive(Exit.self, timeout: .seconds(10)) == Exit(from: remote, reason: .noconnection))
                #expect(try await context.receive(NodeDown.self, timeout: .seconds(10)) == NodeDown(node: ghost))
            }
            let left = a.shared.withLock { $0.book.lose(ghost) }
            #expect(left.links.isEmpty && left.monitorsOfRemote.isEmpty, "nothing is left on record")
        }
    }
}
