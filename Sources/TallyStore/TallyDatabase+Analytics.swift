import Foundation
import GRDB
import TallyCore
import TallySQL
import TallyStoreAPI

/// Analytics on SQLite: the queries of `AnalyticsSQL` (TallySQL, shared with PostgreSQL) in SQLite's dialect, and
/// the thin adapters the other SQLite reads use.
extension TallyDatabase {
    static let analytics = AnalyticsSQL(.sqlite)

    /// SQL for one dimension; `args` receives its parameters in order. `trace`/`tag` say which joins it uses.
    static func sql(for d: TallyCore.AnalyticsDimension, args: inout [(any DatabaseValueConvertible)?]) -> (
        sql: String, trace: Bool, tag: Bool
    ) {
        let part = analytics.dimension(d)
        args += part.values.map(\.databaseValue)
        return (part.sql, part.trace, part.tag)
    }

    static func bucketKeySQL(_ bucket: TimeBucket?, column: String = "o.start_time") -> String {
        analytics.bucketKey(bucket, column: column)
    }

    static func bucketLabelSQL(_ bucket: TimeBucket?, key: String) -> String {
        analytics.bucketLabel(bucket, key: key)
    }

    static func bucketSQL(_ bucket: TimeBucket?, column: String = "o.start_time") -> String {
        analytics.bucket(bucket, column: column)
    }

    static func addTimeAndTags(
        _ f: AnalyticsFilter, to w: inout SQLFilter, projectID: String, time: String, traceID: String
    ) {
        var c = SQLConditions()
        analytics.addTimeAndTags(f, to: &c, projectID: projectID, time: time, traceID: traceID)
        w.add(c)
    }

    static func callSource(perTenant: Bool) -> String { AnalyticsSQL.callSource(perTenant: perTenant) }

    static func perTenant(_ dimensions: [AnalyticsDimension], _ f: AnalyticsFilter) -> Bool {
        AnalyticsSQL.perTenant(dimensions, f)
    }

    /// WHERE clause over `observation o` or a `callSource` (and `trace t` when `trace` is true).
    static func whereSQL(_ f: AnalyticsFilter, projectID: String) -> (filter: SQLFilter, trace: Bool) {
        let (conditions, trace) = analytics.filter(f, projectID: projectID)
        var w = SQLFilter()
        w.add(conditions)
        return (w, trace)
    }

    static func percentileCTE(
        name: String, source: String, keys: [String], value: String, outputs: [(percentile: Int, alias: String)],
        suffix: String = ""
    ) -> String {
        AnalyticsSQL.percentileCTE(
            name: name, source: source, keys: keys, value: value, outputs: outputs, suffix: suffix)
    }

    /// Whether `q` is answered from the rollups (else by a scan of the observations).
    public static func isServedFromRollups(_ q: BreakdownQuery) -> Bool { AnalyticsSQL.isServedFromRollups(q) }

    /// The rollup query of `q` (nil: a scan answers it).
    static func rollupBreakdownSQL(_ q: BreakdownQuery, projectID: String) -> SQLQuery? {
        analytics.rollupBreakdown(q, projectID: projectID)
    }

    /// Groups of `q` (`SQLReader.sharedBreakdown`: rollups plus raw edges when they cover the query, else a scan).
    public func breakdown(projectID: String, query q: BreakdownQuery) async throws -> [BreakdownRow] {
        try await sharedBreakdown(projectID: projectID, query: q, rollups: true)
    }

    /// `rollups: false` forces the scan of `observation` (the reference the rollup path is tested against, and
    /// the comparison `tally-bench` prints).
    public func breakdown(projectID: String, query q: BreakdownQuery, rollups: Bool) async throws -> [BreakdownRow] {
        try await sharedBreakdown(projectID: projectID, query: q, rollups: rollups)
    }
}

extension TallyDatabase: SQLReader {
    public var dialect: SQLDialect { .sqlite }

    /// Rows of a shared query (TallySQL), read in one bounded read.
    public func rows(_ query: SQLQuery) async throws -> [SQLRow] {
        let arguments = StatementArguments(query.values.map(\.databaseValue))
        let sql = query.sql
        return try await boundedRead { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                var cells: [String: SQLCell] = [:]
                for (name, value) in row where cells[name] == nil {
                    switch value.storage {
                    case .null: cells[name] = .null
                    case .int64(let v): cells[name] = .int(v)
                    case .double(let v): cells[name] = .double(v)
                    case .string(let v): cells[name] = .text(v)
                    case .blob: cells[name] = .null
                    }
                }
                return SQLRow(cells)
            }
        }
    }

    public func promptVersions(projectID: String, promptName: String, filter: AnalyticsFilter) async throws
        -> [PromptVersionStats]
    {
        try await sharedPromptVersions(projectID: projectID, promptName: promptName, filter: filter)
    }

    public func unitEconomics(projectID: String, query q: UnitEconomicsQuery) async throws -> [UnitEconomicsRow] {
        try await sharedUnitEconomics(projectID: projectID, query: q)
    }
}

/// What-if pricing and the waste finders: the shared reads of TallySQL (`sharedWhatIf`, `sharedInsights`).
extension TallyDatabase: SavingsStore {
    public func whatIf(projectID: String, query q: WhatIfQuery, now: Timestamp) async throws -> WhatIfAnswer {
        try await sharedWhatIf(
            projectID: projectID, query: q, table: try await priceTable(projectID: projectID), now: now)
    }

    public func insights(projectID: String, query q: InsightQuery) async throws -> [Finding] {
        try await sharedInsights(projectID: projectID, query: q, table: try await priceTable(projectID: projectID))
    }
}

/// The Users and Sessions views: the shared reads of TallySQL (`sharedUsers`, `sharedSessions`).
extension TallyDatabase: ActivityStore {
    public func users(projectID: String, query q: UserListQuery) async throws -> (rows: [UserRow], total: Int) {
        try await sharedUsers(projectID: projectID, query: q)
    }

    public func sessionList(projectID: String, query q: SessionListQuery) async throws -> [SessionRow] {
        try await sharedSessions(projectID: projectID, query: q)
    }
}
