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
        try migrator.migrate(pool)
    }

    /// The stored copy of `name`, or nil when this replica has never held it.
    public func load(_ name: String) async throws -> TodoList? {
        try await pool.read { db in
            guard let nextId = try Int.fetchOne(db, sql: "SELECT next_id FROM lists WHERE name = ?", arguments: [name]) else {
                return nil
            }
            let rows = try Row.fetchAll(db, sql: "SELECT id, date, title FROM entries WHERE list = ? ORDER BY id", arguments: [name])
            let entries = rows.compactMap { row -> TodoEntry? in
                guard let date = TodoDate(row["date"] as String) else { return nil }
                return TodoEntry(id: row["id"], date: date, title: row["title"])
            }
            return TodoList(nextId: nextId, entries: entries)
        }
    }

    /// Applies these changes, in order, in one transaction (one disk sync for all).
    public func apply(_ changes: [(name: String, change: ListChange)]) async throws {
        try await pool.write { db in
            let counter = try db.cachedStatement(sql: """
                INSERT INTO lists (name, next_id) VALUES (?, ?)
                ON CONFLICT(name) DO UPDATE SET next_id = max(next_id, excluded.next_id)
                """)
            let put = try db.cachedStatement(sql: "INSERT OR REPLACE INTO entries (list, id, date, title) VALUES (?, ?, ?, ?)")
            let delete = try db.cachedStatement(sql: "DELETE FROM entries WHERE list = ? AND id = ?")
            for (name, change) in changes {
                try counter.execute(arguments: [name, change.nextId])
                switch change {
                case .put(let entry, _):
                    try put.execute(arguments: [name, entry.id, entry.date.description, entry.title])
                case .delete(let id, _):
                    try delete.execute(arguments: [name, id])
                }
            }
        }
    }

    /// The names of every list this replica holds.
    public func listNames() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM lists ORDER BY name") }
    }
}
