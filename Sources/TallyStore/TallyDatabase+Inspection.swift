import GRDB

extension TallyDatabase {
    /// Row counts of the data tables (operators' `tally stats`, and tests).
    public func rowCounts() throws -> [String: Int] {
        try writer.read { db in
            var out: [String: Int] = [:]
            for table in ["trace", "observation", "score", "session", "trace_tag"] {
                out[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
            }
            return out
        }
    }

    /// The integer a read-only inspection query answers (tests and operators' checks; arguments are bound).
    public func count(sql: String, arguments: [Int64] = []) throws -> Int {
        try writer.read { db in try Int.fetchOne(db, sql: sql, arguments: StatementArguments(arguments)) ?? 0 }
    }

    /// Every stored text of the key table, to prove no secret is stored in clear.
    func rawSecretColumns() throws -> [String] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT secret_salt, secret_hash, display_secret FROM api_key").flatMap { row in
                [row[0], row[1], row[2]] as [String]
            }
        }
    }
}
