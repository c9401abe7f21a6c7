import Cluster
import Logging
import Processes

/// One process per list in the whole cluster (the book's `Todo.Server`): the list lives in its
/// memory, loaded at start from the newest copy among this node and its peers; a change is stored on every connected
/// node before it is answered. Replicas receive the change, not the whole list as the book
/// sends it. It stops after `idleTimeout` without requests, and is started
/// again, from the database, by the next one.
public struct TodoServer: GenServer {
    public enum Request: Codable, Sendable, Equatable {
        case entries(TodoDate?)
        case add(date: TodoDate, title: String)
        case update(id: Int, date: TodoDate?, title: String?)
        case delete(id: Int)
    }

    public enum Reply: Codable, Sendable, Equatable {
        case entries([TodoEntry])
        case entry(TodoEntry)
        case deleted
        case notFound
        case failed(String)
    }

    let name: String
    var list = TodoList()
    /// Loaded at the first request, in the server's own process (the book's
    /// `handle_continue`): starting never holds up the cache's supervisor.
    var loaded = false
    let database: TodoDatabase
    let expiry: Duration
    let logger: Logger

    public var idleTimeout: Duration? { expiry }

    /// The list's name in the global registry, as the book's `{Todo.Server, name}`.
    public static func globalName(_ list: String) -> String { "{Todo.Server, \"\(list)\"}" }

    static func start(_ name: String, database: TodoDatabase, expiry: Duration, logger: Logger) -> TodoServer {
        logger.info("Starting to-do server for \(name).")
        return TodoServer(name: name, database: database, expiry: expiry, logger: logger)
    }

    public mutating func handleCall(_ request: Request, from: CallFrom, context: ProcessContext) async throws -> CallResult<Reply> {
        if !loaded {
            // The newest copy among this node and its peers, not only this node's (which may
            // have missed writes while the node was away).
            // In a task of its own: a task keeps the frame memory of its deepest call, and a
            // server lives long and idle.
            list = await Task { [database, name] in await database.freshest(name) }.value ?? TodoList()
            loaded = true
        }
        switch request {
        case .entries(let date):
            return .reply(.entries(list.entries(on: date)))
        case .add(let date, let title):
            var changed = list
            let entry = changed.add(date: date, title: title)
            return .reply(await commit(changed, ListChange(.put(entry), after: changed)) ?? .entry(entry))
        case .update(let id, let date, let title):
            var changed = list
            guard let entry = changed.update(id: id, date: date, title: title) else { return .reply(.notFound) }
            return .reply(await commit(changed, ListChange(.put(entry), after: changed)) ?? .entry(entry))
        case .delete(let id):
            var changed = list
            guard changed.delete(id: id) else { return .reply(.notFound) }
            return .reply(await commit(changed, ListChange(.delete(id: id), after: changed)) ?? .deleted)
        }
    }

    public mutating func handleTimeout(context: ProcessContext) async throws -> ServerAction {
        logger.info("Stopping to-do server for \(name)")
        return .stop(.normal)
    }

    /// Stores `change` everywhere and keeps `changed`; nil on success. When this node's own
    /// copy could not be written the change is dropped and the caller told: an answer means
    /// durable.
    private mutating func commit(_ changed: TodoList, _ change: ListChange) async -> Reply? {
        let outcome = await Task { [database, name] in await database.store(name, change) }.value
        guard outcome.storedLocally else { return .failed("the change could not be stored on \(database.node.name)") }
        list = changed
        if let ahead = outcome.aheadAt {
            // Copies went ahead of this server (two servers ran during a split): its list
            // overwrites them, so every node holds what it answers from (the book's rule).
            logger.warning("list \(name): copies at version \(ahead) are ahead of its server; overwriting them")
            list.supersede(ahead)
            let overwritten = await Task { [database, name, list] in await database.overwrite(name, list) }.value
            guard overwritten.storedLocally else { return .failed("the change could not be stored on \(database.node.name)") }
        }
        return nil
    }
}
