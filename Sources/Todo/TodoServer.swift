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
///
/// Its list is on a shelf (`ListShelf`) that its node's readers read without a message,
/// once the list is loaded: the server stays its only writer, and the one that loads it.
public struct TodoServer: GenServer, Sendable {
    public enum Request: Codable, Sendable, Equatable {
        case entries(TodoDate?)
        case add(date: TodoDate, title: String)
        case update(id: EntryID, date: TodoDate?, title: String?)
        case delete(id: EntryID)
        /// Merge another copy's records in (a losing server's list, or one caught up).
        case merge(ListChange)
        /// Merge a write that a server overruled on a peer made (`OverruledWrites`): as
        /// `merge`, without a line in the log for each (they come one per write while a
        /// partition overlaps).
        case mergeOverruled(ListChange)
    }

    public enum Reply: Codable, Sendable, Equatable {
        case entries([TodoEntry])
        case entry(TodoEntry)
        case deleted
        case notFound
        case failed(String)
        case merged
        /// This server lost its list's name (a clash settled after a heal): the request was
        /// not taken, and goes to the list's server.
        case notHere
    }

    let name: String
    /// The list's name in the global registry (`globalName`).
    let registeredName: String
    /// The list, which this server alone changes.
    let shelf: ListShelf
    /// Where this node's readers find the shelf, once the list is loaded.
    let shelves: ListShelves
    /// Loaded at the first request, in the server's own process (the book's
    /// `handle_continue`): starting never holds up the cache's supervisor.
    var loaded = false
    let database: TodoDatabase
    let expiry: Duration
    let logger: Logger
    /// Wall-clock milliseconds, for the stamps of writes.
    let wallMillis: @Sendable () -> Int64
    /// What is left of the idle timeout after a read from the shelf, or a new server's wait
    /// for its first request (nil: all of it).
    private var idleLeft: Duration?
    /// For each visible peer, the connection (`ClusterNode.connection(to:)`) over which this
    /// server last took in that peer's copy of the list (`takeInNewCopies`).
    private var mergedOver: [NodeName: UInt64] = [:]

    public var idleTimeout: Duration? { idleLeft ?? expiry }

    /// The list's name in the global registry, as the book's `{Todo.Server, name}`.
    /// Built in one allocation: it is made for every request.
    public static func globalName(_ list: String) -> String {
        var name = "{Todo.Server, \""
        name.reserveCapacity(name.utf8.count + list.utf8.count + 2)
        name += list
        name += "\"}"
        return name
    }

    /// The list whose server `globalName` names; nil for any other name.
    /// Compared byte by byte: a list name that begins with a combining mark makes one
    /// character with the quote before it.
    static func list(inGlobalName name: String) -> String? {
        let prefix = "{Todo.Server, \"".utf8, suffix = "\"}".utf8, bytes = name.utf8
        guard bytes.count >= prefix.count + suffix.count, bytes.starts(with: prefix), bytes.reversed().starts(with: suffix.reversed())
        else { return nil }
        return String(decoding: bytes.dropFirst(prefix.count).dropLast(suffix.count), as: UTF8.self)
    }

    /// Started by the cache for a request that has yet to reach it, whose caller gives up at
    /// `requestDeadline`: the server waits for that request until then, even past `expiry`
    /// (see `firstWait`).
    static func start(_ name: String, database: TodoDatabase, expiry: Duration, requestDeadline: ContinuousClock.Instant,
                      logger: Logger, wallMillis: @escaping @Sendable () -> Int64, shelves: ListShelves,
                      context: ProcessContext) -> TodoServer {
        logger.info("Starting to-do server for \(name).")
        var server = TodoServer(name: name, registeredName: globalName(name), shelf: ListShelf(server: context.pid),
                                shelves: shelves, database: database, expiry: expiry, logger: logger, wallMillis: wallMillis)
        server.idleLeft = firstWait(expiry: expiry, requestDeadline: requestDeadline, now: .now)
        return server
    }

