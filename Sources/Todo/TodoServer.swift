import Cluster
import Logging
import Processes

/// One process per list in the whole cluster (the book's `Todo.Server`): the list lives in its
/// memory, loaded at its first request from the merge of this node's copy and its peers';
/// a change is stored on every connected node before it is answered. Replicas receive the
/// change, not the whole list as the book sends it. It stops after `idleTimeout` without
/// requests, and is started again, from the database, by the next one.
///
/// After a split heals, the server that loses the clash for the list's global name hands its
/// list to the one that stays (`GlobalNameConflict`), which merges it, so the survivor holds
/// both sides' writes.
public struct TodoServer: GenServer {
    public enum Request: Codable, Sendable, Equatable {
        case entries(TodoDate?)
        case add(date: TodoDate, title: String)
        case update(id: EntryID, date: TodoDate?, title: String?)
        case delete(id: EntryID)
        /// Merge another copy's records in (a losing server's list, or one caught up).
        case merge(ListChange)
    }

    public enum Reply: Codable, Sendable, Equatable {
        case entries([TodoEntry])
        case entry(TodoEntry)
        case deleted
        case notFound
        case failed(String)
        case merged
    }

    let name: String
    var list = TodoList()
    /// Loaded at the first request, in the server's own process (the book's
    /// `handle_continue`): starting never holds up the cache's supervisor.
    var loaded = false
    let database: TodoDatabase
    let expiry: Duration
    let logger: Logger
    /// Wall-clock milliseconds, for the stamps of writes.
    let wallMillis: @Sendable () -> Int64

    public var idleTimeout: Duration? { expiry }

    /// The list's name in the global registry, as the book's `{Todo.Server, name}`.
    /// Built in one allocation: it is made for every request.
    public static func globalName(_ list: String) -> String {
        var name = "{Todo.Server, \""
        name.reserveCapacity(name.utf8.count + list.utf8.count + 2)
        name += list
        name += "\"}"
        return name
    }

    static func start(_ name: String, database: TodoDatabase, expiry: Duration, logger: Logger,
                      wallMillis: @escaping @Sendable () -> Int64) -> TodoServer {
        logger.info("Starting to-do server for \(name).")
        return TodoServer(name: name, database: database, expiry: expiry, logger: logger, wallMillis: wallMillis)
    }

    /// The writer's name in ids and stamps: this node's full name, unique in a cluster even
    /// across hosts (users see ids by the part before the `@`).
    private var writer: String { database.node.name.description }

    /// Requests run in a task of their own (`hibernates`), which ends when the list has had
    /// none for `hibernateAfter`: a list server lives long and mostly idle, and a task keeps
    /// the memory of its deepest frames until it ends. A quarter of a second keeps one task
    /// for a list in steady use, and few at once when many lists are each touched once (a
    /// node loading 10,000 lists in a row: 6.2 KB per idle server against 5.8 KB with a task
    /// per request, 7.5 KB with a second).
    public static var hibernates: Bool { true }
    public static var hibernateAfter: Duration { .milliseconds(250) }

    public mutating func handleCall(_ request: Request, from: CallFrom, context: ProcessContext) async throws -> CallResult<Reply> {
        .reply(await serve(request, context))
    }

    private mutating func serve(_ request: Request, _ context: ProcessContext) async -> Reply {
        if !loaded {
            // The merge of this node's copy and its peers' (this one may have missed writes
            // while the node was away).
            list = await database.merged(name) ?? TodoList()
            loaded = true
        }
        switch request {
        case .entries(let date):
            return .entries(list.entries(on: date))
        case .add(let date, let title):
            let change = list.proposeAdd(date: date, title: title, by: writer, atMillis: wallMillis())
            return await commit(change, context) ?? written(change)
        case .update(let id, let date, let title):
            guard let change = list.proposeUpdate(id: id, date: date, title: title, by: writer, atMillis: wallMillis()) else {
                return .notFound
            }
            return await commit(change, context) ?? written(change)
        case .delete(let id):
            guard let change = list.proposeDelete(id: id, by: writer, atMillis: wallMillis()) else { return .notFound }
            return await commit(change, context) ?? .deleted
        case .merge(let change):
            var merged = list
            guard merged.apply(change) else { return .merged }
            logger.info("list \(name): merged another copy (\(change.records.count) records)")
            return await commit(change, context) ?? .merged
        }
    }

    /// The entry a committed add or update wrote, as users see it.
    private func written(_ change: ListChange) -> Reply {
        change.records.first.flatMap { list.entry(id: $0.id) }.map(Reply.entry) ?? .notFound
    }

    /// This server lost its list's name to `kept` after a split healed: it hands its list
    /// over and ends. Requests still queued here fail as "never reached", so their callers
    /// retry at `kept`.
    public mutating func handleInfo(_ message: any Sendable, context: ProcessContext) async throws -> ServerAction {
        guard let conflict = message as? GlobalNameConflict else { return .continue }
        logger.notice("list \(name): its server on \(conflict.kept.node) stays; handing this copy over")
        if loaded {
            do {
                _ = try await context.call(conflict.kept, Request.merge(list.asChange), replyType: Reply.self, timeout: TodoDatabase.storeTimeout)
            } catch {
                // Every write of this copy is stored on this side's nodes: catch-up brings it.
                logger.warning("list \(name): hand-over to \(conflict.kept) failed (\(error)); catch-up will merge it")
            }
        }
        return .stop(.normal)
    }

    public mutating func handleTimeout(context: ProcessContext) async throws -> ServerAction {
        logger.info("Stopping to-do server for \(name)")
        return .stop(.normal)
    }

    /// Stores `change` everywhere, then applies it to this server's list; nil on success.
    /// When this node's own copy could not be written the change is dropped and the caller
    /// told: an answer means durable.
    private mutating func commit(_ change: ListChange, _ context: ProcessContext) async -> Reply? {
        let outcome = await database.store(name, change, from: context)
        guard outcome.storedLocally else { return .failed("the change could not be stored on \(database.node.name)") }
        list.apply(change)
        return nil
    }
}
