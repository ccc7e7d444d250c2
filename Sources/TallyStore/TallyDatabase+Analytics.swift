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

    /// Groups of `q`, aggregated in SQL. Additive queries over rollup-covered dimensions and filters read whole UTC
    /// days from the smallest covering daily rollup and only the partial days at the range's edges from
    /// `observation`; every other query scans `observation`. Both give the same sums.
    public func breakdown(projectID: String, query q: BreakdownQuery) async throws -> [BreakdownRow] {
        try await breakdown(projectID: projectID, query: q, rollups: true)
    }

    /// `rollups: false` forces the scan of `observation` (the reference the rollup path is tested against, and
    /// the comparison `tally-bench` prints).
    public func breakdown(projectID: String, query q: BreakdownQuery, rollups: Bool) async throws -> [BreakdownRow] {
        let sql = Self.analytics
        let query =
            (rollups ? sql.rollupBreakdown(q, projectID: projectID) : nil) ?? sql.rawBreakdown(q, projectID: projectID)
        let arguments = StatementArguments(query.values.map(\.databaseValue))
        let dimensionCount = q.dimensions.count
        return try await boundedRead { db in
            try Row.fetchAll(db, sql: query.sql, arguments: arguments).map { row in
                var out = BreakdownRow(
                    bucket: row["b"], keys: (0..<dimensionCount).map { row["d\($0)"] }, count: row["c"],
                    traces: row["traces"] ?? 0, inputTokens: row["it"] ?? 0, outputTokens: row["ot"] ?? 0,
                    totalTokens: row["tt"] ?? 0, inputCostNanos: row["ic"] ?? 0, outputCostNanos: row["oc"] ?? 0,
                    totalCostNanos: row["tc"] ?? 0, latencyP50: row["p50"], latencyP95: row["p95"],
                    latencyP99: row["p99"], errors: row["errors"] ?? 0)
                out.cacheSavingsNanos = row["sv"] ?? 0
                return out
            }
        }
    }
}

extension TallyDatabase {
    /// Per version of `promptName` (generations linked to it): runs, cost, tokens, latency, errors, scores.
    /// Filtered by time range and environment only, whole days come from the prompt rollups; other filters scan.
    public func promptVersions(projectID: String, promptName: String, filter: AnalyticsFilter) async throws
        -> [PromptVersionStats]
    {
        var f = filter
        f.promptName = promptName
        f.promptVersion = nil
        var rest = f
        (rest.from, rest.to, rest.environments, rest.promptName) = (nil, nil, [], nil)
        let figures: [Int: PromptVersionStats]
        if rest == AnalyticsFilter(), let range = RollupRange(from: f.from, to: f.to) {
            figures = try await promptFiguresFromRollup(projectID: projectID, filter: f, range: range)
        } else {
            var q = BreakdownQuery()
            q.filter = f
            q.dimensions = [.promptVersion]
            q.limit = BreakdownQuery.maxLimit
            q.metrics = [.count, .inputTokens, .outputTokens, .totalCost, .latencyP50, .latencyP95, .errorRate]
            var out: [Int: PromptVersionStats] = [:]
            for row in try await breakdown(projectID: projectID, query: q) {
                guard let text = row.keys.first ?? nil, let version = Int(text) else { continue }
                out[version] = PromptVersionStats(
                    version: version, runs: row.count, totalCostNanos: row.totalCostNanos,
                    inputTokens: row.inputTokens, outputTokens: row.outputTokens, latencyP50: row.latencyP50,
                    latencyP95: row.latencyP95, latencyExact: true, errors: row.errors,
                    firstSeen: Timestamp(microseconds: 0), lastSeen: Timestamp(microseconds: 0), scores: [:])
            }
            figures = out
        }
        let (where_, needsTrace) = Self.whereSQL(f, projectID: projectID)
        let traceJoin = needsTrace ? " JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id" : ""
        // Per version, min and max as two index probes on (project, prompt name, version, start time).
        let seenSQL = """
            SELECT (SELECT min(o.start_time) FROM observation o\(traceJoin) WHERE \(where_.sql) AND o.prompt_version = ?),
                (SELECT max(o.start_time) FROM observation o\(traceJoin) WHERE \(where_.sql) AND o.prompt_version = ?)
            """
        // A score counts for a version when it is on one of the version's observations, or on its trace. Driven
        // from the scores (CROSS JOIN fixes the order): far fewer than the prompt's observations. Without planner
        // statistics SQLite would scan the project's primary key per score; the index hints keep it to one trace.
        let scoreSQL = """
            SELECT o.prompt_version, s.name, avg(s.value)
            FROM score s INDEXED BY score_trace CROSS JOIN observation o INDEXED BY observation_trace ON o.project_id = s.project_id AND o.trace_id = s.trace_id
                AND (s.observation_id IS NULL OR s.observation_id = o.id)\(traceJoin)
            WHERE \(where_.sql) AND s.project_id = ? AND s.trace_id IS NOT NULL AND s.value IS NOT NULL
                AND s.data_type IN ('NUMERIC', 'BOOLEAN')
            GROUP BY o.prompt_version, s.name
            """
        let arguments = where_.arguments
        let versions = figures.keys.sorted()
        return try await boundedRead { db in
            var scores: [Int: [String: Double]] = [:]
            for row in try Row.fetchAll(db, sql: scoreSQL, arguments: arguments + [projectID]) {
                scores[row[0], default: [:]][row[1]] = row[2]
            }
            return try versions.compactMap { version in
                guard var stats = figures[version],
                    let row = try Row.fetchOne(
                        db, sql: seenSQL, arguments: arguments + [version] + arguments + [version]),
                    let first = row[0] as Int64?, let last = row[1] as Int64?
                else { return nil }
                stats.firstSeen = Timestamp(microseconds: first)
                stats.lastSeen = Timestamp(microseconds: last)
                stats.scores = scores[version] ?? [:]
                return stats
            }
        }
    }

