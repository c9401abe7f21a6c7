import Cluster
import Foundation
import Logging
import ServiceLifecycle
import Todo

/// The cluster node as a service of the program's service group: it runs until a graceful
/// shutdown (SIGTERM, SIGINT), then leaves the cluster so peers see it go at once.
struct NodeService: Service {
    let node: ClusterNode
    let joining: [NodeName]
    /// Called after each try to join, the first one included, whatever its outcome.
    let triedToJoin: @Sendable () -> Void

    func run() async throws {
        let join = Task { await joinCluster() }
        try? await gracefulShutdown()
        join.cancel()
        await node.shutdown()
    }

    /// `--connect`: dial them all, and keep trying with back-off until one of them answers.
    /// The node itself is left out: one list of every member may be given to each.
    private func joinCluster() async {
        let others = joining.filter { $0 != node.name }
        guard !others.isEmpty else { return triedToJoin() }
        var backoff = Duration.milliseconds(200)
        while !Task.isCancelled {
            if let through = await node.connect(toAnyOf: others) {
                node.logger.info("joined the cluster through \(through)")
                return triedToJoin()
            }
            node.logger.info("no node of \(others.map(\.description).joined(separator: ", ")) answers yet; retrying in \(backoff)")
            triedToJoin()
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }
}

/// The to-do system as a service: on graceful shutdown its list servers finish the request in
/// hand and stop, the node leaves the cluster, then the database writer writes what it holds
/// (`TodoSystem.stopServing`). The store is closed after (`main`).
struct TodoService: Service {
    let system: TodoSystem

    func run() async throws {
        try? await gracefulShutdown()
        await system.stopServing(thenLeave: { await system.node.shutdown() })
    }
}
