import GRDB
import GRDBSQLite

extension Statement {
    /// Runs this statement once with `values` bound to its parameters in order, through SQLite's C API.
    ///
    /// For the per-row statements of ingest: GRDB's generic argument path (a `StatementArguments` built from a
    /// sequence, then validated and bound value by value through protocol witnesses) was 12% of the writer thread per
    /// observation. Binds exactly as GRDB does (text NUL-terminated, SQLITE_TRANSIENT copies). Contract: a statement
    /// that returns no rows and does not begin or end a transaction (GRDB's transaction bookkeeping is not told);
    /// `values.count` must equal the parameter count. Throws `DatabaseError` like `execute(arguments:)`.
    func executeBound(_ values: [DatabaseValue], _ db: Database) throws {
        let handle = sqliteStatement
        guard Int(sqlite3_bind_parameter_count(handle)) == values.count else {
            throw DatabaseError(
                resultCode: .SQLITE_MISUSE, message: "\(values.count) values for the statement's parameters", sql: sql)
        }
        sqlite3_reset(handle)
        for (offset, value) in values.enumerated() {
            let index = CInt(offset + 1)
            let code: CInt
            switch value.storage {
            case .null: code = sqlite3_bind_null(handle, index)
            case .int64(let n): code = sqlite3_bind_int64(handle, index, n)
            case .double(let d): code = sqlite3_bind_double(handle, index, d)
            case .string(let s): code = sqlite3_bind_text(handle, index, s, -1, transient)
            case .blob(let data):
                code = data.withUnsafeBytes {
                    sqlite3_bind_blob(handle, index, $0.baseAddress, CInt($0.count), transient)
                }
            }
            guard code == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: sql)
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