    /// Runs, tokens, cost and errors per version from `rollup_prompt_day`, latency percentiles from the histogram,
    /// both plus the raw partial-day edges of the range.
    func promptFiguresFromRollup(projectID: String, filter f: AnalyticsFilter, range: RollupRange) async throws
        -> [Int: PromptVersionStats]
    {
        var w = SQLFilter()
        w.add("r.project_id = ? AND r.prompt_name = ?", [projectID, f.promptName])
        var units = SQLConditions()
        range.addUnits(to: &units)
        w.add(units)
        w.any("r.environment", f.environments)
        var sums = [
            "SELECT prompt_version AS v, n, errors, input_tokens AS it, output_tokens AS ot, total_cost_nanos AS tc "
                + "FROM rollup_prompt_day r WHERE \(w.sql)"
        ]
        var histogram = ["SELECT prompt_version AS v, bucket, n FROM rollup_prompt_latency_day r WHERE \(w.sql)"]
        var sumArgs = w.arguments
        var histogramArgs = w.arguments
        for edgeFilter in range.edgeFilters(of: f) {
            let raw = Self.whereSQL(edgeFilter, projectID: projectID).filter
            sums.append(
                "SELECT o.prompt_version, 1, o.level = 'ERROR', o.input_tokens, o.output_tokens, "
                    + "coalesce(o.total_cost_nanos, 0) FROM observation o WHERE \(raw.sql)")
            histogram.append(
                "SELECT o.prompt_version, CAST(floor(ln(max((o.end_time - o.start_time) / 1000.0, 0.001)) / ln(1.02)) "
                    + "AS INTEGER), 1 FROM observation o WHERE \(raw.sql) AND o.end_time IS NOT NULL")
            sumArgs += raw.arguments
            histogramArgs += raw.arguments
        }
        let sumSQL = """
            SELECT v, sum(n), sum(errors), sum(it), sum(ot), sum(tc) FROM (\(sums.joined(separator: " UNION ALL ")))
            GROUP BY v HAVING sum(n) > 0
            """
        // Nearest rank, as in the raw path: the first bucket whose cumulative count reaches ⌈p·n⌉; its midpoint.
        let percentileSQL = """
            WITH h AS (
                SELECT v, bucket, sum(n) AS n FROM (\(histogram.joined(separator: " UNION ALL ")))
                GROUP BY v, bucket HAVING sum(n) > 0
            ), c AS (
                SELECT v, bucket, sum(n) OVER (PARTITION BY v ORDER BY bucket) AS cum, sum(n) OVER (PARTITION BY v) AS total
                FROM h
            )
            SELECT v, pow(1.02, min(CASE WHEN cum >= (50 * total + 99) / 100 THEN bucket END) + 0.5),
                pow(1.02, min(CASE WHEN cum >= (95 * total + 99) / 100 THEN bucket END) + 0.5)
            FROM c GROUP BY v
            """
        let (sumArguments, histogramArguments) = (sumArgs, histogramArgs)
        return try await boundedRead { db in
            var out: [Int: PromptVersionStats] = [:]
            for row in try Row.fetchAll(db, sql: sumSQL, arguments: sumArguments) {
                out[row[0]] = PromptVersionStats(
                    version: row[0], runs: row[1], totalCostNanos: row[5], inputTokens: row[3], outputTokens: row[4],
                    latencyP50: nil, latencyP95: nil, latencyExact: false, errors: row[2],
                    firstSeen: Timestamp(microseconds: 0), lastSeen: Timestamp(microseconds: 0), scores: [:])
            }
            for row in try Row.fetchAll(db, sql: percentileSQL, arguments: histogramArguments) {
                out[row[0]]?.latencyP50 = row[1]
                out[row[0]]?.latencyP95 = row[2]
            }
            return out
        }
    }
}

