import TallyCore
import TallyStoreAPI

/// Where SQLite and PostgreSQL spell the same thing differently. Everything the shared queries (`AnalyticsSQL`,
/// `ReadFilters`) need that is not common SQL goes through here.
public struct SQLDialect: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case sqlite, postgres }
    public let kind: Kind

    public static let sqlite = SQLDialect(kind: .sqlite)
    public static let postgres = SQLDialect(kind: .postgres)

    /// 1 or 0 for a boolean expression (SQLite's booleans are integers already).
    public func int(_ condition: String) -> String {
        kind == .sqlite ? "(\(condition))" : "(\(condition))::int"
    }

    /// Equality that holds for two NULLs.
    public func same(_ a: String, _ b: String) -> String {
        kind == .sqlite ? "\(a) IS \(b)" : "\(a) IS NOT DISTINCT FROM \(b)"
    }

    /// A table `alias(value)` of the strings in the JSON array bound to one `?`.
    public func strings(_ alias: String) -> String {
        kind == .sqlite ? "json_each(?) AS \(alias)" : "jsonb_array_elements_text(CAST(? AS jsonb)) AS \(alias)(value)"
    }

    /// `expr` compared byte-wise (PostgreSQL: in the "C" collation of the text columns it meets).
    public func bytewise(_ expr: String) -> String {
        kind == .sqlite ? expr : "(\(expr)) COLLATE \"C\""
    }

    /// The floating-point type for a cast.
    public var double: String { kind == .sqlite ? "REAL" : "double precision" }

    /// `table alias`, with SQLite's index hint (`INDEXED BY`) when one is named: without planner statistics SQLite
    /// would take a less selective index; PostgreSQL's planner picks from statistics.
    public func table(_ table: String, _ alias: String, index: String? = nil) -> String {
        guard kind == .sqlite, let index else { return "\(table) \(alias)" }
        return "\(table) \(alias) INDEXED BY \(index)"
    }

    /// A metadata key's value as text, read from the first of `columns` (JSON objects) that has it: the expression
    /// (one `?` per column) and its bound values. Strings read as themselves, numbers as their digits, JSON null as
    /// NULL.
    public func metadataText(_ columns: [String], key: MetadataKey) -> (sql: String, values: [SQLValue]) {
        jsonText(columns.map { ($0, key.name) })
    }

    /// The first of several JSON object reads that is present, as text: `reads` pairs a column with a key.
    public func jsonText(_ reads: [(column: String, key: String)]) -> (sql: String, values: [SQLValue]) {
        switch kind {
        case .sqlite:
            let parts = reads.map { "json_extract(\($0.column), ?)" }
            let sql = parts.count == 1 ? parts[0] : "coalesce(\(parts.joined(separator: ", ")))"
            return ("CAST(\(sql) AS TEXT)", reads.map { .text("$.\"\($0.key)\"") })
        case .postgres:
            let parts = reads.map { "(\($0.column) ->> ?)" }
            let sql = parts.count == 1 ? parts[0] : "coalesce(\(parts.joined(separator: ", ")))"
            return (sql, reads.map { .text($0.key) })
        }
    }

    /// The sum of the integer values of a JSON object column under any of `count` keys (the keys are `?`).
    public func sumOfKeys(_ column: String, count: Int) -> String {
        let marks = Array(repeating: "?", count: count).joined(separator: ", ")
        return switch kind {
        case .sqlite: "(SELECT coalesce(sum(value), 0) FROM json_each(\(column)) WHERE key IN (\(marks)))"
        case .postgres:
            "(SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(\(column)) WHERE key IN (\(marks)))"
        }
    }

    /// The members of a JSON object column as a FROM item `alias` with text `key` and integer `value` columns
    /// (`\(alias).value` is read through `jsonInt`).
    public func jsonEntries(_ column: String, _ alias: String) -> String {
        kind == .sqlite ? "json_each(\(column)) AS \(alias)" : "jsonb_each_text(\(column)) AS \(alias)(key, value)"
    }

    /// A `jsonEntries` member's value as an integer.
    public func jsonInt(_ alias: String) -> String {
        kind == .sqlite ? "\(alias).value" : "CAST(\(alias).value AS BIGINT)"
    }

    /// Whether a JSON object column has `key` (a literal the caller controls, never request data).
    public func jsonHas(_ column: String, key: String) -> String {
        kind == .sqlite ? "(json_type(\(column), '$.\(key)') IS NOT NULL)" : "jsonb_exists(\(column), '\(key)')"
    }

    /// The sum of an integer expression as an integer: PostgreSQL sums bigint as numeric (slow to hand over), so
    /// it is cast back (a sum past bigint fails, as SQLite's integer overflow does).
    public func sum(_ expr: String) -> String {
        kind == .sqlite ? "sum(\(expr))" : "CAST(sum(\(expr)) AS BIGINT)"
    }

    /// The larger of two numbers.
    public func greatest(_ a: String, _ b: String) -> String {
        kind == .sqlite ? "max(\(a), \(b))" : "greatest(\(a), \(b))"
    }

    /// The `TokenHistogram` bucket of an integer expression: ⌊log2⌋ of it clamped to [1, 2^40] (SQLite: the
    /// logarithm truncated, then corrected by one where rounding put it past a power of two, as schema 0026 does;
    /// PostgreSQL: schema 0013's `tally_token_bucket`).
    public func tokenBucket(_ expr: String) -> String {
        guard kind == .sqlite else { return "tally_token_bucket(\(expr))" }
        let v = "min(max(\(expr), 1), 1099511627776)"
        let b = "CAST(log2(\(v)) AS INTEGER)"
        return "(\(b) - ((1 << \(b)) > \(v)) + ((2 << \(b)) <= \(v)))"
    }

    /// A µs-since-epoch column as UTC text: `YYYY-MM-DDTHH:00:00Z` (hour), `YYYY-MM-DD` (day) or `YYYY-MM` (month).
    public func utcText(_ column: String, _ unit: TimeBucket) -> String {
        switch kind {
        case .sqlite:
            let format =
                switch unit {
                case .hour: "%Y-%m-%dT%H:00:00Z"
                case .day, .week: "%Y-%m-%d"
                case .month: "%Y-%m"
                }
            return "strftime('\(format)', \(column) / 1000000, 'unixepoch')"
        case .postgres:
            let format =
                switch unit {
                case .hour: "YYYY-MM-DD\"T\"HH24:00:00\"Z\""
                case .day, .week: "YYYY-MM-DD"
                case .month: "YYYY-MM"
                }
            return "to_char(to_timestamp(floor(\(column) / 1000000.0)) AT TIME ZONE 'UTC', '\(format)')"
        }
    }

    /// The Monday on or before a µs-since-epoch column's UTC date, as `YYYY-MM-DD`.
    public func weekText(_ column: String) -> String {
        switch kind {
        case .sqlite: "date(\(column) / 1000000, 'unixepoch', '-6 days', 'weekday 1')"
        case .postgres:
            "to_char(date_trunc('week', to_timestamp(floor(\(column) / 1000000.0)) AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
        }
    }

    /// The prompt latency histogram's bucket of a call: ⌊ln(max(ms, 0.001)) / ln 1.02⌋, in double precision.
    public func latencyBucket(end: String, start: String) -> String {
        switch kind {
        case .sqlite: "CAST(floor(ln(max((\(end) - \(start)) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER)"
        case .postgres:
            "floor(ln(greatest((\(end) - \(start)) / 1000.0, 0.001)::float8) / ln(1.02::float8))::integer"
        }
    }
}

/// SQL text whose `?` are bound, in order, to `values`.
public struct SQLQuery: Sendable {
    public var sql: String
    public var values: [SQLValue]

    public init(_ sql: String, _ values: [SQLValue] = []) {
        self.sql = sql
        self.values = values
    }
}
