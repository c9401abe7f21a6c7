import Foundation
import GRDB
import Testing
@testable import Todo

struct TodoStoreTests {
    let day = TodoDate("2018-12-19")!

    private func temporaryDirectory() -> String { NSTemporaryDirectory() + "todo-store-\(UUID().uuidString)" }

    @Test func changesGiveTheServersListAndSurviveReopening() async throws {
        let directory = temporaryDirectory() + "/nested"
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        // The server's lists and the changes it sends, as TodoServer makes them.
        var bob = TodoList(), alice = TodoList()
        var changes: [(name: String, change: ListChange)] = []
        let dentist = bob.add(date: day, title: "Dentist", by: "todo1", atMillis: 1)
        let milk = bob.add(date: day, title: "Buy milk", by: "todo1", atMillis: 2)
        changes += [("bob", dentist.1), ("bob", milk.1), ("alice", alice.add(date: day, title: "Gym", by: "todo2", atMillis: 3).1)]
        let update = bob.update(id: milk.0.id, date: nil, title: "Buy oat milk", by: "todo1", atMillis: 4)
        changes.append(("bob", try #require(update).1))
        let delete = bob.delete(id: dentist.0.id, by: "todo1", atMillis: 5)
        changes.append(("bob", try #require(delete)))
        do {
            let store = try await TodoStore.open(directory: directory)
            #expect(try await store.load("bob") == nil)
            #expect(try await store.apply(Array(changes.prefix(3))) == [true, true, true])
            #expect(try await store.apply(Array(changes.dropFirst(3))) == [true, true])
            // The same change again changes nothing.
            #expect(try await store.apply([changes[0]]) == [false])
        }
        let reopened = try await reopening { try await TodoStore.open(directory: directory) }
        let loaded = try #require(try await reopened.load("bob"))
        #expect(loaded == bob)
        #expect(loaded.entries.map(\.title) == ["Buy oat milk"])
        #expect(try await reopened.load("alice") == alice)
        #expect(try await reopened.digests() == ["alice": alice.digest, "bob": bob.digest])
    }

    /// Catch-up asks for the buckets every round: they are made from the stored digests once,
    /// then each write keeps them, and a write that fails leaves them to be made again.
    @Test func theDigestBucketsAreKeptByEachWriteAndMadeAgainAfterAFailedOne() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try await TodoStore.open(directory: directory)
        var bob = TodoList(), alice = TodoList()
        let dentist = bob.add(date: day, title: "Dentist", by: "todo1", atMillis: 1)
        try await store.apply([("bob", dentist.1)])
        #expect(try await store.digestBuckets() == DigestBuckets(digests: try await store.digests()))
        #expect(store.digestBucketsMade == 1)

        let gym = alice.add(date: day, title: "Gym", by: "todo2", atMillis: 2).1
        let update = bob.update(id: dentist.0.id, date: nil, title: "Dentist at 9", by: "todo1", atMillis: 3)
        let moved = try #require(update).1
        try await store.apply([("alice", gym), ("bob", moved), ("bob", dentist.1)])  // a new list, a change, a repeat
        try await store.apply([("empty", TodoList().asChange)])
        #expect(try await store.digestBuckets() == DigestBuckets(digests: try await store.digests()))
        #expect(store.digestBucketsMade == 1)

        // A write that fails after counting its first list: its transaction is rolled back.
        let other = try DatabaseQueue(path: store.path)
        try await other.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.title = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        let counted = alice.add(date: day, title: "Swim", by: "todo2", atMillis: 4).1
        let refused = bob.add(date: day, title: "refused", by: "todo1", atMillis: 5).1
        await #expect(throws: (any Error).self) { try await store.apply([("alice", counted), ("bob", refused)]) }
        #expect(try await store.digestBuckets() == DigestBuckets(digests: try await store.digests()))
        #expect(store.digestBucketsMade == 2)
    }

    /// When buckets differ, catch-up reads the digests of their lists only, through the bucket
    /// column: set for each list written, for every list of a file from before the column,
    /// and for a list an earlier version of the node added to the file since.
    @Test func digestsAreReadByBucketEvenForAListAnEarlierVersionAdded() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = (0..<50).map { "list\($0)" }
        let path: String
        do {
            let store = try await TodoStore.open(directory: directory)
            path = store.path
            for (index, name) in names.enumerated() {
                var list = TodoList()
                try await store.apply([(name, list.add(date: day, title: "Entry \(index)", by: "todo1", atMillis: Int64(index)).1)])
            }
            let all = try await store.digests()
            for bucket in Set(names.map(DigestBuckets.bucket(of:))) {
                #expect(try await store.digests(inBuckets: [bucket]) == all.filter { DigestBuckets.bucket(of: $0.key) == bucket })
            }
            #expect(try await store.digests(inBuckets: []).isEmpty)
            await store.close()
        }
        let raw = try rawDatabase(path)
        try await raw.write { try $0.execute(sql: "INSERT INTO lists (name, next_id, digest) VALUES ('added-by-an-earlier-version', 1, 7)") }
        try raw.close()
        let reopened = try await reopening { try await TodoStore.open(directory: directory) }
        let bucket = DigestBuckets.bucket(of: "added-by-an-earlier-version")
        #expect(try await reopened.digests(inBuckets: [bucket])["added-by-an-earlier-version"] == 7)
        await reopened.close()
    }

    /// A stored list read a part at a time (a peer's answer to a catch-up of a big list) comes
    /// in the parts the whole list in memory gives, in id order across both sides of a split,
    /// with a tombstone too: each read takes only the rows of its part.
    @Test func aStoredListIsReadInTheSamePartsAsTheListInMemory() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var left = TodoList(), right = TodoList()
        for index in 0..<60 {
            let title = String(repeating: "t", count: index * 10)
            _ = left.add(date: day, title: title, by: "todo1@a", atMillis: Int64(index))
            _ = right.add(date: day, title: title, by: "todo2@b", atMillis: Int64(index))
        }
        _ = left.delete(id: EntryID(counter: 30, origin: "todo1@a"), by: "todo1@a", atMillis: 100)
        var list = left
        _ = list.merge(right)
        let store = try await TodoStore.open(directory: directory)
        try await store.apply([("big", ListChange(nextCounter: list.nextCounter, records: list.records))])

        var after: EntryID?, parts = 0
        while true {
            let stored = try #require(try await store.part(of: "big", after: after, maxBytes: 2_000))
            let expected = list.part(after: after, maxBytes: 2_000)
            #expect(stored.list == expected.list && stored.complete == expected.complete && stored.bytes == expected.bytes)
            parts += 1
            if stored.complete { break }
            after = stored.list.records.last?.id
        }
        #expect(parts > 10)
        let whole = try #require(try await store.part(of: "big", after: nil, maxBytes: 1 << 20))
        #expect(whole.list == list && whole.complete)
        let rest = try #require(try await store.part(of: "big", after: list.records.last?.id, maxBytes: 2_000))
        #expect(rest.list.records.isEmpty && rest.complete && rest.list.nextCounter == list.nextCounter)
        #expect(try await store.part(of: "none", after: nil, maxBytes: 2_000) == nil)
    }

    /// A peer's `todo.fetch` is answered from one read: the lists held, in order, while they
    /// fit; one that does not fit the rest begins the next answer, and one that does not fit
    /// an answer of its own comes as a part, the last of its answer, and goes on after `after`.
    /// The answer counts the names it covers (those it holds whole, and those not held).
    @Test func anAnswerOfSeveralListsIsReadInOneGo() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var lists: [String: TodoList] = [:]
        for (name, count) in [("a", 2), ("b", 3), ("big", 60), ("d", 1)] {
            var list = TodoList()
            for index in 0..<count { _ = list.add(date: day, title: String(repeating: "t", count: 40), by: "todo1@a", atMillis: Int64(index)) }
            lists[name] = list
        }
        let store = try await TodoStore.open(directory: directory)
        try await store.apply(lists.map { ($0.key, $0.value.asChange) })

        let first = try await store.copies(of: ["a", "none", "b", "big", "d"], after: nil, maxBytes: 1_000)
        #expect(first.lists.map(\.name) == ["a", "b"] && !first.partial && first.covered == 3)
        #expect(first.lists.map(\.list) == [lists["a"], lists["b"]])
        let whole = try await store.copies(of: ["a", "none", "b", "big", "d"], after: nil, maxBytes: 1 << 20)
        #expect(whole.lists.map(\.name) == ["a", "b", "big", "d"] && !whole.partial && whole.covered == 5)
        #expect(whole.lists.map(\.list) == ["a", "b", "big", "d"].map { lists[$0] })

        var big = try await store.copies(of: ["big", "d"], after: nil, maxBytes: 1_000)
        #expect(big.lists.map(\.name) == ["big"] && big.partial && big.covered == 0)
        var gathered = try #require(big.lists.first?.list)
        while big.partial, let last = big.lists.last?.list.records.last?.id {
            big = try await store.copies(of: ["big", "d"], after: last, maxBytes: 1_000)
            #expect(big.lists.first?.name == "big")
            if let part = big.lists.first?.list { _ = gathered.merge(part) }
        }
        #expect(gathered == lists["big"] && big.lists.map(\.name) == ["big", "d"] && big.covered == 2)
        let none = try await store.copies(of: ["none", "other"], after: nil, maxBytes: 1_000)
        #expect(none.lists.isEmpty && none.covered == 2)
    }

