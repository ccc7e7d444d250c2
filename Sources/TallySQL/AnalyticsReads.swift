import Foundation
import TallyCore
import TallyStoreAPI

/// The analytics reads of `AnalyticsStore`, written once over any store that runs SQL (`SQLReader`): the queries
/// come from `AnalyticsSQL` in the store's dialect, the rows are mapped here.
extension SQLReader {
    var analytics: AnalyticsSQL { AnalyticsSQL(dialect) }

    /// Groups of `q`, aggregated in SQL: from the rollups plus the raw edges when they cover the query, else by a
    /// scan (`rollups: false` forces the scan: the reference the rollup path is tested against). Both give the
    /// same sums.
    public func sharedBreakdown(projectID: String, query q: BreakdownQuery, rollups: Bool) async throws
        -> [BreakdownRow]
    {
        let query =
            (rollups ? analytics.rollupBreakdown(q, projectID: projectID) : nil)
            ?? analytics.rawBreakdown(q, projectID: projectID)
        return try await rows(query).map { row in
            var out = BreakdownRow(
                bucket: row.text("b"), keys: (0..<q.dimensions.count).map { row.text("d\($0)") },
                count: row.int("c") ?? 0, traces: row.int("traces") ?? 0, inputTokens: row.int("it") ?? 0,
                outputTokens: row.int("ot") ?? 0, totalTokens: row.int("tt") ?? 0, inputCostNanos: row.int("ic") ?? 0,
                outputCostNanos: row.int("oc") ?? 0, totalCostNanos: row.int("tc") ?? 0,
                latencyP50: row.double("p50"), latencyP95: row.double("p95"), latencyP99: row.double("p99"),
                errors: row.int("errors") ?? 0)
            out.cacheSavingsNanos = row.int("sv") ?? 0
            return out
        }
    }

    /// Per version of `promptName` (generations linked to it): runs, cost, tokens, latency, errors, scores.
    /// Filtered by time range and environment only, whole days come from the prompt rollups; other filters scan.
    public func sharedPromptVersions(projectID: String, promptName: String, filter: AnalyticsFilter) async throws
        -> [PromptVersionStats]
    {
        var named = filter
        named.promptName = promptName
        named.promptVersion = nil
        let f = named
        // The figures, the scores and then each version's first and last call: independent reads, run at once.
        let scoreQuery = analytics.promptScores(f, projectID: projectID)
        async let figuresRead = promptFigures(projectID: projectID, filter: f)
        async let scoreRows = rows(scoreQuery)
        let figures = try await figuresRead
        var scores: [Int: [String: Double]] = [:]
        for row in try await scoreRows {
            guard let version = row.int("v"), let name = row.text("name"), let mean = row.double("mean") else {
                continue
            }
            scores[Int(version), default: [:]][name] = mean
        }
        let seen = try await withThrowingTaskGroup(of: (Int, SQLRow?).self) { group in
            for version in figures.keys {
                let query = analytics.promptSeen(f, projectID: projectID, version: version)
                group.addTask { (version, try await rows(query).first) }
            }
            var out: [Int: SQLRow] = [:]
            for try await (version, row) in group { out[version] = row }
            return out
        }
        var out: [PromptVersionStats] = []
        for version in figures.keys.sorted() {
            guard var stats = figures[version], let row = seen[version] ?? nil, let first = row.int("first"),
                let last = row.int("last")
            else { continue }
            stats.firstSeen = Timestamp(microseconds: first)
            stats.lastSeen = Timestamp(microseconds: last)
            stats.scores = scores[version] ?? [:]
            out.append(stats)
        }
        return out
    }

