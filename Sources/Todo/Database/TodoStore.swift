import Foundation
import GRDB
import Synchronization

/// This node's replica: one SQLite file in the node's data directory, in WAL mode with
/// `synchronous = FULL`, so a committed write survives a crash or power loss.
public final class TodoStore: Sendable {
    private let pool: DatabasePool
    /// A connection of its own that checkpoints in the background (`CheckpointSchedule`).
    private let checkpointer: DatabaseQueue
    private let schedule = Mutex(CheckpointSchedule(interval: TodoStore.checkpointInterval))
    /// The digest buckets of the lists stored, kept by each write (`digestBuckets`).
    private let buckets = KeptBuckets()
    /// This store's hold on its directory: one node per directory.
    private let lock: DirectoryLock
    public let path: String

    /// At most this often while writes come: at 4,000 changes a second the WAL then gains
    /// about 450 pages between checkpoints, under half SQLite's own threshold. Every 100 and
    /// 200 ms helped the 3-node mix's p99 less (`make bench`'s setup: 27 to 31 and 28 to 34 ms,
    /// against 25 to 29 ms every 50 ms and 33 to 46 ms without).
    static let checkpointInterval = Duration.milliseconds(50)

    /// The writer's page cache, in KiB (SQLite's default is 2,000). Every write reads the
    /// pages it changes; with the default a database past 2 MB read most of them from the
    /// file again (at 7 MB, after 70,000 POSTs: 0.93 `pread` per POST, against 0.004 with
    /// this), and 64 MiB holds the pages of some 600,000 entries. It fills only as pages are
    /// read.
    static let writerCacheKiB = 65_536

