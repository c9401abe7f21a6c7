import Foundation
import Logging
import Processes
import Synchronization
import ZeroMQ

/// Where a node's sending threads find its transport: set once, before the node is shared,
/// and weak, so that the transport goes when its thread ends.
final class TransportSlot: @unchecked Sendable {
    weak var loop: TransportLoop?
}

/// One node of the cluster: Erlang's `net_kernel` for this process. It owns a transport
/// thread (every ZeroMQ socket of the node lives there), a process runtime whose remote pids
/// it routes, and the wire registry of message types that may cross nodes.
public final class ClusterNode: Sendable {
    public let name: NodeName
    public let settings: ClusterSettings
    public let runtime: ProcessRuntime
    public let registry: WireRegistry
    public let logger: Logger
    /// The port of the node's inbox (the one the port mapper gives out).
    public let clusterPort: Int
    /// The port peers hear this node's heartbeats on (its publisher).
    public let heartbeatPort: Int

    let outbox: Outbox
    let transport = TransportSlot()
    let shared: Mutex<SharedMembership>
    /// `visibleConnectionsMade`, counted under `shared`'s lock and read without it: every read
    /// of a list on its server's node asks for it.
    let visibleConnectionsMadeCount = Atomic<UInt64>(0)
    /// The `visibleConnectionsMade` up to which this node holds every visible peer's table of
    /// global names (`GlobalNames.isSynced`).
    let globalSyncedThrough = Atomic<UInt64>(0)
    let rpcFunctions = Mutex<[String: RPC.Function]>([:])
    let globalTable = Mutex(GlobalTable())
    /// Local owners of global names that are told of a clash they lost instead of killed.
    let globalNotified = Mutex(Set<Pid>())
    /// For each name whose clash this node settled, the owner it kept, until the clash is
    /// marked handled (`GlobalNames.settledClash`) or the owner is gone; changed through
    /// `changeSettledClashes`.
    let globalClashesSettled = Mutex<[String: Pid]>([:])
    /// How many those are, read without the lock by every read of a list (mostly none).
    let globalClashesPending = Atomic<Int>(0)
    let groupMembers = Mutex<(all: [String: [Pid]], local: [String: [Pid]])>(([:], [:]))

    let spawnKinds = Mutex<[String: RemoteSpawn.Body]>([:])

    /// Starting registered kinds of process on other nodes.
    public var spawner: RemoteSpawn { RemoteSpawn(node: self) }

    /// Process groups (Erlang's `:pg`).
    public var groups: ProcessGroups { ProcessGroups(node: self) }

    /// Cluster-wide names (Erlang's `:global`).
    public var global: GlobalNames { GlobalNames(node: self) }

    /// Remote procedure calls to and from this node.
    public var rpc: RPC { RPC(node: self) }
    private let loopFinished = DispatchSemaphore(value: 0)
    /// The registration with this host's port mapper, when the node keeps one.
    let keeper: MapperKeeper?
    private let stopped = Atomic<Bool>(false)

    /// Starts a node: binds its ports, registers its name with the host's port mapper (starting
    /// one if allowed and none answers) and starts its transport thread.
    public static func start(
        _ settings: ClusterSettings, registry: WireRegistry = WireRegistry(), logger: Logger? = nil
    ) async throws -> ClusterNode {
        try await start(settings, registry: registry, logger: logger) { _ in }.node
    }

