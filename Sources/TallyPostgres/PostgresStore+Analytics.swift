import Foundation
import PostgresNIO
import TallyCore
import TallySQL
import TallyStoreAPI

/// Analytics on PostgreSQL: the queries of `AnalyticsSQL` (shared with SQLite) in PostgreSQL's dialect, over the
/// rollups of schema/postgres 0004.
extension PostgresStore: SQLReader {

    /// Groups of `q` (`SQLReader.sharedBreakdown`: rollups plus raw edges when they cover the query, else a scan).
    public func breakdown(projectID: String, query q: BreakdownQuery) async throws -> [BreakdownRow] {
        try await sharedBreakdown(projectID: projectID, query: q, rollups: true)
    }

    /// `rollups: false` forces the scan (the reference the rollup path is tested against).
    public func breakdown(projectID: String, query q: BreakdownQuery, rollups: Bool) async throws -> [BreakdownRow] {
        try await sharedBreakdown(projectID: projectID, query: q, rollups: rollups)
    }

    public func promptVersions(projectID: String, promptName: String, filter: AnalyticsFilter) async throws
        -> [PromptVersionStats]
    {
        try await sharedPromptVersions(projectID: projectID, promptName: promptName, filter: filter)
    }

    public func unitEconomics(projectID: String, query q: UnitEconomicsQuery) async throws -> [UnitEconomicsRow] {
        try await sharedUnitEconomics(projectID: projectID, query: q)
    }

    public func usageExport(projectID: String, query q: UsageExportQuery) async throws -> [UsageRow] {
        try await sharedUsageExport(projectID: projectID, query: q)
    }

    public func reconciliationUsage(projectID: String, from: Timestamp, to: Timestamp) async throws
        -> [Reconciliation.Usage]
    {
        try await sharedReconciliationUsage(projectID: projectID, from: from, to: to)
    }

    public func llmMetrics(projectID: String, limits: LLMMetrics.Limits, now: Timestamp) async throws -> LLMMetrics {
        try await sharedLLMMetrics(projectID: projectID, limits: limits, now: now)
    }

    public func metrics(projectID: String, query q: MetricsQuery) async throws -> [[String: JSONValue]] {
        try await sharedMetrics(projectID: projectID, query: q)
    }

    public var dialect: SQLDialect { .postgres }

    /// Rows of a shared query (TallySQL): integers as integers (PostgreSQL's numeric sums included), floating
    /// point as doubles, text as text, booleans as 0/1.
    public func rows(_ query: SQLQuery) async throws -> [SQLRow] {
        try await fetch(query).map(Self.sqlRow)
    }

    /// Rows of a query built here, mapped as `rows(_:)` maps a shared one.
    func fetchRows(_ query: PostgresQuery) async throws -> [SQLRow] {
        try await fetch(query).map(Self.sqlRow)
    }

    static func sqlRow(_ row: PostgresRandomAccessRow) throws -> SQLRow {
        var cells: [String: SQLCell] = [:]
        for cell in row where cells[cell.columnName] == nil {
            cells[cell.columnName] = try sqlCell(cell)
        }
        return SQLRow(cells)
    }

    static func sqlCell(_ cell: PostgresCell) throws -> SQLCell {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .int(try cell.decode(Int64.self))
        case .float4, .float8: return .double(try cell.decode(Double.self))
        case .bool: return .int(try cell.decode(Bool.self) ? 1 : 0)
        case .numeric:
            let d = try cell.decode(Decimal.self)
            if let n = Int64("\(d)") { return .int(n) }
            return .double(NSDecimalNumber(decimal: d).doubleValue)
        default: return .text(try cell.decode(String.self))
        }
    }

    /// Every row of a shared query, its `?` bound in order.
    func fetch(_ query: SQLQuery) async throws -> [PostgresRandomAccessRow] {
        var binds = PGBinds()
        let text = binds.bind(query.sql, query.values)
        return try await fetch(binds.query(text))
    }
}

/// What-if pricing and the waste finders: the shared reads of TallySQL (`sharedWhatIf`, `sharedInsights`).
extension PostgresStore: SavingsStore {
    public func whatIf(projectID: String, query q: WhatIfQuery, now: Timestamp) async throws -> WhatIfAnswer {
        try await sharedWhatIf(
            projectID: projectID, query: q, table: try await priceTable(projectID: projectID), now: now)
    }

    public func insights(projectID: String, query q: InsightQuery) async throws -> [Finding] {
        try await sharedInsights(projectID: projectID, query: q, table: try await priceTable(projectID: projectID))
    }
}

/// The Users and Sessions views: the shared reads of TallySQL (`sharedUsers`, `sharedSessions`).
extension PostgresStore: ActivityStore {
    public func users(projectID: String, query q: UserListQuery) async throws -> (rows: [UserRow], total: Int) {
        try await sharedUsers(projectID: projectID, query: q)
    }

    public func sessionList(projectID: String, query q: SessionListQuery) async throws -> [SessionRow] {
        try await sharedSessions(projectID: projectID, query: q)
    }
}
