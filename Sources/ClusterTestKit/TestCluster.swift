import Cluster
import Processes
import Synchronization

/// N nodes in one test process, on free loopback ports, with a port mapper of their own.
/// Use it through `withTestCluster`, which stops everything and prints the nodes' logs only
/// when the test body throws (use `#require` for what the test stands on).
public final class TestCluster: Sendable {
    public let mapper: PortMapperServer
    public let logs: LogCapture
    public let tickTime: Duration
    private let started = Mutex<[ClusterNode]>([])

    /// `mapperBoundPerAddress`: the mapper's bound on connections without a registration from
    /// one address (16, as a real mapper's, unless told). The mapper logs with the nodes.
    public init(tickTime: Duration = .seconds(1), mapperBoundPerAddress: Int = 16) throws {
        let logs = LogCapture()
        self.logs = logs
        // Not settling: no node ran before it, and a lookup of a name never registered
        // fails at once, as the tests expect (they test the settling with mappers of their own).
        mapper = try PortMapperServer(port: 0, host: "127.0.0.1", leaseTime: .seconds(30), maxUnregisteredPerAddress: mapperBoundPerAddress,
                                      settling: .zero, logger: logs.logger(for: "mapper"))
        self.tickTime = tickTime
    }

    public var nodes: [ClusterNode] { started.withLock { $0 } }

    /// Starts a node `name@localhost`; `configure` may change its settings last.
    @discardableResult
    public func startNode(
        _ name: String, cookie: String = "test-cookie", hidden: Bool = false, registry: WireRegistry = WireRegistry(),
        configure: (inout ClusterSettings) -> Void = { _ in }
    ) async throws -> ClusterNode {
        try await startNode(name, cookie: cookie, hidden: hidden, registry: registry, configure: configure) { _ in }.node
    }

    /// As `startNode`, with `readying` run before peers can log in (`ClusterNode.start`).
    public func startNode<Ready: Sendable>(
        _ name: String, cookie: String = "test-cookie", hidden: Bool = false, registry: WireRegistry = WireRegistry(),
        configure: (inout ClusterSettings) -> Void = { _ in }, readying: (ClusterNode) async throws -> Ready
    ) async throws -> (node: ClusterNode, ready: Ready) {
        var settings = ClusterSettings(node: NodeName(name: name, host: "localhost"), cookie: cookie)
        settings.hidden = hidden
        settings.tickTime = tickTime
        settings.mapperPort = mapper.port
        settings.connectTimeout = .seconds(3)
        settings.reconnectBackoff = .milliseconds(100) ... .milliseconds(500)
        configure(&settings)
        let started = try await ClusterNode.start(settings, registry: registry, logger: logs.logger(for: "\(name)@localhost"),
                                                 readying: readying)
        self.started.withLock { $0.append(started.node) }
        return started
    }

    /// Starts `count` visible nodes n1, n2, ... and joins them into one mesh.
    public func startMesh(_ count: Int) async throws -> [ClusterNode] {
        var nodes: [ClusterNode] = []
        for index in 1...count { nodes.append(try await startNode("n\(index)")) }
        for node in nodes.dropFirst() {
            guard await node.connect(nodes[0].name) else { throw TestClusterError.notConnected(node.name.description) }
        }
        try await waitForMesh(nodes)
        return nodes
    }

    /// Waits until every node sees every other as a visible peer.
    public func waitForMesh(_ nodes: [ClusterNode], within limit: Duration = .seconds(10)) async throws {
        try await eventually("full mesh of \(nodes.count)", within: limit) {
            nodes.allSatisfy { node in Set(node.nodes()) == Set(nodes.map(\.name)).subtracting([node.name]) }
        }
    }

    /// Cuts the link between two nodes silently (both directions), as a network cut would.
    public func cut(_ a: ClusterNode, _ b: ClusterNode) {
        a.cut(b.name)
        b.cut(a.name)
    }

    public func restore(_ a: ClusterNode, _ b: ClusterNode) {
        a.restore(b.name)
        b.restore(a.name)
    }

    public func shutdown() async {
        for node in nodes { await node.shutdown() }
        await mapper.shutdown()
    }
}

public enum TestClusterError: Error, CustomStringConvertible {
    case notConnected(String)
    case timedOut(String)

    public var description: String {
        switch self {
        case .notConnected(let node): "\(node) could not connect"
        case .timedOut(let what): "timed out waiting for \(what)"
        }
    }
}

/// Polls `condition` until it holds, or throws after `limit` (never a fixed sleep).
public func eventually(
    _ what: String, within limit: Duration = .seconds(10), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    if try await condition() { return }
    throw TestClusterError.timedOut(what)
}

/// Runs `body` with a fresh cluster; always stops it; prints its logs when `body` throws.
public func withTestCluster<T>(
    tickTime: Duration = .seconds(1), mapperBoundPerAddress: Int = 16, _ body: (TestCluster) async throws -> T
) async throws -> T {
    let cluster = try TestCluster(tickTime: tickTime, mapperBoundPerAddress: mapperBoundPerAddress)
    do {
        let result = try await body(cluster)
        await cluster.shutdown()
        return result
    } catch {
        cluster.logs.dump()
        await cluster.shutdown()
        throw error
    }
}