    /// As `start(_:registry:logger:)`, with `readying` run on the node before peers may log
    /// in: none finds the node without what `readying` sets up (a service's rpc functions,
    /// its registered processes), as peers that reconnect at once to a restarted node did.
    /// Their connections are bounded as always meanwhile, and their logins wait. The node's
    /// name is taken first, and kept while `readying` runs; it must not wait on a peer, which
    /// cannot log in yet. When `readying` throws, the node leaves again and that is thrown.
    public static func start<Ready: Sendable>(
        _ settings: ClusterSettings, registry: WireRegistry = WireRegistry(), logger: Logger? = nil,
        readying: (ClusterNode) async throws -> Ready
    ) async throws -> (node: ClusterNode, ready: Ready) {
        var logger = logger ?? Logger(label: "todo.cluster")
        logger[metadataKey: "node"] = "\(settings.node)"
        let incarnation = UInt64.random(in: 1...UInt64.max)
        let address: String
        do { address = try resolveHost(settings.node.host) } catch { throw NodeStartError.badAddress(error.description) }
        let context = try Context()
        let security = try LinkSecurity(settings: settings)
        // The ZAP handler must be bound before a CURVE server binds, or libzmq admits every
        // client that knows the server's key without asking.
        let zap = try context.socket(.rep)
        try zap.bind(ZAPHandler.endpoint)
        let router = try context.socket(.router)
        try router.setRouterMandatory(true)
        // Routing ids are random and never taken over: a connection with an id in use is
        // refused, so nobody can step into an established peer's connection.
        try router.setRouterHandover(false)
        // High-water marks count frames, and a frame carries a batch of about 64 KiB, 133 KiB
        // at most (bigger messages go in parts): 1,000 frames bound what ZeroMQ holds per
        // peer and direction to about 64 MiB, 136 MB at most.
        try router.setReceiveHighWaterMark(TransportLoop.frameHighWaterMark)
        try router.setSendHighWaterMark(TransportLoop.frameHighWaterMark)
        try security.listening(router, maxFrame: Packet.maxFrameBytes)
        let publisher = try context.socket(.pub)
        try publisher.setSendHighWaterMark(1_000)
        try security.listening(publisher, maxFrame: TransportLoop.maxPresenceFrameBytes)
        let port = try bind(router, address: address, ports: settings.listenPorts)
        let heartbeatPort = try bind(publisher, address: address, ports: settings.listenPorts)
        let publishEndpoint = try publisher.lastEndpoint()

        let keeper = settings.registerWithMapper ? try MapperKeeper(
            client: PortMapperClient(host: "127.0.0.1", port: settings.mapperPort),
            name: settings.node.name, port: port, incarnation: incarnation, launcher: settings.mapperLauncher,
            refreshInterval: settings.mapperRefreshInterval, logger: logger) : nil
        try await keeper?.registerFirst()

        let node = try ClusterNode(
            settings: settings, incarnation: incarnation, registry: registry, logger: logger,
            clusterPort: port, heartbeatPort: heartbeatPort, keeper: keeper)
        let identity = LocalIdentity(node: settings.node, incarnation: incarnation, hidden: settings.hidden,
                                     cookie: settings.cookie, publishEndpoint: publishEndpoint, clusterPort: port,
                                     tickTime: settings.tickTime)
        let loop = try TransportLoop(
            node: node, identity: identity, context: context, security: security,
            sockets: .init(router: router, publisher: publisher, zap: zap))
        node.transport.loop = loop
        let finished = node.loopFinished
        Thread {
            loop.run()
            finished.signal()
        }.start()
        keeper?.start()
        node.runtime.setRemoteRouting(node)
        NetKernel.start(on: node)
        RPC.startServer(on: node)
        GlobalNameServer.start(on: node)
        GroupServer.start(on: node)
        RemoteSpawn.startServer(on: node)
        let ready: Ready
        do {
            ready = try await readying(node)
        } catch {
            await node.shutdown()
            throw error
        }
        node.outbox.post(.openLogins)
        logger.info("node \(settings.node) started\(settings.hidden ? " (hidden)" : "") on port \(port)")
        if !settings.encrypted {
            logger.warning("cluster links are not encrypted: anyone on the network can read them (a setting for benchmarks only)")
        }
        return (node, ready)
    }