    /// Runs, cost, tokens, latency and errors per version of `f.promptName`: from the prompt rollups when only time
    /// and environment filter, else by a breakdown.
    func promptFigures(projectID: String, filter f: AnalyticsFilter) async throws -> [Int: PromptVersionStats] {
        var rest = f
        (rest.from, rest.to, rest.environments, rest.promptName) = (nil, nil, [], nil)
        if rest == AnalyticsFilter(), let range = RollupRange(from: f.from, to: f.to) {
            return try await promptFiguresFromRollup(projectID: projectID, filter: f, range: range)
        }
        var q = BreakdownQuery()
        q.filter = f
        q.dimensions = [.promptVersion]
        q.limit = BreakdownQuery.maxLimit
        q.metrics = [.count, .inputTokens, .outputTokens, .totalCost, .latencyP50, .latencyP95, .errorRate]
        var out: [Int: PromptVersionStats] = [:]
        for row in try await sharedBreakdown(projectID: projectID, query: q, rollups: true) {
            guard let text = row.keys.first ?? nil, let version = Int(text) else { continue }
            out[version] = PromptVersionStats(
                version: version, runs: row.count, totalCostNanos: row.totalCostNanos, inputTokens: row.inputTokens,
                outputTokens: row.outputTokens, latencyP50: row.latencyP50, latencyP95: row.latencyP95,
                latencyExact: true, errors: row.errors, firstSeen: Timestamp(microseconds: 0),
                lastSeen: Timestamp(microseconds: 0), scores: [:])
        }
        return out
    }

    /// Runs, tokens, cost and errors per version from `rollup_prompt_day`, latency percentiles from the histogram,
    /// both plus the raw partial-day edges of the range.
    func promptFiguresFromRollup(projectID: String, filter f: AnalyticsFilter, range: RollupRange) async throws
        -> [Int: PromptVersionStats]
    {
        let (sums, percentiles) = analytics.promptRollup(f, projectID: projectID, range: range)
        var out: [Int: PromptVersionStats] = [:]
        for row in try await rows(sums) {
            guard let v = row.int("v") else { continue }
            let version = Int(v)
            out[version] = PromptVersionStats(
                version: version, runs: row.int("n") ?? 0, totalCostNanos: row.int("tc") ?? 0,
                inputTokens: row.int("it") ?? 0, outputTokens: row.int("ot") ?? 0, latencyP50: nil, latencyP95: nil,
                latencyExact: false, errors: row.int("errors") ?? 0, firstSeen: Timestamp(microseconds: 0),
                lastSeen: Timestamp(microseconds: 0), scores: [:])
        }
        for row in try await rows(percentiles) {
            guard let v = row.int("v") else { continue }
            out[Int(v)]?.latencyP50 = row.double("p50")
            out[Int(v)]?.latencyP95 = row.double("p95")
        }
        return out
    }

    /// Per trace-level group: traces, successful traces, all spend and tokens (so cost per success = spend ÷
    /// successes, the price of one successful action including the failed attempts).
    public func sharedUnitEconomics(projectID: String, query q: UnitEconomicsQuery) async throws -> [UnitEconomicsRow] {
        let query = try analytics.unitEconomics(q, projectID: projectID)
        return try await rows(query).map { row in
            UnitEconomicsRow(
                bucket: row.text("b"), keys: (0..<q.dimensions.count).map { row.text("d\($0)") },
                traces: row.int("traces") ?? 0, successes: row.int("successes") ?? 0,
                totalCostNanos: row.int("cost") ?? 0, totalTokens: row.int("tokens") ?? 0)
        }
    }
}

extension AnalyticsSQL {
    /// Per version, the first and last start time of its observations (two index probes on (project, prompt name,
    /// version, start time)): columns `first`, `last`.
    public func promptSeen(_ f: AnalyticsFilter, projectID: String, version: Int) -> SQLQuery {
        let (w, needsTrace) = filter(f, projectID: projectID)
        let traceJoin = needsTrace ? " JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id" : ""
        return SQLQuery(
            """
            SELECT (SELECT min(o.start_time) FROM observation o\(traceJoin) WHERE \(w.sql) AND o.prompt_version = ?)
                    AS first,
                (SELECT max(o.start_time) FROM observation o\(traceJoin) WHERE \(w.sql) AND o.prompt_version = ?)
                    AS last
            """, w.values + [.int(Int64(version))] + w.values + [.int(Int64(version))])
    }

