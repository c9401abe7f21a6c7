import GRDB
import GRDBSQLite
import Testing
@testable import Todo

/// The store's writes bind their values through SQLite's own calls: what they bind must read
/// back as GRDB would have bound it, and a run that SQLite or the caller gets wrong must throw,
/// never run with a value left from the run before.
struct DirectBindingsTests {
    private func database() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (key TEXT PRIMARY KEY NOT NULL, number INTEGER, note TEXT) WITHOUT ROWID")
        }
        return queue
    }

    @Test func valuesReadBackAsBound() throws {
        let queue = try database()
        let rows: [(String, Int64?, String?)] = [("", 0, ""), ("naïve ✓", .max, nil), ("x", nil, "a\u{301}"), ("y", .min, "tab\there")]
        try queue.write { db in
            let insert = try db.cachedStatement(sql: "INSERT INTO t VALUES (?, ?, ?)")
            for (key, number, note) in rows {
                try insert.run(db) { row in
                    row.text(key)
                    row.optionalInt64(number)
                    row.optionalText(note)
                }
            }
        }
        let stored = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT key, number, note FROM t ORDER BY key").map { row -> (String, Int64?, String?) in
                (row[0], row[1], row[2])
            }
        }
        let expected = rows.sorted { $0.0 < $1.0 }
        #expect(stored.count == expected.count)
        for (got, wanted) in zip(stored, expected) {
            #expect(got.0 == wanted.0 && got.1 == wanted.1 && got.2 == wanted.2)
        }
        // An empty string is text, not NULL.
        #expect(try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t WHERE note = ''") } == 1)
    }

    @Test func firstRowReadsTheRowOrNothing() throws {
        let queue = try database()
        try queue.write { db in
            try db.execute(sql: "INSERT INTO t VALUES ('a', 7, NULL)")
            let select = try db.cachedStatement(sql: "SELECT number FROM t WHERE key = ?")
            #expect(try select.firstRow(db, binding: { $0.text("a") }, read: { sqlite3_column_int64($0, 0) }) == 7)
            #expect(try select.firstRow(db, binding: { $0.text("b") }, read: { sqlite3_column_int64($0, 0) }) == nil)
            // Reset after each run: the same statement runs again.
            #expect(try select.firstRow(db, binding: { $0.text("a") }, read: { sqlite3_column_int64($0, 0) }) == 7)
        }
    }

    /// A value left unbound would keep the last run's: the run throws instead, and so does
    /// one with a value too many.
    @Test func aRunWithTooFewOrTooManyValuesThrowsAndWritesNothing() throws {
        let queue = try database()
        try queue.write { db in
            let insert = try db.cachedStatement(sql: "INSERT INTO t VALUES (?, ?, ?)")
            try insert.run(db) { row in
                row.text("first")
                row.int(1)
                row.optionalText("kept")
            }
            let tooFew = #expect(throws: DatabaseError.self) {
                try insert.run(db) { row in
                    row.text("second")
                    row.int(2)
                }
            }
            #expect(tooFew?.resultCode == .SQLITE_RANGE)
            let tooMany = #expect(throws: DatabaseError.self) {
                try insert.run(db) { row in
                    row.text("third")
                    row.int(3)
                    row.optionalText(nil)
                    row.int(4)
                }
            }
            #expect(tooMany?.resultCode == .SQLITE_RANGE)
        }
        #expect(try queue.read { try String.fetchAll($0, sql: "SELECT key FROM t") } == ["first"])
    }

    /// A step SQLite refuses throws its error, and leaves the statement ready for the next run.
    @Test func aRefusedStepThrowsSQLitesErrorAndTheStatementRunsAgain() throws {
        let queue = try database()
        try queue.write { db in
            let insert = try db.cachedStatement(sql: "INSERT INTO t VALUES (?, ?, ?)")
            func add(_ key: String) throws {
                try insert.run(db) { row in
                    row.text(key)
                    row.int(0)
                    row.optionalText(nil)
                }
            }
            try add("a")
            let duplicate = #expect(throws: DatabaseError.self) { try add("a") }
            #expect(duplicate?.resultCode == .SQLITE_CONSTRAINT)
            #expect(duplicate?.sql == "INSERT INTO t VALUES (?, ?, ?)")
            try add("b")
        }
        #expect(try queue.read { try String.fetchAll($0, sql: "SELECT key FROM t ORDER BY key") } == ["a", "b"])
    }
}
