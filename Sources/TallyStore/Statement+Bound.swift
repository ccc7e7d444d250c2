import Foundation
import GRDB
import GRDBSQLite

extension Statement {
    /// Runs this statement once with the values of `rows`, one after the other, bound to its parameters in order,
    /// through SQLite's C API.
    ///
    /// For the per-row statements of ingest: GRDB's generic argument path (a `StatementArguments` built from a
    /// sequence, then validated and bound value by value through protocol witnesses) was 12% of the writer thread per
    /// observation. Text binds up to its first NUL (as GRDB binds a String; `PackedRow` keeps it so), with
    /// SQLITE_TRANSIENT copies. Contract: a statement that returns no rows and does not begin or end a transaction
    /// (GRDB's transaction bookkeeping is not told); the values must match the parameter count. Throws
    /// `DatabaseError` like `execute(arguments:)`.
    func executeBound(_ rows: PackedRow..., db: Database) throws {
        let handle = sqliteStatement
        let count = rows.reduce(0) { $0 + $1.count }
        guard Int(sqlite3_bind_parameter_count(handle)) == count else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "\(count) values for the parameters", sql: sql)
        }
        sqlite3_reset(handle)
        var index: CInt = 0
        func check(_ code: CInt) throws {
            guard code == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: sql)
            }
        }
        for row in rows {
            try row.forEach { tag, bits, content in
                index += 1
                switch tag {
                case .null: try check(sqlite3_bind_null(handle, index))
                case .int64: try check(sqlite3_bind_int64(handle, index, Int64(bitPattern: bits)))
                case .double: try check(sqlite3_bind_double(handle, index, Double(bitPattern: bits)))
                case .text:
                    try check(
                        content.isEmpty
                            ? sqlite3_bind_text(handle, index, "", 0, transient)
                            : sqlite3_bind_text(
                                handle, index, content.baseAddress!.assumingMemoryBound(to: CChar.self),
                                CInt(content.count), transient))
                case .blob:
                    try check(
                        content.isEmpty
                            ? sqlite3_bind_zeroblob(handle, index, 0)
                            : sqlite3_bind_blob(handle, index, content.baseAddress, CInt(content.count), transient))
                }
            }
        }
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: sql)
        }
    }
}

/// SQLite copies the bound bytes (`SQLITE_TRANSIENT`).
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
