import Foundation
import GRDB

/// This node's replica: one SQLite file in the node's data directory, in WAL mode with
/// `synchronous = FULL`, so a committed write survives a crash or power loss.
public final class TodoStore: Sendable {
    private let pool: DatabasePool
    public let path: String

    /// Opens (creating when missing) `todo.sqlite` in `directory`, creating the directory too.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent("todo.sqlite")
        var configuration = Configuration()
        configuration.label = "todo.store"
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
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
        try migrator.migrate(pool)
    }

    /// The stored copy of `name`, or nil when this replica has never held it.
    public func load(_ name: String) async throws -> TodoList? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT next_id, version FROM lists WHERE name = ?", arguments: [name]) else {
                return nil
            }
            let rows = try Row.fetchAll(db, sql: "SELECT id, date, title FROM entries WHERE list = ? ORDER BY id", arguments: [name])
            let entries = rows.compactMap { row -> TodoEntry? in
                guard let date = TodoDate(row["date"] as String) else { return nil }
                return TodoEntry(id: row["id"], date: date, title: row["title"])
            }
            return TodoList(nextId: row["next_id"], entries: entries, version: row["version"])
        }
    }

    /// Applies these changes, in order, in one transaction (one disk sync for all), each as
    /// `TodoList.apply` does: an old version is ignored, a gap leaves the copy's version behind.
    /// Answers, per change, nil when applied, or this copy's version when it was ignored.
    @discardableResult
    public func apply(_ changes: [(name: String, change: ListChange)]) async throws -> [Int?] {
        try await pool.write { db in
            var outcomes: [Int?] = []
            let current = try db.cachedStatement(sql: "SELECT version FROM lists WHERE name = ?")
            let counter = try db.cachedStatement(sql: """
                INSERT INTO lists (name, next_id, version) VALUES (?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET next_id = max(next_id, excluded.next_id), version = excluded.version
                """)
            let put = try db.cachedStatement(sql: "INSERT OR REPLACE INTO entries (list, id, date, title) VALUES (?, ?, ?, ?)")
            let delete = try db.cachedStatement(sql: "DELETE FROM entries WHERE list = ? AND id = ?")
            for (name, change) in changes {
                let version = try Int.fetchOne(current, arguments: [name]) ?? 0
                guard change.version > version else {
                    outcomes.append(version)
                    continue
                }
                outcomes.append(nil)
                try counter.execute(arguments: [name, change.nextId, change.version == version + 1 ? change.version : version])
                switch change.kind {
                case .put(let entry):
                    try put.execute(arguments: [name, entry.id, entry.date.description, entry.title])
                case .delete(let id):
                    try delete.execute(arguments: [name, id])
                }
            }
            return outcomes
        }
    }

    /// Replaces the stored copy of `name` with `list` when `list` is newer; true if it was.
    @discardableResult
    public func replace(_ name: String, with list: TodoList) async throws -> Bool {
        try await pool.write { db in
            let version = try Int.fetchOne(db, sql: "SELECT version FROM lists WHERE name = ?", arguments: [name])
            guard version.map({ list.version > $0 }) ?? true else { return false }
            try Self.write(name, list, db)
            return true
        }
    }

    private static func write(_ name: String, _ list: TodoList, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO lists (name, next_id, version) VALUES (?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET next_id = excluded.next_id, version = excluded.version
            """, arguments: [name, list.nextId, list.version])
        try db.execute(sql: "DELETE FROM entries WHERE list = ?", arguments: [name])
        let insert = try db.cachedStatement(sql: "INSERT INTO entries (list, id, date, title) VALUES (?, ?, ?, ?)")
        for entry in list.entries { try insert.execute(arguments: [name, entry.id, entry.date.description, entry.title]) }
    }

    /// Every list this replica holds, with its version: what catch-up compares.
    public func versions() async throws -> [String: Int] {
        try await pool.read { db in
            var versions: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, version FROM lists") { versions[row["name"]] = row["version"] }
            return versions
        }
    }
}