    /// Mean numeric and boolean scores per version and score name (`v`, `name`, `mean`): a score counts for a
    /// version when it is on one of the version's observations, or on its trace. Driven from the scores (far fewer
    /// than the prompt's observations; SQLite is held to that order by CROSS JOIN and index hints).
    public func promptScores(_ f: AnalyticsFilter, projectID: String) -> SQLQuery {
        let (w, needsTrace) = filter(f, projectID: projectID)
        let traceJoin = needsTrace ? " JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id" : ""
        let join = dialect.kind == .sqlite ? "CROSS JOIN" : "JOIN"
        return SQLQuery(
            """
            SELECT o.prompt_version AS v, s.name AS name, avg(s.value) AS mean
            FROM \(dialect.table("score", "s", index: "score_trace")) \(join) \(dialect.table("observation", "o", index: "observation_trace"))
                ON o.project_id = s.project_id AND o.trace_id = s.trace_id
                AND (s.observation_id IS NULL OR s.observation_id = o.id)\(traceJoin)
            WHERE \(w.sql) AND s.project_id = ? AND s.trace_id IS NOT NULL AND s.value IS NOT NULL
                AND s.data_type IN ('NUMERIC', 'BOOLEAN')
            GROUP BY o.prompt_version, s.name
            """, w.values + [.text(projectID)])
    }

    /// The prompt rollups' sums per version (`v`, n, errors, it, ot, tc) and nearest-rank latency percentiles from
    /// the histogram (`v`, p50, p95: the bucket midpoint), each plus the raw edges of `range`.
    public func promptRollup(_ f: AnalyticsFilter, projectID: String, range: RollupRange) -> (
        sums: SQLQuery, percentiles: SQLQuery
    ) {
        var w = SQLConditions()
        w.add("r.project_id = ? AND r.prompt_name = ?", .text(projectID), .text(f.promptName))
        range.addUnits(to: &w)
        w.any("r.environment", f.environments)
        var sums = [
            "SELECT prompt_version AS v, n, errors, input_tokens AS it, output_tokens AS ot, total_cost_nanos AS tc "
                + "FROM rollup_prompt_day r WHERE \(w.sql)"
        ]
        var histogram = ["SELECT prompt_version AS v, bucket, n FROM rollup_prompt_latency_day r WHERE \(w.sql)"]
        var sumValues = w.values
        var histogramValues = w.values
        for edgeFilter in range.edgeFilters(of: f) {
            let raw = filter(edgeFilter, projectID: projectID).conditions
            sums.append(
                "SELECT o.prompt_version, 1, \(dialect.int("o.level = 'ERROR'")), o.input_tokens, o.output_tokens, "
                    + "coalesce(o.total_cost_nanos, 0) FROM observation o WHERE \(raw.sql)")
            histogram.append(
                "SELECT o.prompt_version, \(dialect.latencyBucket(end: "o.end_time", start: "o.start_time")), 1 "
                    + "FROM observation o WHERE \(raw.sql) AND o.end_time IS NOT NULL")
            sumValues += raw.values
            histogramValues += raw.values
        }
        let sumSQL = """
            SELECT v, sum(n) AS n, sum(errors) AS errors, sum(it) AS it, sum(ot) AS ot, sum(tc) AS tc
            FROM (\(sums.joined(separator: " UNION ALL "))) x GROUP BY v HAVING sum(n) > 0
            """
        // Nearest rank, as in the raw path: the first bucket whose cumulative count reaches ⌈p·n⌉; its midpoint.
        let percentileSQL = """
            WITH h AS (
                SELECT v, bucket, sum(n) AS n FROM (\(histogram.joined(separator: " UNION ALL "))) x
                GROUP BY v, bucket HAVING sum(n) > 0
            ), c AS (
                SELECT v, bucket, CAST(sum(n) OVER (PARTITION BY v ORDER BY bucket) AS BIGINT) AS cum,
                    CAST(sum(n) OVER (PARTITION BY v) AS BIGINT) AS total
                FROM h
            )
            SELECT v, pow(1.02, min(CASE WHEN cum >= (50 * total + 99) / 100 THEN bucket END) + 0.5) AS p50,
                pow(1.02, min(CASE WHEN cum >= (95 * total + 99) / 100 THEN bucket END) + 0.5) AS p95
            FROM c GROUP BY v
            """
        return (SQLQuery(sumSQL, sumValues), SQLQuery(percentileSQL, histogramValues))
    }

