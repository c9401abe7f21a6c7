import Logging
import Processes

/// The one writer of this node's replica. SQLite commits one transaction at a time, so rather
/// than a pool of writers queueing on its lock, stores that arrive together share one
/// transaction and one disk sync (group commit): a store of one list never waits behind
/// another list's sync, it rides along with it.
struct DatabaseWriter: GenServer {
    struct Save: Sendable {
        let name: String
        let change: ListChange
    }

    /// Whether a change was saved (merged into this node's copy).
    enum Outcome: Sendable, Equatable {
        case applied
        case failed(String)
    }

    typealias Request = Save
    typealias Reply = Outcome

    static let localName = "todo_database"
    static let maxBatch = 512

    let store: TodoStore
    let logger: Logger
    var pending: [(save: Save, from: CallFrom)] = []

    init(store: TodoStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Zero while stores wait: the loop drains the mailbox, and the timeout fires (and the
    /// batch is written) as soon as it is empty.
    var idleTimeout: Duration? { pending.isEmpty ? nil : .zero }

    mutating func handleCall(_ request: Save, from: CallFrom, context: ProcessContext) async throws -> CallResult<Outcome> {
        pending.append((request, from))
        if pending.count >= Self.maxBatch { await flush(context) }
        return .noReply
    }

    mutating func handleTimeout(context: ProcessContext) async throws -> ServerAction {
        await flush(context)
        return .continue
    }

    mutating func terminate(reason: ExitReason, context: ProcessContext) async {
        await flush(context)
    }

    private mutating func flush(_ context: ProcessContext) async {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        do {
            try await store.apply(batch.map { (name: $0.save.name, change: $0.save.change) })
            for item in batch { item.from.reply(Outcome.applied, via: context.runtime) }
        } catch {
            let failure = "cannot write the database: \(error)"
            logger.error("\(failure)")
            for item in batch { item.from.reply(Outcome.failed(failure), via: context.runtime) }
        }
    }
}
