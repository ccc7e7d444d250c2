import Foundation
import PostgresNIO
import TallyCore
import TallySQL
import TallyStoreAPI

/// Analytics on PostgreSQL: the queries of `AnalyticsSQL` (shared with SQLite) in PostgreSQL's dialect, over the
/// rollups of schema/postgres 0004.
extension PostgresStore {
    static let analytics = AnalyticsSQL(.postgres)

    /// Groups of `q`, aggregated in SQL: from the rollups plus the raw edges when they cover the query, else by a
    /// scan of the observations (both give the same sums).
    public func breakdown(projectID: String, query q: BreakdownQuery) async throws -> [BreakdownRow] {
        try await breakdown(projectID: projectID, query: q, rollups: true)
    }

    /// `rollups: false` forces the scan (the reference the rollup path is tested against).
    public func breakdown(projectID: String, query q: BreakdownQuery, rollups: Bool) async throws -> [BreakdownRow] {
        let sql = Self.analytics
        let query =
            (rollups ? sql.rollupBreakdown(q, projectID: projectID) : nil) ?? sql.rawBreakdown(q, projectID: projectID)
        return try await fetch(query).map { row in
            var out = BreakdownRow(
                bucket: try row.value("b"), keys: try (0..<q.dimensions.count).map { try row.value("d\($0)") },
                count: try row.int64("c") ?? 0, traces: try row.int64("traces") ?? 0,
                inputTokens: try row.int64("it") ?? 0, outputTokens: try row.int64("ot") ?? 0,
                totalTokens: try row.int64("tt") ?? 0, inputCostNanos: try row.int64("ic") ?? 0,
                outputCostNanos: try row.int64("oc") ?? 0, totalCostNanos: try row.int64("tc") ?? 0,
                latencyP50: try row.double("p50"), latencyP95: try row.double("p95"),
                latencyP99: try row.double("p99"), errors: try row.int64("errors") ?? 0)
            out.cacheSavingsNanos = try row.int64("sv") ?? 0
            return out
        }
    }

    /// Every row of a shared query, its `?` bound in order.
    func fetch(_ query: SQLQuery) async throws -> [PostgresRandomAccessRow] {
        var binds = PGBinds()
        var text = ""
        var values = query.values.makeIterator()
        for c in query.sql {
            if c == "?", let value = values.next() { text += binds.add(PGValue(value)) } else { text.append(c) }
        }
        return try await fetch(binds.query(text))
    }
}

extension PostgresRandomAccessRow {
    /// An integer column, whatever integer type (or numeric: PostgreSQL's sum of bigint) it comes as; nil for NULL
    /// or a column the row does not have.
    func int64(_ name: String) throws -> Int64? {
        guard contains(name) else { return nil }
        let cell = self[name]
        guard cell.bytes != nil else { return nil }
        switch cell.dataType {
        case .numeric:
            let d = try cell.decode(Decimal.self)
            guard let n = Int64("\(d)") else { throw NotAnInteger(column: name, value: "\(d)") }
            return n
        default: return try cell.decode(Int64.self)
        }
    }

    /// A floating-point column (double, real or numeric); nil for NULL or a column the row does not have.
    func double(_ name: String) throws -> Double? {
        guard contains(name) else { return nil }
        let cell = self[name]
        guard cell.bytes != nil else { return nil }
        switch cell.dataType {
        case .numeric: return NSDecimalNumber(decimal: try cell.decode(Decimal.self)).doubleValue
        case .int2, .int4, .int8: return Double(try cell.decode(Int64.self))
        default: return try cell.decode(Double.self)
        }
    }
}

/// A column read as an integer held a fraction or a number past Int64.
struct NotAnInteger: Error, CustomStringConvertible {
    var column: String
    var value: String
    var description: String { "\(column): \(value) is not an Int64" }
}