    /// Opens (creating when missing) `todo.sqlite` in `directory`, creating the directory too.
    public init(directory: String) throws {
        try Self.makeDirectory(directory)
        lock = try DirectoryLock(directory: directory)
        path = (directory as NSString).appendingPathComponent("todo.sqlite")
        var configuration = Configuration()
        configuration.label = "todo.store"
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        // Set on the writer once the pool is open: the pool sets `NORMAL` (no sync at commit,
        // so a power loss could take acknowledged writes) when it turns WAL on, after any
        // `prepareDatabase`. The WAL keeps SQLite's checkpoint every 1,000 pages: every 10,000
        // copied fewer pages in all, but each checkpoint then held the writer long enough to
        // take POSTs' p99 from 13 to 21 ms on a grown database (`make bench`). Most of the
        // copying is done before, in the background (`checkpointIfDue`).
        // `secure_delete`: what a row held before it was rewritten is zeroed, so a deleted
        // entry's title does not linger in the file's free space (Debian's SQLite does so by
        // default; others do not).
        try pool.writeWithoutTransaction {
            try $0.execute(sql: "PRAGMA synchronous = FULL; PRAGMA cache_size = -\(Self.writerCacheKiB); PRAGMA secure_delete = ON")
        }
        var migrator = DatabaseMigrator()
        migrator.registerMigration("lists and entries") { db in
            try db.execute(sql: """
                CREATE TABLE lists (name TEXT PRIMARY KEY NOT NULL, next_id INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE entries (
                    list TEXT NOT NULL, id INTEGER NOT NULL, date TEXT NOT NULL, title TEXT NOT NULL,
                    PRIMARY KEY (list, id)) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("list versions") { db in
            try db.execute(sql: "ALTER TABLE lists ADD COLUMN version INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("mergeable records") { db in
            // Entries become records with a stamp per field and a tombstone; those written
            // before carry the zero stamp and keep their bare-number ids.
            try db.execute(sql: """
                CREATE TABLE records (
                    list TEXT NOT NULL, counter INTEGER NOT NULL, origin TEXT NOT NULL,
                    date TEXT NOT NULL, date_clock INTEGER NOT NULL, date_node TEXT NOT NULL,
                    title TEXT NOT NULL, title_clock INTEGER NOT NULL, title_node TEXT NOT NULL,
                    deleted_clock INTEGER, deleted_node TEXT,
                    PRIMARY KEY (list, counter, origin)) WITHOUT ROWID;
                INSERT INTO records SELECT list, id, '', date, 0, '', title, 0, '', NULL, NULL FROM entries;
                DROP TABLE entries;
                ALTER TABLE lists DROP COLUMN version;
                ALTER TABLE lists ADD COLUMN digest INTEGER NOT NULL DEFAULT 0;
                """)
            for name in try String.fetchAll(db, sql: "SELECT name FROM lists") { try Self.recomputeDigest(of: name, db) }
        }
        migrator.registerMigration("tombstones without their entries") { db in
            // A tombstone no longer keeps the deleted entry's date and title (`EntryRecord`), and
            // a list's digest is the sum of its records': both are rewritten where one was kept.
            let lists = try String.fetchAll(db, sql: "SELECT DISTINCT list FROM records WHERE deleted_clock IS NOT NULL")
            try db.execute(sql: """
                UPDATE records SET date = ?, date_clock = 0, date_node = '', title = '', title_clock = 0, title_node = ''
                WHERE deleted_clock IS NOT NULL
                """, arguments: [TodoDate.first.description])
            for name in lists { try Self.recomputeDigest(of: name, db) }
        }
        migrator.registerMigration("lists by digest bucket") { db in
            // A catch-up round whose buckets differ reads only their lists' digests. -1 until
            // set: a list an earlier version adds to this file gets its bucket at the next
            // opening by this one (below), not bucket 0.
            try db.execute(sql: """
                ALTER TABLE lists ADD COLUMN bucket INTEGER NOT NULL DEFAULT -1;
                CREATE INDEX lists_by_bucket ON lists (bucket);
                """)
        }
        try migrator.migrate(pool)
        try pool.write { try Self.setMissingBuckets($0) }
        // Made now, before the node serves: made at its first catch-up instead, on the
        // writer's connection, they held up the peers' writes to it for that long.
        buckets.keep(DigestBuckets(digests: try pool.read { try Self.digests($0) }))
        var checkpointing = Configuration()
        checkpointing.label = "todo.store.checkpoint"
        checkpointing.busyMode = .timeout(10)
        checkpointer = try DatabaseQueue(path: path, configuration: checkpointing)
        // FULL: the WAL is synced before its pages are copied, and the database after.
        try checkpointer.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
    }

    /// Why the data directory cannot be used, in the system's words (Foundation's are an
    /// `NSError` dumped whole).
    public struct DirectoryProblem: Error, CustomStringConvertible {
        public let description: String
    }

    /// `mkdir -p directory`.
    private static func makeDirectory(_ directory: String) throws(DirectoryProblem) {
        var path = directory.hasPrefix("/") ? "/" : ""
        for part in directory.split(separator: "/") {
            path += (path.isEmpty || path.hasSuffix("/") ? "" : "/") + part
            if mkdir(path, 0o755) != 0, errno != EEXIST {
                throw DirectoryProblem(description: "cannot make \(path): \(String(cString: strerror(errno)))")
            }
        }
        var status = stat()
        guard stat(directory, &status) == 0 else { throw DirectoryProblem(description: "\(directory): \(String(cString: strerror(errno)))") }
        guard status.st_mode & S_IFMT == S_IFDIR else { throw DirectoryProblem(description: "\(directory) is not a directory") }
    }

    /// Closes a store that will not be used again (a stopped system, whose node may start
    /// another on the same directory), and lets its directory go. The WAL is copied into the
    /// database file and emptied first, so a stopped node leaves its data in one file, without
    /// the older copies of pages the WAL held (a deleted entry's title among them). Should that
    /// fail (the disk), SQLite recovers the WAL at the next opening, as after a crash.
    public func close() async {
        // The background checkpointer first: closing waits for a checkpoint it still runs,
        // which made the truncating one busy now and then (the test of a deleted entry's
        // title found it left in the WAL, twice in some 30 runs of its suite). Nothing else
        // empties the WAL: the pool closes its writer before its readers, which cannot.
        try? checkpointer.close()
        _ = try? await pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        try? pool.close()
        lock.release()
    }

    /// `init(directory:)` on a thread of its own (a serial queue's): opening migrates and
    /// syncs to disk, which must not hold up a thread of the concurrency pool.
    public static func open(directory: String) async throws -> TodoStore {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue(label: "todo.store.open").async {
                do {
                    // Handed over, not copied: a copy the queue's thread let go of only after
                    // the caller had resumed kept the directory held after the caller dropped
                    // the store (a store opened again at once found it in use).
                    let store = try TodoStore(directory: directory)
                    continuation.resume(returning: consume store)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// `body` in a read transaction on one of the pool's readers. By GRDB's `asyncRead`, not
    /// its async `read`, which hops threads four times (an actor that waits for a free
    /// reader, back, the reader's actor, back): this one takes the pool's queue, the
    /// reader's and the caller's wake-up. A new list's first request costs its node about a
    /// fifth less CPU with it (250 against 312 µs, medians of three runs each, in turn), and
    /// 4.5 context switches where it made 5.0. GRDB's async read also interrupts SQLite when
    /// its task is cancelled; nothing in this program cancels a task.
    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            pool.asyncRead { db in continuation.resume(with: Result { try body(db.get()) }) }
        }
    }

    /// The stored copy of `name`, or nil when this replica has never held it.
    public func load(_ name: String) async throws -> TodoList? {
        try await read { db in
            guard let nextCounter = try Self.nextCounter(of: name, db) else {
                return nil
            }
            return TodoList(nextCounter: nextCounter, records: try Self.records(of: name, db))
        }
    }

    /// The stored records of `name` after `after` (from the first when nil), in id order, as
    /// many as fit in `maxBytes` on the wire but at least one: `TodoList.part`, read from the
    /// file a part at a time, so a list's parts together cost one read of it, not one each.
    /// Nil when this replica has never held it. The node reads parts only inside `copies`
    /// (a `todo.fetch` answer); this one read alone is for the tests, which hold it to
    /// `TodoList.part`.
    func part(of name: String, after: EntryID?, maxBytes: Int) async throws -> ListPart? {
        try await read { db in try Self.part(of: name, after: after, maxBytes: maxBytes, db) }
    }

    /// The first of `names` that this replica holds, in order, as many as fit in `maxBytes` on
    /// the wire with their names, read in one transaction: the answer to a peer's
    /// `todo.fetch` (`TodoDatabase.copies(of:after:)`). A list too big for the rest of the
    /// answer begins the next; one too big for an answer of its own comes as a part
    /// (`part(of:after:maxBytes:)`), the last of its answer (`partial`). `after` applies to
    /// the first of `names`. Each list in a read of its own waited for a reader's turn, on
    /// another thread, 200 times an answer.
    func copies(of names: [String], after: EntryID?, maxBytes: Int) async throws -> ListCopies {
        try await read { db in
            var copies = ListCopies(lists: [], covered: 0)
            var bytes = 0
            for (index, name) in names.enumerated() {
                let room = maxBytes - bytes - name.utf8.count
                guard let part = try Self.part(of: name, after: index == 0 ? after : nil, maxBytes: room, db) else {
                    copies.covered += 1
                    continue
                }
                if !copies.lists.isEmpty, !part.complete || part.bytes > room { break }  // The next answer begins with it.
                copies.lists.append(NamedList(name: name, list: part.list))
                bytes += part.bytes + name.utf8.count
                guard part.complete else {
                    copies.partial = true
                    break
                }
                copies.covered += 1
            }
            return copies
        }
    }

    /// `part(of:after:maxBytes:)`, read in `db`.
    private static func part(of name: String, after: EntryID?, maxBytes: Int, _ db: Database) throws -> ListPart? {
        guard let nextCounter = try nextCounter(of: name, db) else {
            return nil
        }
        let statement = try db.cachedStatement(sql: """
            SELECT \(recordColumns) FROM records WHERE list = ? AND (counter, origin) > (?, ?) ORDER BY counter, origin
            """)
        let rows = try Int64.fetchCursor(statement, arguments: [name, after?.counter ?? Int.min, after?.origin ?? ""])
        var gathering = ListPart.Gathering(maxBytes: maxBytes)
        let complete = try withExtendedLifetime(rows) {
            while try rows.next() != nil {
                if let record = record(Columns(statement.sqliteStatement)), !gathering.take(record) { return false }
            }
            return true
        }
        return gathering.part(nextCounter: nextCounter, complete: complete)
    }

    /// Merges these changes into the stored copies, in one transaction (one disk sync for
    /// all), as `TodoList.apply` does, keeping each list's digest up to date record by
    /// record. Answers, per change, whether the copy changed.
    @discardableResult
    public func apply(_ changes: [(name: String, change: ListChange)]) async throws -> [Bool] {
        try await withCheckedThrowingContinuation { continuation in
            apply(changes) { continuation.resume(with: $0) }
        }
    }

    /// `apply(_:)` without waiting: `completion` gets its answer on the writer's thread once
    /// the transaction is committed (or has failed), so a caller that is a process is free
    /// meanwhile (the node's writer hears its peers while its own commit runs).
    func apply(_ changes: [(name: String, change: ListChange)],
               completion: @escaping @Sendable (Result<[Bool], any Error>) -> Void) {
        pool.asyncWrite({ [buckets] db in try Self.merge(changes, db, buckets: buckets) }, completion: { [self] _, result in
            // The change was counted in the buckets, but it did not stand.
            if case .failure = result { buckets.forget() }
            checkpointIfDue()
            completion(result)
        })
    }

    /// `apply`'s transaction, on the writer's connection.
    private static func merge(_ changes: [(name: String, change: ListChange)], _ db: Database, buckets: KeptBuckets) throws -> [Bool] {
        let list = try db.cachedStatement(sql: "SELECT next_id, digest FROM lists WHERE name = ?")
        let saveList = try db.cachedStatement(sql: """
            INSERT INTO lists (name, next_id, digest, bucket) VALUES (?, ?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET next_id = excluded.next_id, digest = excluded.digest
            """)
        let record = try db.cachedStatement(sql: "SELECT \(Self.recordColumns) FROM records WHERE list = ? AND counter = ? AND origin = ?")
        let saveRecord = try db.cachedStatement(sql: "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        // A record whose counter is at or above the list's stored `next_id` (every add) cannot
        // be stored yet: it is written in one statement, without a look for it first. Any
        // other is read, merged and replaced, as is one whose insert finds it stored after all.
        let addRecord = try db.cachedStatement(sql: "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
        return try changes.map { name, change in
            let stored = try list.firstRow(db, binding: { $0.text(name) }) { row in
                let columns = Columns(row)
                return (next: Int(columns.int64(0)), digest: columns.int64(1))
            }
            var nextCounter = stored?.next ?? 1
            var digest = UInt64(bitPattern: stored?.digest ?? 0)
            var changed = stored == nil || change.nextCounter > nextCounter
            // Every stored record of the list has a counter below this.
            let unseen = nextCounter
            nextCounter = max(nextCounter, change.nextCounter)
            for incoming in change.records {
                var added = false
                if incoming.id.counter >= unseen {
                    try addRecord.run(db) { Self.bind(incoming, in: name, &$0) }
                    added = db.changesCount > 0
                }
                let old: EntryRecord?, merged: EntryRecord
                if added {
                    (old, merged) = (nil, incoming)
                } else {
                    old = try record.firstRow(db, binding: { row in
                        row.text(name)
                        row.int(incoming.id.counter)
                        row.text(incoming.id.origin)
                    }, read: { Self.record(Columns($0)) }) ?? nil
                    merged = old?.merged(with: incoming) ?? incoming
                    guard merged != old else { continue }
                    try saveRecord.run(db) { Self.bind(merged, in: name, &$0) }
                }
                digest = digest &- (old?.digest ?? 0) &+ merged.digest
                nextCounter = max(nextCounter, merged.id.counter + 1)
                changed = true
            }
            if changed {
                try saveList.run(db) { row in
                    row.text(name)
                    row.int(nextCounter)
                    row.int64(Int64(bitPattern: digest))
                    row.int(DigestBuckets.bucket(of: name))
                }
                buckets.update(name, from: stored.map { UInt64(bitPattern: $0.digest) }, to: digest)
            }
            return changed
        }
    }

    /// Starts a passive checkpoint on the checkpointer's connection, without waiting for it,
    /// when the schedule says so. Passive: it copies what no reader still needs and never
    /// holds up the writer, which goes on appending meanwhile. The writer keeps SQLite's own
    /// checkpoint at 1,000 pages, which is what starts the WAL over from its beginning (a
    /// background one rarely ends with nothing left, as the writer appends meanwhile); with
    /// these done first it has little left to copy or sync. A failed one (busy, or a disk
    /// error the writer meets too) is simply the next one's work.
    private func checkpointIfDue() {
        guard schedule.withLock({ $0.startAfterCommit(at: .now) }) else { return }
        checkpointer.asyncWriteWithoutTransaction { [self] db in
            _ = try? db.checkpoint(.passive)
            schedule.withLock { $0.finished() }
        }
    }

    /// A setting of the writer's connection, such as `synchronous` (2 is `FULL`: what a
    /// commit waits for). `name` is ours, never outside input.
    func writerSetting(_ name: String) async throws -> Int {
        try await pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA \(name)") ?? -1 }
    }

    /// Every list this replica holds, with its digest: what catch-up compares.
    public func digests() async throws -> [String: UInt64] {
        try await read { db in try Self.digests(db) }
    }

    private static func digests(_ db: Database) throws -> [String: UInt64] {
        var digests: [String: UInt64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, digest FROM lists") {
            digests[row["name"]] = UInt64(bitPattern: row["digest"])
        }
        return digests
    }

    /// The lists this replica holds in `buckets`, with their digests: what catch-up compares
    /// when those buckets differ. Read through the bucket index, so it costs the lists in
    /// those buckets, not every list: under writes some rounds find buckets differing, by the
    /// writes on their way to the peer, and reading every list's digest then took 4 % of two
    /// nodes' CPU at 555,000 lists and 3,000 POSTs a second.
    func digests(inBuckets buckets: Set<Int>) async throws -> [String: UInt64] {
        try await read { db in
            let statement = try db.cachedStatement(sql: "SELECT name, digest FROM lists WHERE bucket = ?")
            var digests: [String: UInt64] = [:]
            for bucket in buckets.sorted() {
                for row in try Row.fetchAll(statement, arguments: [bucket]) {
                    digests[row["name"]] = UInt64(bitPattern: row["digest"])
                }
            }
            return digests
        }
    }

    /// Gives each list without a bucket its own: every list when the column is new, and
    /// later those an earlier version of the node added (it leaves the column at -1).
    private static func setMissingBuckets(_ db: Database) throws {
        let names = try String.fetchAll(db, sql: "SELECT name FROM lists WHERE bucket = -1")
        let set = try db.makeStatement(sql: "UPDATE lists SET bucket = ? WHERE name = ?")
        for name in names { try set.execute(arguments: [DigestBuckets.bucket(of: name), name]) }
    }

    /// `DigestBuckets` of every list this replica holds: what a catch-up round compares first,
    /// every anti-entropy interval, on both sides. Kept up to date by each write, so a round
    /// between equal replicas reads no list; made from every list's digest only at opening
    /// and after a failed write. (Made every time, two idle nodes of 555,000 lists each spent
    /// 3.7 to 3.9 s of CPU a minute on it; 0.08 s now.) After a failed write they are made on
    /// the writer's connection, between writes, so that every write is counted once: those
    /// before in the digests read, those after by `merge`.
    func digestBuckets() async throws -> DigestBuckets {
        if let kept = buckets.current { return kept }
        return try await pool.writeWithoutTransaction { [buckets] db in
            if let kept = buckets.current { return kept }
            let made = DigestBuckets(digests: try Self.digests(db))
            buckets.keep(made)
            return made
        }
    }

    /// How many times `digestBuckets` were made from every list's digest (for tests).
    var digestBucketsMade: Int { buckets.made }

    /// Stores `name`'s digest as the sum of its stored records' (a migration's; writes keep
    /// it up to date as they go).
    private static func recomputeDigest(of name: String, _ db: Database) throws {
        let digest = try records(of: name, db).reduce(0) { $0 &+ $1.digest }
        try db.execute(sql: "UPDATE lists SET digest = ? WHERE name = ?", arguments: [Int64(bitPattern: digest), name])
    }

    private static func records(of name: String, _ db: Database) throws -> [EntryRecord] {
        var records: [EntryRecord] = []
        let statement = try db.cachedStatement(sql: "SELECT \(recordColumns) FROM records WHERE list = ? ORDER BY counter, origin")
        let rows = try Int64.fetchCursor(statement, arguments: [name])
        try withExtendedLifetime(rows) {
            while try rows.next() != nil {
                if let record = record(Columns(statement.sqliteStatement)) { records.append(record) }
            }
        }
        return records
    }

    /// The next id counter of `name`, nil when this replica has never held it. The statement
    /// is cached per connection: compiled at every read, it was 8 % of a peer's CPU while a
    /// node started list servers by the thousand (each server's first request reads its list
    /// here and on every peer).
    private static func nextCounter(of name: String, _ db: Database) throws -> Int? {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT next_id FROM lists WHERE name = ?"), arguments: [name])
    }

    /// The row a statement has stepped to, read by column index with GRDB's column
    /// readers. GRDB's `Row` would first build a dictionary of the statement's column names,
    /// for every query: most of a POST's allocations were those.
    private struct Columns {
        let statement: SQLiteStatement
        init(_ statement: SQLiteStatement) { self.statement = statement }

        func int64(_ index: CInt) -> Int64 { Int64(sqliteStatement: statement, index: index) }
        func optionalInt64(_ index: CInt) -> Int64? { Int64.fromDatabaseValue(DatabaseValue(sqliteStatement: statement, index: index)) }
        func text(_ index: CInt) -> String? { String.fromDatabaseValue(DatabaseValue(sqliteStatement: statement, index: index)) }
    }

    /// The columns `record(_:)` reads, in its order.
    private static let recordColumns =
        "counter, origin, date, date_clock, date_node, title, title_clock, title_node, deleted_clock, deleted_node"

    /// A stored record from a row of `recordColumns`; nil when a field does not read back
    /// (logged by no one: such a row was never written by this code).
    private static func record(_ row: Columns) -> EntryRecord? {
        guard let origin = row.text(1), let date = row.text(2).flatMap(TodoDate.init), let dateNode = row.text(4),
              let title = row.text(5), let titleNode = row.text(7) else { return nil }
        let deleted = row.optionalInt64(8).map { Stamp(clock: $0, node: row.text(9) ?? "") }
        return EntryRecord(
            id: EntryID(counter: Int(row.int64(0)), origin: origin),
            date: date, dateStamp: Stamp(clock: row.int64(3), node: dateNode),
            title: title, titleStamp: Stamp(clock: row.int64(6), node: titleNode),
            deleted: deleted)
    }

    /// A record's columns, in the table's order, for `INSERT ... VALUES`.
    private static func bind(_ record: EntryRecord, in list: String, _ row: inout DirectBindings) {
        row.text(list)
        row.int(record.id.counter)
        row.text(record.id.origin)
        row.text(record.date.description)
        row.int64(record.dateStamp.clock)
        row.text(record.dateStamp.node)
        row.text(record.title)
        row.int64(record.titleStamp.clock)
        row.text(record.titleStamp.node)
        row.optionalInt64(record.deleted?.clock)
        row.optionalText(record.deleted?.node)
    }
}

/// `TodoStore`'s digest buckets between catch-up rounds: nil until made, updated by each
/// write on the writer's connection, read by any thread.
private final class KeptBuckets: Sendable {
    private let state = Mutex<(buckets: DigestBuckets?, made: Int)>((nil, 0))

    var current: DigestBuckets? { state.withLock { $0.buckets } }
    var made: Int { state.withLock { $0.made } }

    func keep(_ buckets: DigestBuckets) {
        state.withLock { $0 = (buckets, $0.made + 1) }
    }

    func update(_ name: String, from old: UInt64?, to new: UInt64) {
        state.withLock { $0.buckets?.update(name, from: old, to: new) }
    }

    /// Made again when next asked.
    func forget() {
        state.withLock { $0.buckets = nil }
    }
}
