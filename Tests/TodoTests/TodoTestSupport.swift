import Cluster
import ClusterTestKit
import Foundation
import GRDB
import Hummingbird
import Logging
import Processes
import Testing
@testable import Todo

/// A test cluster whose nodes each run a to-do system with a data directory of their own,
/// removed afterwards, even when the test fails.
final class TodoTestCluster: Sendable {
    let cluster: TestCluster
    let root: String

    init(_ cluster: TestCluster) {
        self.cluster = cluster
        root = NSTemporaryDirectory() + "todo-tests-\(UUID().uuidString)"
    }

    func dataDirectory(of node: ClusterNode) -> String { root + "/" + node.name.name }

    func startSystem(on node: ClusterNode, idle: Duration = .seconds(60), deadline: Duration? = nil,
                     antiEntropy: Duration? = nil, waitsToJoin: Bool = false, answerBytes: Int? = nil) async throws -> TodoSystem {
        var settings = TodoSettings(dataDirectory: dataDirectory(of: node))
        settings.serverIdleTimeout = idle
        if let answerBytes { settings.listAnswerBytes = answerBytes }
        if let deadline { settings.requestDeadline = deadline }
        if let antiEntropy { settings.antiEntropyInterval = antiEntropy }
        settings.waitsToJoin = waitsToJoin
        return try await TodoSystem.start(node: node, settings: settings)
    }

    /// `count` meshed nodes n1... with a system each, global names synced; `antiEntropy` on
    /// the nodes at `antiEntropyOn` (by index; all when nil), the default on the others.
    func startSystems(_ count: Int, idle: Duration = .seconds(60), antiEntropy: Duration? = nil,
                      antiEntropyOn: Set<Int>? = nil, answerBytes: Int? = nil) async throws -> [TodoSystem] {
        let nodes = try await cluster.startMesh(count)
        var systems: [TodoSystem] = []
        for (index, node) in nodes.enumerated() {
            let interval = antiEntropyOn.map { $0.contains(index) } ?? true ? antiEntropy : nil
            systems.append(try await startSystem(on: node, idle: idle, antiEntropy: interval, answerBytes: answerBytes))
        }
        for node in nodes { try await node.global.sync() }
        return systems
    }
}

/// Runs `open` (of a store, or a system, on a directory this process has just let go of)
/// again while it finds the directory held by this very process, for up to `limit`. A child
/// that another test starts at that moment holds a copy of the lock's descriptor until its
/// `exec` (`posix_spawn` copies every descriptor; close-on-exec closes them only then), and
/// the kernel keeps the lock until the last copy closes: the full suite, which starts children
/// all the time, refused such a reopen now and then.
func reopening<T>(within limit: Duration = .seconds(10), _ open: () async throws -> T) async throws -> T {
    let heldHere = "(process \(getpid()))"
    let deadline = ContinuousClock.now + limit
    while true {
        do {
            return try await open()
        } catch let problem as TodoStore.DirectoryProblem where problem.description.contains(heldHere) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

func withTodoCluster<T>(tickTime: Duration = .seconds(1), _ body: (TodoTestCluster) async throws -> T) async throws -> T {
    var todo: TodoTestCluster?
    defer { if let root = todo?.root { try? FileManager.default.removeItem(atPath: root) } }
    return try await withTestCluster(tickTime: tickTime) { cluster in
        let made = TodoTestCluster(cluster)
        todo = made
        return try await body(made)
    }
}

extension TodoSystem {
    func add(_ list: String, _ date: String, _ title: String) async throws -> TodoEntry {
        guard case .entry(let entry) = try await perform(list, .add(date: try #require(TodoDate(date)), title: title)) else {
            throw TodoFailure.failed("no entry in the answer")
        }
        return entry
    }

    func entries(_ list: String, _ date: String? = nil) async throws -> [String] {
        let day = try date.map { try #require(TodoDate($0)) }
        guard case .entries(let entries) = try await perform(list, .entries(day)) else {
            throw TodoFailure.failed("no entries in the answer")
        }
        return entries.map { "\($0.date) \($0.title)" }
    }

    /// The titles this node's own replica holds for `list`.
    func storedTitles(_ list: String) async throws -> [String] {
        try await database.local.load(list)?.entries.map(\.title) ?? []
    }
}

/// The write lock of a node's database file, held from a connection of the test's own: the
/// node's commits wait (SQLite's busy timeout, 10 s) until it is let go.
final class WriteLock: Sendable {
    private let connection: DatabaseQueue

    init(_ store: TodoStore) throws {
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true  // the transaction outlives the closure
        configuration.busyMode = .timeout(10)  // the node may be committing: the lock waits its turn
        connection = try DatabaseQueue(path: store.path, configuration: configuration)
        try connection.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
    }

    /// Lets go (again: nothing).
    func release() {
        try? connection.writeWithoutTransaction { db in if db.isInsideTransaction { try db.execute(sql: "ROLLBACK") } }
    }
}

/// A server with `limits` on a free port of loopback, for `body`: `GET /hello` answers
/// `hello`, `POST /echo` its request's body.
func withHTTPServer(_ limits: HTTPLimits, _ body: (Int) async throws -> Void) async throws {
    let router = Router()
    router.get("/hello") { _, _ in "hello" }
    router.post("/echo") { request, _ in String(buffer: try await request.body.collect(upTo: 1 << 20)) }
    let (ports, announce) = AsyncStream.makeStream(of: Int.self)
    var logger = Logger(label: "test")
    logger.logLevel = .critical  // not the shutdown's complaints about the test's cancel
    let app = Application(router: router, server: limits.server,
                          configuration: limits.configuration(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { announce.yield($0.localAddress?.port ?? 0) },
                          logger: logger)
    let running = Task { try await app.runService() }
    var bound = ports.makeAsyncIterator()
    do {
        try await body(try #require(await bound.next()))
    } catch {
        running.cancel()
        _ = try? await running.value
        throw error
    }
    running.cancel()
    _ = try? await running.value
}
