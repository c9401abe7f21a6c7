import GRDB
import GRDBSQLite

/// A statement's parameters bound through SQLite's own calls, in order. GRDB's
/// `StatementArguments` box every value as an existential and bind them inside nested
/// closures: in a store's write that cost more CPU than SQLite's own work on the statements
/// (`make bench`'s `store_user_cpu_per_change_200_a_commit`: 10.1 µs a change with them,
/// 7.3 without).
struct DirectBindings {
    private let statement: SQLiteStatement
    /// The next parameter's index (SQLite counts from 1).
    private(set) var index: CInt = 1
    /// The first bind SQLite refused, if any.
    private(set) var failure: CInt?

    fileprivate init(_ statement: SQLiteStatement) { self.statement = statement }

    /// As GRDB binds a `String`: copied by SQLite (`SQLITE_TRANSIENT`), up to its first NUL.
    mutating func text(_ value: String) {
        record(sqlite3_bind_text(statement, index, value, -1, Self.transient))
    }

    mutating func int(_ value: Int) { int64(Int64(value)) }

    mutating func int64(_ value: Int64) {
        record(sqlite3_bind_int64(statement, index, value))
    }

    mutating func optionalText(_ value: String?) {
        guard let value else { return null() }
        text(value)
    }

    mutating func optionalInt64(_ value: Int64?) {
        guard let value else { return null() }
        int64(value)
    }

    private mutating func null() {
        record(sqlite3_bind_null(statement, index))
    }

    private mutating func record(_ code: CInt) {
        if code != SQLITE_OK, failure == nil { failure = code }
        index += 1
    }

    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
}

extension Statement {
    /// Binds every parameter with `bind` and runs the statement, which returns no rows.
    func run(_ db: Database, binding bind: (inout DirectBindings) -> Void) throws {
        _ = try firstRow(db, binding: bind) { _ in () }
    }

    /// Binds every parameter with `bind`, steps the statement once and reads its first row
    /// with `read`; nil when it has none. For cached statements that only these calls run:
    /// each run binds every parameter (one left unbound would keep the last run's value, so
    /// that throws), and the statement is reset after.
    func firstRow<T>(_ db: Database, binding bind: (inout DirectBindings) -> Void, read: (SQLiteStatement) -> T) throws -> T? {
        var bindings = DirectBindings(sqliteStatement)
        bind(&bindings)
        if let failure = bindings.failure {
            throw DatabaseError(resultCode: ResultCode(rawValue: failure), message: db.lastErrorMessage, sql: sql)
        }
        let expected = sqlite3_bind_parameter_count(sqliteStatement)
        guard bindings.index - 1 == expected else {
            throw DatabaseError(resultCode: .SQLITE_RANGE, message: "\(bindings.index - 1) values bound, \(expected) wanted", sql: sql)
        }
        defer { sqlite3_reset(sqliteStatement) }
        switch sqlite3_step(sqliteStatement) {
        case SQLITE_ROW: return read(sqliteStatement)
        case SQLITE_DONE: return nil
        case let code: throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: sql)
        }
    }
}