    /// A deleted entry's title and date are gone from a closed store's files: not in its
    /// record (a tombstone), not in the file's free space where the row was before, and not
    /// in the WAL, which held the page as the add wrote it.
    @Test func aDeletedEntrysTitleAndDateAreNotInAClosedStoresFiles() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (title, date) = ("Call Alice about the surprise party", try #require(TodoDate("2031-07-09")))
        var list = TodoList()
        let store = try await TodoStore.open(directory: directory)
        let (entry, added) = list.add(date: date, title: title, by: "todo1", atMillis: 1)
        let kept = list.add(date: day, title: "Buy milk", by: "todo1", atMillis: 2).1
        #expect(try await store.apply([("bob", added), ("bob", kept)]) == [true, true])
        let delete = list.delete(id: entry.id, by: "todo1", atMillis: 3)
        #expect(try await store.apply([("bob", try #require(delete))]) == [true])
        await store.close()

        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("todo.sqlite") }
        #expect(files.contains("todo.sqlite"))
        var everything = Data()
        for file in files { everything += try #require(FileManager.default.contents(atPath: directory + "/" + file)) }
        #expect(everything.range(of: Data("Buy milk".utf8)) != nil)
        #expect(everything.range(of: Data(title.utf8)) == nil)
        #expect(everything.range(of: Data(date.description.utf8)) == nil)
        let raw = try rawDatabase(store.path)
        #expect(try await raw.read { try String.fetchAll($0, sql: "SELECT title FROM records ORDER BY counter") } == ["", "Buy milk"])
        try raw.close()
    }