extension TallyDatabase {
    /// Per trace-level group: traces, successful traces, all spend and tokens (so cost per success = spend ÷
    /// successes, the price of one successful action including the failed attempts).
    public func unitEconomics(projectID: String, query q: UnitEconomicsQuery) async throws -> [UnitEconomicsRow] {
        var dimensionArgs: [(any DatabaseValueConvertible)?] = []
        var successArgs: [(any DatabaseValueConvertible)?] = []
        var dims: [String] = []
        var joinTag = false
        for d in q.dimensions {
            switch d {
            case .tenant: dims.append("t.tenant")
            case .feature: dims.append("t.feature")
            case .userId: dims.append("t.user_id")
            case .sessionId: dims.append("t.session_id")
            case .traceName: dims.append("t.name")
            case .environment: dims.append("t.environment")
            case .release: dims.append("t.release")
            case .tag:
                dims.append("g.tag")
                joinTag = true
            case .metadata(let key):
                dims.append("CAST(json_extract(t.metadata, ?) AS TEXT)")
                dimensionArgs.append("$.\"\(key)\"")
            default:
                throw AnalyticsError.invalid("unit economics group by trace-level dimensions only, not \(d.name)")
            }
        }
        let f = q.filter
        guard f.models.isEmpty, f.types.isEmpty, f.names.isEmpty, f.promptName == nil, f.promptVersion == nil else {
            throw AnalyticsError.invalid("unit economics filter on trace fields only (not model, type, name or prompt)")
        }
        var w = SQLFilter()
        w.add("t.project_id = ?", [projectID])
        Self.addTimeAndTags(f, to: &w, projectID: projectID, time: "t.timestamp", traceID: "t.id")
        w.any("t.tenant", f.tenants)
        w.any("t.feature", f.features)
        w.any("t.environment", f.environments)
        w.any("t.user_id", f.userIDs)
        w.any("t.name", f.traceNames)
        for (key, value) in f.metadata.sorted(by: { $0.key < $1.key }) {
            w.add("CAST(json_extract(t.metadata, ?) AS TEXT) = ?", ["$.\"\(key)\"", value])
        }
        let successSQL: String
        switch q.success {
        case .noError:
            successSQL =
                "NOT EXISTS (SELECT 1 FROM observation e INDEXED BY observation_trace WHERE e.project_id = t.project_id AND e.trace_id = t.id AND e.level = 'ERROR')"
        case .scoreAtLeast(let name, let min):
            successSQL =
                "EXISTS (SELECT 1 FROM score s INDEXED BY score_trace WHERE s.project_id = t.project_id AND s.trace_id = t.id AND s.name = ? AND s.value >= ?)"
            successArgs = [name, min]
        case .scoreEquals(let name, let value):
            successSQL =
                "EXISTS (SELECT 1 FROM score s INDEXED BY score_trace WHERE s.project_id = t.project_id AND s.trace_id = t.id AND s.name = ? AND s.string_value = ?)"
            successArgs = [name, value]
        }
        let bucket = Self.bucketSQL(q.bucket, column: "t.timestamp")
        let keys = ["b"] + dims.indices.map { "d\($0)" }
        let select = ([bucket + " AS b"] + dims.enumerated().map { "\($0.element) AS d\($0.offset)" }).joined(
            separator: ", ")
        let sql = """
            WITH per_trace AS (
                SELECT \(select), (\(successSQL)) AS ok,
                    (SELECT coalesce(sum(o.total_cost_nanos), 0) FROM observation o INDEXED BY observation_trace
                     WHERE o.project_id = t.project_id AND o.trace_id = t.id) AS cost,
                    (SELECT coalesce(sum(o.total_tokens), 0) FROM observation o INDEXED BY observation_trace
                     WHERE o.project_id = t.project_id AND o.trace_id = t.id) AS tokens
                FROM trace t\(joinTag ? " JOIN trace_tag g INDEXED BY trace_tag_trace ON g.project_id = t.project_id AND g.trace_id = t.id" : "")
                WHERE \(w.sql)
            )
            SELECT \(keys.joined(separator: ", ")), count(*) AS traces, sum(ok) AS successes, sum(cost) AS cost,
                sum(tokens) AS tokens
            FROM per_trace GROUP BY \(keys.joined(separator: ", ")) ORDER BY \(keys.joined(separator: ", ")) LIMIT ?
            """
        // Bind in the order the placeholders appear: dimensions and success (SELECT list), WHERE, LIMIT.
        let arguments = StatementArguments(dimensionArgs + successArgs) + w.arguments + [q.limit]
        let dimensionCount = dims.count
        return try await boundedRead { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                UnitEconomicsRow(
                    bucket: row["b"], keys: (0..<dimensionCount).map { row["d\($0)"] }, traces: row["traces"],
                    successes: row["successes"] ?? 0, totalCostNanos: row["cost"] ?? 0, totalTokens: row["tokens"] ?? 0)
            }
        }
    }
}
