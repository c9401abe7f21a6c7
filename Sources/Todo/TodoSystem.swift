import Cluster
import Foundation
import Logging
import Processes
import Synchronization

/// What the to-do system of one node needs besides its cluster node.
public struct TodoSettings: Sendable {
    /// Where this node's replica lives (`./persist/<name>` by default).
    public var dataDirectory: String
    /// A list server with no request for this long stops (`TODO_SERVER_EXPIRY`).
    public var serverIdleTimeout: Duration = .seconds(60)
    /// How long a request may wait for its list's server before the answer is "unavailable";
    /// longer than a store's 5 s, shorter than the contract's 10 s bound on a hang.
    public var requestDeadline: Duration = .milliseconds(9_500)
    /// How often a node also catches up from one of its peers in turn, without a node coming
    /// up: a store that failed while the peer stayed connected (a timeout, a disk error) is
    /// made good within a few of these.
    public var antiEntropyInterval: Duration = .seconds(30)
    /// Whether requests wait, within their deadline, until the node has tried to join its
    /// cluster (`TodoSystem.triedToJoin()`): a node that comes back then serves the writes it
    /// missed, merged from its peers' copies, rather than its own older copy, and starts no
    /// list server of its own beside theirs. `todo-node` sets it when it has `--connect` nodes.
    public var waitsToJoin = false
    /// How long the database writer may hold a batch for company after a busy one
    /// (`CommitGathering`); zero: a batch begins as soon as the commit before it ends.
    /// Measured here (2 cores, alternated runs in two sittings), 1.5 ms against none: the HTTP
    /// mix through one node of three, 4 to 19 % more requests a second (fewer, larger batches
    /// on every node); the mix on one node, 0 to 5 % more; POSTs alone from 32 connections on
    /// one node, where the disk sync bounds the rate, 4 to 9 % fewer. 2 ms cost those POSTs
    /// 10 to 15 %; 1 ms, about 1 %, for about half the gain. While the node has peers the wait
    /// may last twice this (`CommitGathering.windowsWithPeers`): through one node of three, the
    /// mix 5 to 13 % more (3 pairs), at 13 to 15 µs of CPU per request on each peer against 16
    /// to 18; POSTs alone the same.
    public var commitGathering: Duration = .microseconds(1_500)
    /// The most a catch-up answer or a hand-over's part carries (`TodoDatabase.answerBytes`);
    /// a test makes it small, so that a small list is too big for one.
    var listAnswerBytes = TodoDatabase.catchUpBatchBytes
    /// Wall-clock milliseconds, read for the stamps of writes (a test may set its own).
    public var wallMillis: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1_000).rounded()) }

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }
}

/// One node's to-do system (the book's `Todo.System`): a supervisor over the database writer,
/// the cache of list servers and catch-up, plus the requests HTTP and the `todo` client make.
public final class TodoSystem: Sendable {
    public let node: ClusterNode
    public let database: TodoDatabase
    public let metrics: TodoMetrics
    let settings: TodoSettings
    let cache: TodoCache
    /// The lists of the servers on this node, for reads without a message.
    let shelves: ListShelves
    private let keeper: Pid
    /// The node's `visibleConnectionsMade` when a wait for the peers' tables of names timed
    /// out: requests stop waiting until another peer comes (`awaitPeersNames`).
    private let namesWaitGivenUp = Atomic<UInt64>(.max)
    /// False until `triedToJoin()` when the settings ask requests to wait for it.
    private let joinTried: Atomic<Bool>

    static let callFunction = "todo.call"
    static let whereisFunction = "todo.whereis"

    /// Opens this node's replica and starts the supervision tree.
    public static func start(node: ClusterNode, settings: TodoSettings) async throws -> TodoSystem {
        let store = try await TodoStore.open(directory: settings.dataDirectory)
        registerMessages(in: node.registry)
        let database = TodoDatabase(local: store, node: node, answerBytes: settings.listAnswerBytes)
        let metrics = TodoMetrics(node: node)
        let keeper = try await startTree(node: node, store: store, database: database, metrics: metrics,
                                         antiEntropy: settings.antiEntropyInterval, gathering: settings.commitGathering)
        let system = TodoSystem(node: node, database: database, settings: settings, keeper: keeper, metrics: metrics)
        database.registerFunctions()
        system.registerClientFunctions()
        return system
    }