    /// The store's file opened by itself, as another program would.
    private func rawDatabase(_ path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        return try DatabaseQueue(path: path, configuration: configuration)
    }

    /// A database from before tombstones forgot their entries: the fields they kept are
    /// forgotten when it is opened, and the list's digest is made the sum of what is left.
    @Test func tombstonesKeptWholeByAnEarlierVersionAreEmptiedOnOpening() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var list = TodoList()
        let (entry, added) = list.add(date: day, title: "Dentist", by: "todo1", atMillis: 1)
        let kept = list.add(date: day, title: "Buy milk", by: "todo1", atMillis: 2).1
        let deleted = list.delete(id: entry.id, by: "todo1", atMillis: 3)
        let delete = try #require(deleted)
        let path: String
        do {
            let store = try await TodoStore.open(directory: directory)
            path = store.path
            #expect(try await store.apply([("bob", added), ("bob", kept), ("bob", delete)]) == [true, true, true])
            await store.close()
        }
        // The tombstone as an earlier version stored it, with that version's digest.
        let raw = try rawDatabase(path)
        try await raw.write { db in
            try db.execute(sql: """
                UPDATE records SET date = '2018-12-19', date_clock = 1, date_node = 'todo1', title = 'Dentist',
                title_clock = 1, title_node = 'todo1' WHERE deleted_clock IS NOT NULL
                """)
            try db.execute(sql: "UPDATE lists SET digest = 12345")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'tombstones without their entries'")
        }
        try raw.close()
        let reopened = try await reopening { try await TodoStore.open(directory: directory) }
        #expect(try await reopened.load("bob") == list)
        #expect(try await reopened.digests() == ["bob": list.digest])
        await reopened.close()
        let check = try rawDatabase(path)
        #expect(try await check.read { try String.fetchAll($0, sql: "SELECT title FROM records ORDER BY counter") } == ["", "Buy milk"])
        try check.close()
    }

    @Test func aCommitIsSyncedToDisk() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // FULL: in WAL mode, NORMAL syncs only at checkpoints, and a power loss could take
        // writes that were acknowledged.
        #expect(try await TodoStore.open(directory: directory).writerSetting("synchronous") == 2)
        let reopened = try await reopening { try await TodoStore.open(directory: directory) }
        #expect(try await reopened.writerSetting("synchronous") == 2)
    }

    /// What a row held before it was rewritten is zeroed, whatever SQLite's build defaults to.
    @Test func theWriterZeroesWhatARowNoLongerHolds() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await TodoStore.open(directory: directory).writerSetting("secure_delete") == 1)
    }

    /// A grown database's pages stay in the writer's memory instead of being read per write.
    @Test func theWriterCachesMoreThanSQLitesDefault() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await TodoStore.open(directory: directory).writerSetting("cache_size") == -TodoStore.writerCacheKiB)
    }

    /// A few changes, far below the 1,000 pages at which the writer's commit would copy the
    /// WAL itself, reach the database file: the checkpointer's connection copied them.
    @Test func theWALIsCheckpointedInTheBackground() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try await TodoStore.open(directory: directory)
        func fileSize() throws -> Int {
            try FileManager.default.attributesOfItem(atPath: store.path)[.size] as? Int ?? 0
        }
        let before = try fileSize()
        var list = TodoList()
        let deadline = ContinuousClock.now + .seconds(20)
        var written = 0
        while try fileSize() <= before {
            try #require(ContinuousClock.now < deadline, "the database file stayed at \(before) bytes after \(written) changes")
            try await store.apply([("l", list.add(date: day, title: "entry \(written)", by: "todo1", atMillis: 1).1)])
            written += 1
            try await Task.sleep(for: .milliseconds(10))  // writes at a pace, as clients make them
        }
        // Each change adds 2 or 3 pages to the WAL: 300 of them stay below SQLite's 1,000.
        #expect(written < 300)
        #expect(try await store.load("l") == list)
    }

    @Test func changesInAnyOrderAndWholeCopiesMergeToTheSameCopy() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try await TodoStore.open(directory: directory)
        // Two servers of one list during a split, each with its own writes.
        var left = TodoList(), right = TodoList()
        var leftChanges: [ListChange] = []
        for title in ["a", "b", "c"] { leftChanges.append(left.add(date: day, title: title, by: "todo1", atMillis: 1).1) }
        _ = right.add(date: day, title: "x", by: "todo2", atMillis: 2)
        try await store.apply([("l", leftChanges[2]), ("l", leftChanges[0])])
        try await store.apply([("l", right.asChange), ("l", leftChanges[1]), ("l", leftChanges[2])])
        var both = left
        both.merge(right)
        let stored = try #require(try await store.load("l"))
        #expect(stored == both)
        #expect(stored.entries.map(\.id.description) == ["1.todo1", "1.todo2", "2.todo1", "3.todo1"])
        #expect(try await store.digests() == ["l": both.digest])
    }

    /// A new record is inserted without a look for it first; one that turns out stored
    /// after all (here: the same new id twice in one change) is merged, not lost or doubled.
    @Test func aNewRecordTwiceInOneChangeIsMergedOnce() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try await TodoStore.open(directory: directory)
        var list = TodoList()
        let added = list.add(date: day, title: "Dentist", by: "todo1", atMillis: 1)
        let update = list.update(id: added.0.id, date: nil, title: "Dentist at 9", by: "todo1", atMillis: 2)
        let renamed = try #require(update)
        let both = ListChange(nextCounter: renamed.1.nextCounter, records: added.1.records + renamed.1.records)
        #expect(try await store.apply([("l", both)]) == [true])
        let stored = try #require(try await store.load("l"))
        #expect(stored == list)
        #expect(stored.entries.map(\.title) == ["Dentist at 9"])
        #expect(try await store.digests() == ["l": list.digest])
    }

    @Test func entriesOfTheFirstSchemaBecomeRecordsWithBareIds() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // The database as the previous release left it.
        let old = try DatabaseQueue(path: directory + "/todo.sqlite")
        try await old.write { db in
            try db.execute(sql: """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations VALUES ('lists and entries'), ('list versions');
                CREATE TABLE lists (name TEXT PRIMARY KEY NOT NULL, next_id INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
                CREATE TABLE entries (list TEXT NOT NULL, id INTEGER NOT NULL, date TEXT NOT NULL, title TEXT NOT NULL,
                                      PRIMARY KEY (list, id)) WITHOUT ROWID;
                INSERT INTO lists VALUES ('bob', 4, 5);
                INSERT INTO entries VALUES ('bob', 1, '2018-12-19', 'Dentist'), ('bob', 3, '2018-12-20', 'Movies');
                """)
        }
        try old.close()
        let store = try await TodoStore.open(directory: directory)
        var list = try #require(try await store.load("bob"))
        #expect(list.entries.map { "\($0.id) \($0.date) \($0.title)" } == ["1 2018-12-19 Dentist", "3 2018-12-20 Movies"])
        #expect(list.nextCounter == 4)
        #expect(try await store.digests() == ["bob": list.digest])
        #expect(try await store.digests(inBuckets: [DigestBuckets.bucket(of: "bob")]) == ["bob": list.digest])
        // A later write wins over the old entry, and new ids name their node.
        let update = list.update(id: EntryID(counter: 1, origin: ""), date: nil, title: "Doctor", by: "todo1", atMillis: 1)
        let (entry, change) = try #require(update)
        let (added, addition) = list.add(date: day, title: "Gym", by: "todo1", atMillis: 1)
        try await store.apply([("bob", change), ("bob", addition)])
        #expect(try await store.load("bob") == list)
        #expect(entry.title == "Doctor")
        #expect(added.id.description == "4.todo1")
    }

    @Test func refusesADirectoryItCannotMake() async throws {
        let file = NSTemporaryDirectory() + "todo-store-file-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: file) }
        let below = await #expect(throws: TodoStore.DirectoryProblem.self) { try await TodoStore.open(directory: file + "/below") }
        #expect(below?.description == "cannot make \(file)/below: Not a directory")
        let itself = await #expect(throws: TodoStore.DirectoryProblem.self) { try await TodoStore.open(directory: file) }
        #expect(itself?.description == "\(file) is not a directory")
    }

    /// One node per directory: a second store there would share the copy that was to be the
    /// first node's own.
    @Test func aDirectoryHoldsOneStoreAtATime() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await TodoStore.open(directory: directory)
        let refused = await #expect(throws: TodoStore.DirectoryProblem.self) { try await TodoStore.open(directory: directory) }
        #expect(refused?.description == "\(directory) is in use by another node (process \(getpid())): give each node a directory of its own")
        await first.close()
        let second = try await reopening { try await TodoStore.open(directory: directory) }
        #expect(try await second.load("bob") == nil)
        // A store that is dropped lets its directory go too.
        await #expect(throws: TodoStore.DirectoryProblem.self) { try await TodoStore.open(directory: directory) }
        func openAndDrop() async throws { _ = try await TodoStore.open(directory: directory + "/other") }
        try await openAndDrop()
        _ = try await reopening { try await TodoStore.open(directory: directory + "/other") }
    }

    @Test func makesEveryMissingDirectoryOnTheWay() async throws {
        let base = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        _ = try await TodoStore.open(directory: base + "/a/b/")
        #expect(FileManager.default.fileExists(atPath: base + "/a/b/todo.sqlite"))
    }
}
