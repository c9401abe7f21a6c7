import Cluster
import Logging
import Processes

/// Finds or starts a list's server (the book's `Todo.Cache`): one per list in the connected
/// cluster, found through its global name; a new one starts under this node's dynamic
/// supervisor, and when another node won the race to register it, its pid is used instead.
struct TodoCache: Sendable {
    static let localName = "todo_cache"

    let node: ClusterNode
    let database: TodoDatabase
    let expiry: Duration
    let wallMillis: @Sendable () -> Int64
    let shelves: ListShelves

    /// The pid of `list`'s server; a start that is not done by `deadline` (a leader that does
    /// not answer while a failure is being detected) is given up as unavailable.
    func serverProcess(_ list: String, context: ProcessContext, until deadline: ContinuousClock.Instant) async throws(TodoFailure) -> Pid {
        let name = TodoServer.globalName(list)
        if let pid = node.global.whereis(name) { return pid }
        guard let cache = node.runtime.whereis(Self.localName) else { throw .unavailable("the to-do cache is not running") }
        // A server that loses its name after a split heals hands its list over, not killed.
        let registry = node.global.resolvingConflicts(.notify)
        // It traps exits, so that its node's shutdown lets it finish the request in hand: a
        // caller told `shutdown` then knows that its request was never taken, and sends it
        // again (`TodoSystem.perform`) without writing it twice.
        let spec = ChildSpec.server(id: name, name: .via(registry, name), restart: .temporary, trapExit: true) {
            [database, expiry, wallMillis, shelves, logger = node.logger] context in
            TodoServer.start(list, database: database, expiry: expiry, requestDeadline: deadline, logger: logger,
                             wallMillis: wallMillis, shelves: shelves, context: context)
        }
        let result: StartChildResult
        do {
            result = try await context.startChild(ServerRef<Supervisor>(cache), spec, timeout: deadline - ContinuousClock.now)
        } catch {
            throw .unavailable("cannot start the list's server: \(error)")
        }
        switch result {
        case .started(let pid), .alreadyStarted(let pid): return pid
        case .failed(let reason): throw .unavailable("cannot start the list's server: \(reason)")
        }
    }
}