    /// How long a new server waits for the request it was started for, when that is longer
    /// than `expiry` (nil: `expiry`, as after any request). The request reaches it through
    /// the cache's supervisor and its caller, three hops; on a node so loaded that they take
    /// longer than a short expiry, a server that stopped first made its caller start another
    /// that stopped first too, until the request's deadline. The caller gives up at its
    /// deadline, so the server need not wait longer.
    static func firstWait(expiry: Duration, requestDeadline: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Duration? {
        let left = requestDeadline - now
        return left > expiry ? left : nil
    }

    /// The writer's name in ids and stamps: this node's full name, unique in a cluster even
    /// across hosts (users see ids by the part before the `@`).
    private var writer: String { database.node.name.description }

    /// The server hibernates (`hibernates`): its task ends as soon as no request waits, and
    /// an idle server has none, as a list server lives long and mostly idle, and a task keeps
    /// the memory of its deepest frames until it ends. A list asked again within
    /// `hibernateAfter` is in steady use: its task then waits that long for the next request,
    /// and a quarter of a second keeps one task for it. A list touched once hibernates at once
    /// (a node loading 10,000 lists in a row: 2.2 KB per idle server; 6.0 KB when an idle
    /// server still kept a task waiting, and 12.1 KB without hibernating).
    public static var hibernates: Bool { true }
    public static var hibernateAfter: Duration { .milliseconds(250) }

    public mutating func handleCall(_ request: Request, from: CallFrom, context: ProcessContext) async throws -> CallResult<Reply> {
        idleLeft = nil
        return .reply(await serve(request, context))
    }

    private mutating func serve(_ request: Request, _ context: ProcessContext) async -> Reply {
        // Its node settled a clash against it, and the news (`GlobalNameConflict`) waits behind
        // the requests that reached it before: taken here, they missed the kept server's
        // writes, and the kept server lacked theirs until the hand-over.
        if let owner = database.node.global.whereis(registeredName), owner != context.pid { return .notHere }
        if !loaded {
            // The merge of this node's copy and its peers' (this one may have missed writes
            // while the node was away).
            let connections = database.node.nodes().compactMap { peer in database.node.connection(to: peer).map { (peer, $0) } }
            let (list, peers) = await database.merged(name)
            shelf.write { $0 = list ?? TodoList() }
            for (peer, connection) in connections where peers.contains(peer) { mergedOver[peer] = connection }
            loaded = true
            shelves.open(shelf, for: name)
        }
        await takeInNewCopies(context)
        let writer = writer
        switch request {
        case .entries(let date):
            return .entries(shelf.inspect { $0.entries(on: date) })
        case .add(let date, let title):
            let millis = wallMillis()
            let change = shelf.inspect { $0.proposeAdd(date: date, title: title, by: writer, atMillis: millis) }
            return await commit(change, context) ?? written(change)
        case .update(let id, let date, let title):
            let millis = wallMillis()
            guard let change = shelf.inspect({ $0.proposeUpdate(id: id, date: date, title: title, by: writer, atMillis: millis) }) else {
                return .notFound
            }
            return await commit(change, context) ?? written(change)
        case .delete(let id):
            let millis = wallMillis()
            guard let change = shelf.inspect({ $0.proposeDelete(id: id, by: writer, atMillis: millis) }) else { return .notFound }
            return await commit(change, context) ?? .deleted
        case .merge(let change):
            return await mergeIn(change, from: "another copy", context) ?? .merged
        case .mergeOverruled(let change):
            return await mergeIn(change, from: "a write of an overruled server", logAt: .debug, context) ?? .merged
        }
    }

    /// Before the first request since a visible peer (re)connected, takes in that peer's copy
    /// of the list. Right after a cut heals, the other side's writes are still on their way (in
    /// a hand-over, in catch-up, or nowhere when their server had stopped): served without
    /// them, requests through the node that was cut off missed its own writes (a 404 for an
    /// entry it had just written, in the soak), and reads on the node that kept its server
    /// missed the other side's. One read of each peer's copy per connection, all at once;
    /// until it is done the shelf sends reads here.
    private mutating func takeInNewCopies(_ context: ProcessContext) async {
        let node = database.node
        let connectionsMade = node.visibleConnectionsMade
        guard shelf.peersTakenIn != connectionsMade else { return }
        let new = Dictionary(uniqueKeysWithValues: node.nodes().compactMap { peer in
            node.connection(to: peer).flatMap { mergedOver[peer] == $0 ? nil : (peer, $0) }
        })
        var tookAll = true
        for (peer, copy) in new.isEmpty ? [:] : await database.copies(of: name, on: Array(new.keys)) {
            switch copy {
            case .success(let list?):
                // A copy that could not be stored here is read again at the next request.
                guard await mergeIn(list.asChange, from: "\(peer)'s copy", context) == nil else {
                    tookAll = false
                    continue
                }
            case .success(nil):
                break
            case .failure(let error):
                // Not read again: every request would wait for a peer that does not answer.
                logger.warning("list \(name): cannot read \(peer)'s copy (\(error)); catch-up will merge it")
            }
            mergedOver[peer] = new[peer]
        }
        if tookAll { shelf.peersTakenIn = connectionsMade }
    }

    /// Merges another copy's records in as any change: stored everywhere, then applied; nil
    /// on success, or when the copy adds nothing (then it is neither stored nor logged).
    private mutating func mergeIn(
        _ change: ListChange, from source: String, logAt level: Logger.Level = .info, _ context: ProcessContext
    ) async -> Reply? {
        guard shelf.inspect({ var merged = $0; return merged.apply(change) }) else { return nil }
        logger.log(level: level, "list \(name): merged \(source) (\(change.records.count) records)")
        return await commit(change, context)
    }

    /// The entry a committed add or update wrote, as users see it.
    private func written(_ change: ListChange) -> Reply {
        shelf.inspect { list in change.records.first.flatMap { list.entry(id: $0.id) } }.map(Reply.entry) ?? .notFound
    }

    /// This server lost its list's name to `kept` after a split healed: it hands its list
    /// over and ends. Requests still queued here fail as "never reached", so their callers
    /// retry at `kept`.
    public mutating func handleInfo(_ message: any Sendable, context: ProcessContext) async throws -> ServerAction {
        idleLeft = nil
        guard let conflict = message as? GlobalNameConflict else { return .continue }
        logger.notice("list \(name): its server on \(conflict.kept.node) stays; handing this copy over")
        shelves.close(shelf, for: name)
        if loaded { await handOver(shelf.inspect { $0.asChange }, to: conflict.kept, context) }
        return .stop(.normal)
    }

    /// Merges `change` into `kept`, the server that now holds this list's name. The kept one
    /// may lose in turn (three sides): the change follows the name once. A failure only logs:
    /// every write in `change` is stored on this side's nodes, and catch-up brings it.
    private func handOver(_ change: ListChange, to kept: Pid, _ context: ProcessContext) async {
        do {
            if try await context.call(kept, Request.merge(change), replyType: Reply.self, timeout: TodoDatabase.storeTimeout) == .notHere,
               let next = database.node.global.whereis(registeredName), next != kept, next != context.pid {
                _ = try await context.call(next, Request.merge(change), replyType: Reply.self, timeout: TodoDatabase.storeTimeout)
            }
        } catch {
            logger.warning("list \(name): hand-over to \(kept) failed (\(error)); catch-up will merge it")
        }
    }

    /// Stops, unless its node read the shelf meanwhile: then it waits for what is left of
    /// the idle timeout since that read.
    public mutating func handleTimeout(context: ProcessContext) async throws -> ServerAction {
        if let left = Self.idleLeft(lastRead: shelf.lastRead, now: .now, expiry: expiry) {
            idleLeft = left
            return .continue
        }
        logger.info("Stopping to-do server for \(name)")
        return .stop(.normal)
    }

    /// What is left of the idle timeout at `now`, counted from the last read of the shelf;
    /// nil when the server has been idle for all of it.
    static func idleLeft(lastRead: ContinuousClock.Instant?, now: ContinuousClock.Instant, expiry: Duration) -> Duration? {
        guard let lastRead, case let idle = now - lastRead, idle < expiry else { return nil }
        return expiry - idle
    }

    /// What a caller hears of a change this node could not store: where it is stored
    /// instead, if anywhere.
    static func notStored(on node: NodeName, storedElsewhere peers: [NodeName]) -> String {
        let refusal = "the change could not be stored on \(node)"
        guard !peers.isEmpty else { return refusal }
        let holders = peers.map(\.description).sorted().joined(separator: ", ")
        return "\(refusal); it is stored on \(holders), and \(node) catches up with it once it can write: do not send it again"
    }

    /// Readers go to the server again (or to its successor) from now on.
    public mutating func terminate(reason: ExitReason, context: ProcessContext) async {
        shelves.close(shelf, for: name)
    }

    /// Stores `change` everywhere, then applies it to this server's list; nil on success.
    /// When this node's own copy could not be written the caller is told so (an answer means
    /// durable), and whether peers hold the change all the same: then it is not to be sent
    /// again, as it would be there twice once this node catches up.
    ///
    /// A request taken just before this server lost its list's name (a clash settled after a
    /// heal while the request was loading the list or being stored) is answered only once
    /// the kept server holds its change too. Answered first, the change reached the kept
    /// server only with this one's hand-over, and a read through another node in between
    /// missed a write already acknowledged (the partition soak: 150 ms).
    private mutating func commit(_ change: ListChange, _ context: ProcessContext) async -> Reply? {
        let outcome = await database.store(name, change, from: context)
        guard outcome.storedLocally else {
            return .failed(Self.notStored(on: database.node.name, storedElsewhere: outcome.storedElsewhere))
        }
        shelf.write { _ = $0.apply(change) }
        if let owner = database.node.global.whereis(registeredName), owner != context.pid {
            await handOver(change, to: owner, context)
        }
        return nil
    }
}