    private init(node: ClusterNode, database: TodoDatabase, settings: TodoSettings, keeper: Pid, metrics: TodoMetrics) {
        self.node = node
        self.database = database
        self.settings = settings
        self.keeper = keeper
        self.metrics = metrics
        self.joinTried = Atomic(!settings.waitsToJoin)
        self.shelves = ListShelves(runtime: node.runtime)
        self.cache = TodoCache(node: node, database: database, expiry: settings.serverIdleTimeout, wallMillis: settings.wallMillis,
                               shelves: shelves)
    }

    /// The messages that cross nodes between a list's callers and its server.
    public static func registerMessages(in registry: WireRegistry) {
        registry.register(CallMessage<TodoServer.Request>.self, as: "todo.server.call")
        registry.register(CallReply<TodoServer.Reply>.self, as: "todo.server.reply")
    }

    /// Serves `request` on `list`'s server, wherever it runs, starting it when there is none;
    /// gives up as unavailable after `deadline` (default: the settings' request deadline), so
    /// a caller never waits longer, however the cluster fails. A read of a list whose server
    /// runs here, loaded, is served from its shelf.
    public func perform(_ list: String, _ request: TodoServer.Request, deadline limit: Duration? = nil) async throws(TodoFailure) -> TodoServer.Reply {
        let started = ContinuousClock.now
        let deadline = started + (limit ?? settings.requestDeadline)
        defer { metrics.requestServed(request, seconds: (ContinuousClock.now - started).seconds) }
        guard await awaitJoinAttempt(until: deadline) else {
            metrics.unavailable()
            throw .unavailable("this node is still joining its cluster")
        }
        await awaitPeersNames(until: deadline)
        // The server is looked up first; the first call uses what it found, without a second
        // lookup.
        let name = TodoServer.globalName(list)
        var found = node.global.whereis(name)
        if case .entries(let date) = request, let server = found, !node.global.settledClash(name, keeping: server),
           let entries = readFromShelf(list, server: server, on: date) { return .entries(entries) }
        var pause = Duration.milliseconds(5)
        // Waits before the next try, longer each time; false when that would pass the deadline.
        func pausedForAnotherTry() async -> Bool {
            guard ContinuousClock.now + pause < deadline else { return false }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(200))
            return true
        }
        while true {
            let reply: TodoServer.Reply
            let known = found
            found = nil
            do {
                reply = try await node.runtime.withProcess { context in
                    let server: Pid
                    if let known {
                        server = known
                    } else {
                        server = try await cache.serverProcess(list, context: context, until: deadline)
                    }
                    await ClashHandOver.handOwnCopy(of: list, to: server, database: database, context: context,
                                                    timeout: deadline - .now)
                    return try await context.call(server, request, replyType: TodoServer.Reply.self,
                                                  timeout: deadline - ContinuousClock.now)
                }
            } catch {
                // The server ended before it read the request (idle stop, shutdown), or a read
                // lost its server: the next lookup finds or starts a fresh one.
                if let error = error as? CallError, Self.safeToRetry(request, after: error), await pausedForAnotherTry() { continue }
                metrics.unavailable()
                throw Self.unavailable(error)
            }
            if case .failed(let words) = reply { throw .failed(words) }
            if case .notHere = reply {
                // A server that lost the list's name: the next lookup finds the kept one.
                if await pausedForAnotherTry() { continue }
                metrics.unavailable()
                throw .unavailable("the list's server moved")
            }
            return reply
        }
    }

    /// The node has tried to join its cluster: it is connected, or every node it was to join
    /// through failed once (then it serves alone, as a node cut off would). Requests held for
    /// it (`TodoSettings.waitsToJoin`) go on.
    public func triedToJoin() {
        joinTried.store(true, ordering: .releasing)
    }

    /// Holds a request until the node has tried to join (a start's first seconds at most);
    /// false when the deadline came first.
    private func awaitJoinAttempt(until deadline: ContinuousClock.Instant) async -> Bool {
        while !joinTried.load(ordering: .acquiring) {
            guard ContinuousClock.now + .milliseconds(5) < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    /// Right after a peer (re)connects, its table of global names is still on its way: after a
    /// cut heals, a list's name here may point at this side's server, which is about to lose
    /// it to the other side's and lacks that side's writes. A request waits for the table
    /// (milliseconds; at most 2 s, then no request waits again until another peer comes).
    private func awaitPeersNames(until deadline: ContinuousClock.Instant) async {
        guard !node.global.isSynced else { return }
        let connectionsMade = node.visibleConnectionsMade
        guard namesWaitGivenUp.load(ordering: .relaxed) != connectionsMade else { return }
        let synced = (try? await node.global.sync(timeout: min(.seconds(2), deadline - .now))) ?? false
        if !synced, namesWaitGivenUp.exchange(connectionsMade, ordering: .relaxed) != connectionsMade {
            node.logger.warning("the peers' tables of global names did not all come within 2 s; requests go on without them")
        }
    }

    /// `list`'s entries on `date`, read from the shelf of `server` (its list's server) when
    /// that runs on this node, has loaded the list, and holds the copies of the peers that are
    /// up; nil otherwise (the request goes to it).
    private func readFromShelf(_ list: String, server: Pid, on date: TodoDate?) -> [TodoEntry]? {
        guard node.runtime.isLocal(server), let shelf = shelves.shelf(of: list, server: server) else { return nil }
        return shelf.read(connectionsMade: node.visibleConnectionsMade) { $0.entries(on: date) }
    }

    /// What a failure to reach the list's server tells the caller.
    private static func unavailable(_ error: any Error) -> TodoFailure {
        switch error {
        case let failure as TodoFailure: failure
        case CallError.timeout: .unavailable("the list's server did not answer in time")
        case CallError.nodedown(let node): .unavailable("the node of the list's server, \(node), went down")
        default: .unavailable("\(error)")
        }
    }

    /// Whether `request` may go to the list's next server after `error`: when the error proves
    /// that the server never handled it, or when it is a read (which changes nothing) and its
    /// server or the server's node was lost. A read that met a connection dropped as a cut
    /// healed failed with `503` before.
    private static func safeToRetry(_ request: TodoServer.Request, after error: CallError) -> Bool {
        switch error {
        case .noproc, .exited(.normal), .exited(.shutdown): true
        case .nodedown, .exited: if case .entries = request { true } else { false }
        default: false
        }
    }

    /// The node running `list`'s server, if one runs.
    public func whereis(_ list: String) -> NodeName? {
        node.global.whereis(TodoServer.globalName(list)).flatMap { try? NodeName(parsing: $0.node) }
    }

    /// Stops gracefully, in `todo-node`'s order: the list servers (each finishing the request
    /// in hand), then the node leaves the cluster, then the database writer, then the store is
    /// closed. (Every caller left the node right after; the writer stopped before it left.)
    public func shutdown() async {
        await stopServing(thenLeave: { await node.shutdown() })
        await closeStore()
    }

    /// Stops the list servers (each finishing the request in hand) and catch-up, runs `leave`
    /// (a node stopping gracefully leaves the cluster there), then stops the database writer,
    /// which writes what it holds. Peers send their writes until the node has left, so its
    /// writer takes them until then: stopped first, it failed each one (logged on the peer as
    /// an error, dozens in a second when the port mapper was gone and the leaving took long).
    public func stopServing(thenLeave leave: () async -> Void = {}) async {
        _ = try? await node.runtime.withProcess { context in
            guard let tree = node.runtime.whereis(Self.treeName) else { return }
            for child in [Self.catchUpID, Self.cacheID] { _ = try await context.terminateChild(ServerRef<Supervisor>(tree), id: child) }
        }
        await leave()
        _ = try? await node.runtime.withProcess { context in
            let watch = context.monitor(keeper)
            context.exit(keeper, reason: .shutdown)
            _ = try await context.receive(timeout: .seconds(30)) { ($0 as? Down).flatMap { $0.ref == watch ? $0 : nil } }
        }
    }

    /// Closes the store (`TodoStore.close`): for a system that stopped serving.
    public func closeStore() async {
        await database.local.close()
    }

    /// The supervision tree's registered name, and the ids of the children a graceful stop
    /// ends before the node leaves (`stopServing`).
    static let treeName = "todo_system"
    static let cacheID = "cache"
    static let catchUpID = "catch_up"

    /// The keeper owns the supervision tree: it ends it on `shutdown`.
    private static func startTree(
        node: ClusterNode, store: TodoStore, database: TodoDatabase, metrics: TodoMetrics, antiEntropy: Duration,
        gathering: Duration
    ) async throws -> Pid {
        let logger = node.logger
        return try await node.runtime.withProcess { starter in
            let starterPid = starter.pid
            let keeper = node.runtime.spawn { context in
                _ = context.trapExit()
                let tree = try await context.startSupervisor(name: .local(treeName), children: [
                    .server(id: "database", name: .local(DatabaseWriter.localName)) { writer in
                        logger.info("Starting database worker.")
                        return DatabaseWriter(store: store, node: node, logger: logger, gathering: gathering, context: writer)
                    },
                    ChildSpec(id: cacheID) { context in
                        logger.info("Starting to-do cache.")
                        return try await context.startDynamicSupervisor(name: .local(TodoCache.localName)).pid
                    },
                    ChildSpec(id: catchUpID) { context in
                        context.spawnLink { catchUp in
                            try await catchUpLoop(node: node, database: database, metrics: metrics, every: antiEntropy, context: catchUp)
                        }
                    },
                ])
                context.send(tree.pid, to: starterPid)
                let exit = try await context.receive(Exit.self)
                if exit.from != tree.pid {
                    context.exit(tree.pid, reason: .shutdown)
                    _ = try await context.receive { ($0 as? Exit).flatMap { $0.from == tree.pid ? $0 : nil } }
                }
                throw exit.reason
            }
            let watch = starter.monitor(keeper)
            let started = try await starter.receive(timeout: .seconds(30)) { message -> Bool? in
                if message is Pid { return true }
                if let down = message as? Down, down.ref == watch { return false }
                return nil
            }
            starter.demonitor(watch, target: keeper)
            guard started == true else { throw TodoFailure.failed("the to-do system did not start") }
            return keeper
        }
    }
}

/// Catch-up on every visible peer that comes up (start, rejoin, a healed cut), and on those
/// already connected when it starts, each in a process of its own; and every `interval`, from
/// the next peer in turn that no catch-up runs from (anti-entropy, `CatchUpTurns`). After
/// each, this node's copies go to the servers kept in the clashes it settled
/// (`ClashHandOver.handOverAll`), one round at a time.
private func catchUpLoop(node: ClusterNode, database: TodoDatabase, metrics: TodoMetrics, every interval: Duration,
                         context: ProcessContext) async throws {
    let handOvers = CoalescingRounds()
    let turns = SharedCatchUpTurns()
    let catchUp = { @Sendable (peer: NodeName, worker: ProcessContext) in
        turns.began(from: peer)
        defer { turns.ended(from: peer) }
        let started = ContinuousClock.now
        let lists = await database.catchUp(from: peer)
        metrics.caughtUp(lists: lists.count, seconds: (ContinuousClock.now - started).seconds)
        await mergeIntoRunningServers(lists, node: node, database: database, context: worker)
        // A heal's clashes are settled as the peers' tables of names come, before this ends.
        await handOvers.run { await ClashHandOver.handOverAll(database: database, context: worker) }
    }
    node.monitorNodes(context.pid)
    for peer in node.nodes() { context.spawn { worker in await catchUp(peer, worker) } }
    var next = ContinuousClock.now + interval
    while true {
        if let event = try await context.receive(NodeEvent.self, timeout: max(.zero, next - ContinuousClock.now)) {
            if case .up(let peer, hidden: false) = event { context.spawn { worker in await catchUp(peer, worker) } }
            continue
        }
        if let peer = turns.nextRound(among: node.nodes().sorted()) { await catchUp(peer, context) }
        next = ContinuousClock.now + interval
    }
}

/// A list server already running on this node holds its list in memory: it merges what
/// catch-up brought (the other side's writes after a healed split), so it serves them too.
/// Servers on other nodes hear it from their own node's catch-up, which runs for the same peer.
private func mergeIntoRunningServers(_ lists: [String], node: ClusterNode, database: TodoDatabase, context: ProcessContext) async {
    for name in lists {
        guard let server = node.global.whereis(TodoServer.globalName(name)), node.runtime.isLocal(server),
              let list = await database.get(name) else { continue }
        do {
            _ = try await context.call(server, TodoServer.Request.merge(list.asChange), replyType: TodoServer.Reply.self,
                                       timeout: TodoDatabase.storeTimeout)
        } catch {
            // It stopped or moved: the next server loads the merged copies.
            node.logger.info("list \(name): its server did not take the caught-up copy: \(error)")
        }
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