    private init(
        settings: ClusterSettings, incarnation: UInt64, registry: WireRegistry, logger: Logger,
        clusterPort: Int, heartbeatPort: Int, keeper: MapperKeeper?
    ) throws {
        self.name = settings.node
        self.settings = settings
        self.runtime = ProcessRuntime(node: settings.node.description, incarnation: incarnation)
        self.registry = registry
        self.logger = logger
        self.clusterPort = clusterPort
        self.heartbeatPort = heartbeatPort
        self.keeper = keeper
        self.outbox = try Outbox()
        self.shared = Mutex(SharedMembership(book: RemoteBook(localNode: runtime.node, localIncarnation: incarnation)))
        ClusterMessages.register(in: registry)
        RPC.registerMessages(in: registry)
        GlobalMessages.register(in: registry)
        GlobalMessages.registerLocks(in: registry)
        GroupMessages.register(in: registry)
        RemoteSpawn.registerMessages(in: registry)
    }

    private static func bind(_ socket: Socket, address: String, ports: ClosedRange<Int>?) throws -> Int {
        guard let ports else {
            try socket.bind("tcp://\(address):0")
            return Int(try socket.lastEndpoint().split(separator: ":").last ?? "") ?? 0
        }
        for port in ports {
            if (try? socket.bind("tcp://\(address):\(port)")) != nil { return port }
        }
        throw NodeStartError.badAddress("no free port in \(ports.lowerBound)-\(ports.upperBound) on \(address)")
    }

    // MARK: Membership

    /// Connects to `node` (and, through it, to every visible member): true when connected,
    /// false when it cannot be reached or refuses us (Erlang's `Node.connect`).
    public func connect(_ node: NodeName) async -> Bool {
        do {
            try await reach(node)
            return true
        } catch {
            return false
        }
    }

    /// Connects to whichever of `nodes` answers first, dialling them all at once (joining one
    /// member joins them all): that node, or nil when every one failed. An unreachable node
    /// holds the answer up only when no other answers.
    public func connect(toAnyOf nodes: [NodeName]) async -> NodeName? {
        let others = nodes.filter { $0 != name }
        if let connected = others.first(where: isConnected) { return connected }
        guard !others.isEmpty, !stopped.load(ordering: .relaxed) else { return nil }
        return await withCheckedContinuation { continuation in
            let answers = FirstAnswer(awaiting: others.count)
            for node in others {
                outbox.post(.connect(node) { failure in
                    if let answer = answers.take(failure == nil ? node : nil) { continuation.resume(returning: answer) }
                })
            }
        }
    }

    /// `connect`, which says why when it fails: no port mapper answers on the node's host, no
    /// such name is registered there, the node refused us (a different cookie?), went away in
    /// the middle of the handshake, or did not answer within the connect timeout.
    public func reach(_ node: NodeName) async throws(ConnectFailure) {
        if node == name || isConnected(node) { return }
        if stopped.load(ordering: .relaxed) { throw ConnectFailure("this node has stopped") }
        let failure = await withCheckedContinuation { continuation in
            outbox.post(.connect(node) { continuation.resume(returning: $0) })
        }
        if let failure { throw failure }
    }

    /// `Node.ping`: pong (true) when the node answers.
    public func ping(_ node: NodeName) async -> Bool { await connect(node) }

    /// Drops the connection to `node` (Erlang's `Node.disconnect`); false when not connected.
    /// The two stay apart, though their peers keep telling each of the other (`MeshRepair`),
    /// until one of them connects again.
    public func disconnect(_ node: NodeName) async -> Bool {
        await withCheckedContinuation { continuation in
            outbox.post(.disconnect(node) { continuation.resume(returning: $0) })
        }
    }

    /// The visible peers (Erlang's `Node.list()`), sorted.
    public func nodes() -> [NodeName] { shared.withLock { $0.visible.sorted() } }

    /// Which connection to the visible peer `node` is up: a number that no earlier connection
    /// to any peer had, so two answers differ when the node went away and came back between
    /// them (a restart, a healed cut); nil when it is not a connected visible peer.
    public func connection(to node: NodeName) -> UInt64? { shared.withLock { $0.visibleConnections[node] } }

    func changeSettledClashes(_ change: (inout [String: Pid]) -> Void) {
        globalClashesSettled.withLock { clashes in
            change(&clashes)
            globalClashesPending.store(clashes.count, ordering: .releasing)
        }
    }