    /// Unit economics per trace-level group (`b`, `d0`…, traces, successes, cost, tokens). Throws
    /// `AnalyticsError.invalid` for an observation-level dimension or filter.
    public func unitEconomics(_ q: UnitEconomicsQuery, projectID: String) throws -> SQLQuery {
        var dimensionValues: [SQLValue] = []
        var successValues: [SQLValue] = []
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
                let m = dialect.metadataText(["t.metadata"], key: key)
                dims.append(m.sql)
                dimensionValues += m.values
            default:
                throw AnalyticsError.invalid("unit economics group by trace-level dimensions only, not \(d.name)")
            }
        }
        let f = q.filter
        guard f.models.isEmpty, f.types.isEmpty, f.names.isEmpty, f.promptName == nil, f.promptVersion == nil else {
            throw AnalyticsError.invalid("unit economics filter on trace fields only (not model, type, name or prompt)")
        }
        var w = SQLConditions()
        w.add("t.project_id = ?", .text(projectID))
        addTimeAndTags(f, to: &w, projectID: projectID, time: "t.timestamp", traceID: "t.id")
        w.any("t.tenant", f.tenants)
        w.any("t.feature", f.features)
        w.any("t.environment", f.environments)
        w.any("t.user_id", f.userIDs)
        w.any("t.name", f.traceNames)
        for (key, value) in f.metadata.sorted(by: { $0.key < $1.key }) {
            let m = dialect.metadataText(["t.metadata"], key: key)
            w.add("\(m.sql) = ?", m.values + [.text(value)])
        }
        let observations = dialect.table("observation", "e", index: "observation_trace")
        let scores = dialect.table("score", "s", index: "score_trace")
        let success: String
        switch q.success {
        case .noError:
            success =
                "NOT EXISTS (SELECT 1 FROM \(observations) WHERE e.project_id = t.project_id AND e.trace_id = t.id "
                + "AND e.level = 'ERROR')"
        case .scoreAtLeast(let name, let min):
            success =
                "EXISTS (SELECT 1 FROM \(scores) WHERE s.project_id = t.project_id AND s.trace_id = t.id "
                + "AND s.name = ? AND s.value >= ?)"
            successValues = [.text(name), .double(min)]
        case .scoreEquals(let name, let value):
            success =
                "EXISTS (SELECT 1 FROM \(scores) WHERE s.project_id = t.project_id AND s.trace_id = t.id "
                + "AND s.name = ? AND s.string_value = ?)"
            successValues = [.text(name), .text(value)]
        }
        let keys = ["b"] + dims.indices.map { "d\($0)" }
        let select =
            ([bucket(q.bucket, column: "t.timestamp") + " AS b"]
            + dims.enumerated().map { "\($0.element) AS d\($0.offset)" }).joined(separator: ", ")
        let perTrace = dialect.table("observation", "o", index: "observation_trace")
        let tags =
            joinTag
            ? " JOIN \(dialect.table("trace_tag", "g", index: "trace_tag_trace")) ON g.project_id = t.project_id "
                + "AND g.trace_id = t.id" : ""
        let order = naturalOrder(keys)
        let sql = """
            WITH per_trace AS (
                SELECT \(select), \(dialect.int(success)) AS ok,
                    (SELECT coalesce(sum(o.total_cost_nanos), 0) FROM \(perTrace)
                     WHERE o.project_id = t.project_id AND o.trace_id = t.id) AS cost,
                    (SELECT coalesce(sum(o.total_tokens), 0) FROM \(perTrace)
                     WHERE o.project_id = t.project_id AND o.trace_id = t.id) AS tokens
                FROM trace t\(tags)
                WHERE \(w.sql)
            )
            SELECT \(keys.joined(separator: ", ")), count(*) AS traces, sum(ok) AS successes, sum(cost) AS cost,
                sum(tokens) AS tokens
            FROM per_trace GROUP BY \(keys.joined(separator: ", ")) ORDER BY \(order) LIMIT ?
            """
        // Bound in the order the marks appear: dimensions and success (SELECT list), WHERE, LIMIT.
        return SQLQuery(sql, dimensionValues + successValues + w.values + [.int(Int64(q.limit))])
    }
}