    /// How many connections to visible peers this node ever made: it grows whenever a visible
    /// peer comes up, so a reader that sees it unchanged knows that none came (back) since.
    public var visibleConnectionsMade: UInt64 { visibleConnectionsMadeCount.load(ordering: .acquiring) }

    /// Which incarnation of the node named `node` is up, as its pids carry it: this node's own,
    /// or a connected peer's; nil for any other.
    public func incarnation(of node: String) -> UInt64? {
        if node == runtime.node { return runtime.incarnation }
        guard let name = try? NodeName(parsing: node) else { return nil }
        return shared.withLock { $0.incarnations[name] }
    }

    /// The hidden peers (Erlang's `Node.list(:hidden)`), sorted.
    public func hiddenNodes() -> [NodeName] { shared.withLock { $0.hidden.sorted() } }

    public func isConnected(_ node: NodeName) -> Bool { shared.withLock { $0.isConnected(node) } }

    /// Sends `NodeEvent`s to `pid` for every visible node that comes or goes (and for hidden
    /// ones too with `includeHidden`), until `demonitorNodes`.
    public func monitorNodes(_ pid: Pid, includeHidden: Bool = false) {
        shared.withLock { $0.subscribers[pid] = includeHidden }
    }

    public func demonitorNodes(_ pid: Pid) {
        shared.withLock { _ = $0.subscribers.removeValue(forKey: pid) }
    }

    /// Sends `NodeDown(node)` to `pid` once `node` goes down (Erlang's `Node.monitor`): a
    /// node that is not connected is connected to first, and is down at once if that fails.
    public func monitorNode(_ node: NodeName, for pid: Pid) {
        guard node != name else { return runtime.send(NodeDown(node: node), to: pid) }
        let connected = shared.withLock { shared in
            shared.nodeMonitors[node, default: []].insert(pid)
            return shared.isConnected(node)
        }
        if !connected { connectOrFire(node) }
    }

    /// Stops one `monitorNode` of `pid`.
    public func demonitorNode(_ node: NodeName, for pid: Pid) {
        shared.withLock { _ = $0.nodeMonitors[node]?.remove(pid) }
    }

    /// Connections accepted that have not finished the cookie handshake (at most
    /// `maxHandshakesPerAddress` per address and `maxHandshakes` in all).
    public func handshakesUnderWay() async -> Int {
        if stopped.load(ordering: .relaxed) { return 0 }
        return await withCheckedContinuation { continuation in
            outbox.post(.countHandshakes { continuation.resume(returning: $0) })
        }
    }

    // MARK: Fault shim (tests)

    /// Silently drops all traffic with `node` until `restore`, as a network cut would.
    public func cut(_ node: NodeName) { outbox.post(.cut(node)) }
    public func restore(_ node: NodeName) { outbox.post(.restore(node)) }

    // MARK: Stopping

    /// Leaves the cluster gracefully: peers are told (they see `nodedown` at once), the
    /// transport thread ends, then the name is unregistered. In that order: a port mapper that
    /// does not answer holds the unregistration for up to 1.5 s, which held the goodbye too.
    public func shutdown() async {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            outbox.post(.shutdown { continuation.resume() })
        }
        let finished = loopFinished
        await waitOffThePool { finished.wait() }
        runtime.setRemoteRouting(nil)
        await keeper?.stop()
        logger.info("node \(name) stopped")
    }
}

/// The answers of several connection attempts, for `connect(toAnyOf:)`: the first success,
/// or nil once all have failed, given out once.
private final class FirstAnswer: Sendable {
    private let state: Mutex<(failuresToCome: Int, given: Bool)>

    init(awaiting attempts: Int) { state = Mutex((attempts, false)) }

    /// An attempt's outcome (the node, or nil when it failed): the answer when it decides one.
    func take(_ connected: NodeName?) -> NodeName?? {
        state.withLock { state in
            guard !state.given else { return .none }
            if connected == nil {
                state.failuresToCome -= 1
                guard state.failuresToCome == 0 else { return .none }
            }
            state.given = true
            return .some(connected)
        }
    }
}
