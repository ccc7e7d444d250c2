import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

/// Breakdowns aggregate in SQL (never a Swift loop over rows): dimensions map to whitelisted column expressions,
/// every value is a bound parameter.
extension TallyDatabase {
    /// SQL for one dimension; `args` receives its parameters in order. `needsTrace`/`needsTag` say which joins it uses.
    static func sql(for d: TallyCore.AnalyticsDimension, args: inout [(any DatabaseValueConvertible)?]) -> (
        sql: String, trace: Bool, tag: Bool
    ) {
        switch d {
        case .tenant: return ("o.tenant", false, false)
        case .feature: return ("o.feature", false, false)
        case .userId: return ("t.user_id", true, false)
        case .sessionId: return ("t.session_id", true, false)
        case .traceName: return ("t.name", true, false)
        case .observationName: return ("o.name", false, false)
        case .type: return ("o.type", false, false)
        case .model: return ("o.model", false, false)
        case .responseModel: return ("o.response_model", false, false)
        case .promptName: return ("o.prompt_name", false, false)
        case .promptVersion: return ("CAST(o.prompt_version AS TEXT)", false, false)
        case .environment: return ("o.environment", false, false)
        case .release: return ("t.release", true, false)
        case .level: return ("o.level", false, false)
        case .tag: return ("g.tag", false, true)
        case .metadata(let key):
            let path = "$.\"\(key)\""
            args.append(path)
            args.append(path)
            return ("CAST(coalesce(json_extract(o.metadata, ?), json_extract(t.metadata, ?)) AS TEXT)", true, false)
        }
    }

    /// The UTC bucket of `column` (µs since the epoch) as a sortable key: the bucket's start in µs (the Monday of a
    /// week), or 'YYYY-MM' for months. Grouping on it costs integer arithmetic; `bucketLabelSQL` names the groups.
    static func bucketKeySQL(_ bucket: TimeBucket?, column: String = "o.start_time") -> String {
        /// `value` rounded down to a multiple of `unit` (toward −∞, as strftime does for times before 1970).
        func floor(_ value: String, _ unit: Int64) -> String {
            "(\(value) - ((\(value) % \(unit)) + \(unit)) % \(unit))"
        }
        switch bucket {
        case nil: return "NULL"
        case .hour: return floor(column, RollupRange.hour)
        case .day: return floor(column, RollupRange.day)
        // Days since the epoch (a Thursday) + 3 are days since a Monday: round down to a multiple of 7.
        case .week:
            let mondayOffset = floor("(\(floor(column, RollupRange.day)) / \(RollupRange.day) + 3)", 7)
            return "((\(mondayOffset) - 3) * \(RollupRange.day))"
        case .month: return "strftime('%Y-%m', \(column) / 1000000, 'unixepoch')"
        }
    }

    /// The name of a bucket from its `bucketKeySQL` key: as `bucketSQL` names it.
    static func bucketLabelSQL(_ bucket: TimeBucket?, key: String) -> String {
        switch bucket {
        case nil: return "NULL"
        case .hour: return "strftime('%Y-%m-%dT%H:00:00Z', \(key) / 1000000, 'unixepoch')"
        case .day, .week: return "strftime('%Y-%m-%d', \(key) / 1000000, 'unixepoch')"
        case .month: return key
        }
    }

    /// The UTC bucket of `column` (µs since the epoch) as text; weeks are named by their Monday.
    static func bucketSQL(_ bucket: TimeBucket?, column: String = "o.start_time") -> String {
        switch bucket {
        case nil: return "NULL"
        case .hour: return "strftime('%Y-%m-%dT%H:00:00Z', \(column) / 1000000, 'unixepoch')"
        case .day: return "strftime('%Y-%m-%d', \(column) / 1000000, 'unixepoch')"
        // Back six days, then forward to the next Monday: the Monday on or before the date.
        case .week: return "date(\(column) / 1000000, 'unixepoch', '-6 days', 'weekday 1')"
        case .month: return "strftime('%Y-%m', \(column) / 1000000, 'unixepoch')"
        }
    }

    /// Time range on `time` and tag membership of `traceID`: the filters observation- and trace-level queries share.
    static func addTimeAndTags(
        _ f: AnalyticsFilter, to w: inout SQLFilter, projectID: String, time: String, traceID: String
    ) {
        if let v = f.from { w.add("\(time) >= ?", [v.microseconds]) }
        if let v = f.to { w.add("\(time) < ?", [v.microseconds]) }
        // Uncorrelated IN: SQLite drives from the tag index instead of testing every row.
        for tag in Set(f.tags).sorted() {
            w.add("\(traceID) IN (SELECT trace_id FROM trace_tag WHERE project_id = ? AND tag = ?)", [projectID, tag])
        }
    }

    /// The observations as reads that count calls use them, as `FROM \(callSource(...)) o`: `observation`'s
    /// columns plus `n`, the row's count of calls, and `share_cache_read`, `share_cache_write`, `share_reasoning`.
    /// `perTenant`: a shared call (schema 0022) is one row per tenant share, with the share's tenant, tokens, costs
    /// and saving, `n` 1 on the share that carries the call and 0 on the others, and the share's token classes
    /// (NULL on unshared rows: read those from `usage_details`). Otherwise every call is one row as stored (the same
    /// sums but for the tenant, and no join). SQLite flattens both into the outer query, so its indexes still serve.
    static func callSource(perTenant: Bool) -> String {
        guard perTenant else {
            return "(SELECT *, 1 AS n, NULL AS share_cache_read, NULL AS share_cache_write, NULL AS share_reasoning "
                + "FROM observation)"
        }
        let whole = ["input_tokens", "output_tokens", "total_tokens"]
        let nullable = ["input_cost_nanos", "output_cost_nanos", "total_cost_nanos", "savings_nanos"]
        let columns =
            [
                "o.project_id", "o.id", "o.trace_id", "o.type", "o.name", "o.start_time", "o.end_time", "o.model",
                "o.response_model", "o.environment", "o.prompt_name", "o.prompt_version", "o.level", "o.metadata",
                "o.usage_details", "o.priced_model_id", "o.cost_source", "o.is_placeholder", "o.feature",
                "coalesce(s.tenant, o.tenant) AS tenant", "coalesce(s.n, 1) AS n",
                "s.cache_read_tokens AS share_cache_read", "s.cache_write_tokens AS share_cache_write",
                "s.reasoning_tokens AS share_reasoning",
            ] + whole.map { "coalesce(s.\($0), o.\($0)) AS \($0)" }
            + nullable.map { "CASE WHEN s.tenant IS NULL THEN o.\($0) ELSE s.\($0) END AS \($0)" }
        return "(SELECT \(columns.joined(separator: ", ")) FROM observation o LEFT JOIN observation_share s "
            + "ON o.shared AND s.project_id = o.project_id AND s.observation_id = o.id)"
    }

    /// Whether a read grouped by `dimensions` and filtered by `f` needs the calls per tenant share.
    static func perTenant(_ dimensions: [AnalyticsDimension], _ f: AnalyticsFilter) -> Bool {
        dimensions.contains(.tenant) || !f.tenants.isEmpty
    }

    /// WHERE clause over `observation o` or a `callSource` (and `trace t` when `trace` is true).
    static func whereSQL(_ f: AnalyticsFilter, projectID: String) -> (filter: SQLFilter, trace: Bool) {
        var w = SQLFilter()
        w.add("o.project_id = ?", [projectID])
        addTimeAndTags(f, to: &w, projectID: projectID, time: "o.start_time", traceID: "o.trace_id")
        w.any("o.tenant", f.tenants)
        w.any("o.feature", f.features)
        w.any("o.environment", f.environments)
        w.any("o.type", f.types.map(\.rawValue))
        w.any("o.name", f.names)
        w.any(of: ["o.model", "o.response_model"], f.models)
        w.any("t.user_id", f.userIDs)
        w.any("t.name", f.traceNames)
        if let v = f.promptName { w.add("o.prompt_name = ?", [v]) }
        if let v = f.promptVersion { w.add("o.prompt_version = ?", [v]) }
        for (key, value) in f.metadata.sorted(by: { $0.key < $1.key }) {
            let path = "$.\"\(key)\""
            w.add(
                "CAST(coalesce(json_extract(o.metadata, ?), json_extract(t.metadata, ?)) AS TEXT) = ?",
                [path, path, value])
        }
        return (w, !f.userIDs.isEmpty || !f.traceNames.isEmpty || !f.metadata.isEmpty)
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
        let rollup = rollups ? Self.rollupBreakdownSQL(q, projectID: projectID) : nil
        let (sql, arguments) = rollup ?? Self.rawBreakdownSQL(q, projectID: projectID)
        let dimensionCount = q.dimensions.count
        return try await boundedRead { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
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

    /// `<name>_ranked AS (…), <name> AS (…)`: nearest-rank percentiles (the ⌈p·n/100⌉-th smallest value) of `value`
    /// over the rows of `source`, per group of `keys` (a single group when empty), NULL values skipped. `outputs`
    /// pairs a percentile with its column alias in `<name>`; `suffix` follows each result (a unit divisor).
    static func percentileCTE(
        name: String, source: String, keys: [String], value: String, outputs: [(percentile: Int, alias: String)],
        suffix: String = ""
    ) -> String {
        let keyList = keys.joined(separator: ", ")
        let lead = keys.isEmpty ? "" : keyList + ", "
        let window = keys.isEmpty ? "" : "PARTITION BY \(keyList)"
        let columns = outputs.map {
            "MAX(CASE WHEN rn = (\($0.percentile) * n + 99) / 100 THEN v END)\(suffix) AS \($0.alias)"
        }
        return """
            \(name)_ranked AS (
                SELECT \(lead)\(value) AS v, ROW_NUMBER() OVER (\(window) ORDER BY \(value)) AS rn,
                    COUNT(*) OVER (\(window)) AS n
                FROM \(source) WHERE \(value) IS NOT NULL
            ), \(name) AS (
                SELECT \(lead)\(columns.joined(separator: ", ")) FROM \(name)_ranked\(keys.isEmpty ? "" : " GROUP BY " + keyList)
            )
            """
    }

    /// `ORDER BY … LIMIT ?` over the aggregate `a` (columns b, d0…, c, traces, it, ot, tt, ic, oc, tc, errors, p50…).
    static func orderSQL(_ q: BreakdownQuery, keys: [String]) -> String {
        let natural = keys.map { "a.\($0)" }.joined(separator: ", ")
        guard let sort = q.sort else { return "ORDER BY \(natural) LIMIT ?" }
        let column: String
        switch sort {
        case .count: column = "c"
        case .traces: column = "traces"
        case .inputTokens: column = "it"
        case .outputTokens: column = "ot"
        case .totalTokens: column = "tt"
        case .inputCost: column = "ic"
        case .outputCost: column = "oc"
        case .totalCost: column = "tc"
        case .latencyP50: column = "p50"
        case .latencyP95: column = "p95"
        case .latencyP99: column = "p99"
        case .errorRate: column = "CAST(errors AS REAL) / c"
        case .cacheSavings: column = "sv"
        }
        return "ORDER BY \(column) \(q.ascending ? "ASC" : "DESC"), \(natural) LIMIT ?"
    }

    static func rawBreakdownSQL(_ q: BreakdownQuery, projectID: String) -> (String, StatementArguments) {
        var selectArgs: [(any DatabaseValueConvertible)?] = []
        var joinTrace = false
        var joinTag = false
        var dimensionSQL: [String] = []
        for d in q.dimensions {
            let part = Self.sql(for: d, args: &selectArgs)
            dimensionSQL.append(part.sql)
            joinTrace = joinTrace || part.trace
            joinTag = joinTag || part.tag
        }
        let filter = Self.whereSQL(q.filter, projectID: projectID)
        joinTrace = joinTrace || filter.trace
        let keys = ["bk"] + dimensionSQL.indices.map { "d\($0)" }
        let keyList = keys.joined(separator: ", ")
        let select =
            ([Self.bucketKeySQL(q.bucket) + " AS bk"]
            + dimensionSQL.enumerated().map { "\($0.element) AS d\($0.offset)" })
            .joined(separator: ", ")
        let from =
            "\(Self.callSource(perTenant: Self.perTenant(q.dimensions, q.filter))) o"
            + (joinTrace ? " JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id" : "")
            + (joinTag
                ? " JOIN trace_tag g INDEXED BY trace_tag_trace ON g.project_id = o.project_id AND g.trace_id = o.trace_id"
                : "")
        let joinOn = keys.map { "a.\($0) IS p.\($0)" }.joined(separator: " AND ")
        let latency = q.needsLatency
        let percentileCTE =
            latency
            ? ", "
                + Self.percentileCTE(
                    name: "p", source: "base", keys: keys, value: "latency",
                    outputs: [(50, "p50"), (95, "p95"), (99, "p99")]) : ""
        let sql = """
            WITH base AS (
                SELECT \(select), o.trace_id, o.input_tokens, o.output_tokens, o.total_tokens,
                    coalesce(o.input_cost_nanos, 0) AS icn, coalesce(o.output_cost_nanos, 0) AS ocn,
                    coalesce(o.total_cost_nanos, 0) AS tcn, coalesce(o.savings_nanos, 0) AS svn,
                    CASE WHEN o.end_time IS NOT NULL AND o.n = 1 THEN (o.end_time - o.start_time) / 1000.0 END
                        AS latency,
                    o.n, o.n * (o.level = 'ERROR') AS err
                FROM \(from) WHERE \(filter.filter.sql)
            )\(percentileCTE), a AS (
                SELECT \(keyList), sum(n) AS c, count(DISTINCT trace_id) AS traces, sum(input_tokens) AS it,
                    sum(output_tokens) AS ot, sum(total_tokens) AS tt, sum(icn) AS ic, sum(ocn) AS oc, sum(tcn) AS tc,
                    sum(err) AS errors, sum(svn) AS sv
                FROM base GROUP BY \(keyList)
            )
            SELECT \(bucketLabelSQL(q.bucket, key: "a.bk")) AS b, a.*,
                \(latency ? "p.p50, p.p95, p.p99" : "NULL AS p50, NULL AS p95, NULL AS p99")
            FROM a \(latency ? "LEFT JOIN p ON \(joinOn)" : "")
            \(orderSQL(q, keys: keys))
            """
        return (sql, StatementArguments(selectArgs) + filter.filter.arguments + [q.limit])
    }
}

/// Day (or hour) arithmetic and coverage of the rollups.
struct RollupRange {
    static let day: Int64 = 86_400_000_000
    static let hour: Int64 = 3_600_000_000

    /// Whole units [lower, upper) read from a rollup (nil: unbounded) and the partial-unit edges read otherwise.
    var lower: Int64?
    var upper: Int64?
    var edges: [(from: Int64, to: Int64)] = []

    /// nil when the range holds no whole unit (a UTC day by default, or a UTC hour).
    init?(from: Timestamp?, to: Timestamp?, unit: Int64 = Self.day) {
        self.init(from: from?.microseconds, to: to?.microseconds, unit: unit)
    }

    init?(from: Int64?, to: Int64?, unit: Int64) {
        lower = from.map { ($0 + unit - 1).floorDiv(unit) * unit }
        upper = to.map { $0.floorDiv(unit) * unit }
        if let lower, let upper, lower >= upper { return nil }
        if let from, let lower, from < lower { edges.append((from, lower)) }
        if let to, let upper, upper < to { edges.append((upper, to)) }
    }

    /// The whole-unit bounds on `column` (`r.day`, `r.hour`) of rollup `r`.
    func addUnits(to w: inout SQLFilter, column: String = "r.day") {
        if let lower { w.add("\(column) >= ?", [lower]) }
        if let upper { w.add("\(column) < ?", [upper]) }
    }

    /// `f` narrowed to each partial-day edge, for the raw part of a rollup query.
    func edgeFilters(of f: AnalyticsFilter) -> [AnalyticsFilter] {
        edges.map { edge in
            var edgeFilter = f
            edgeFilter.from = Timestamp(microseconds: edge.from)
            edgeFilter.to = Timestamp(microseconds: edge.to)
            return edgeFilter
        }
    }
}

/// Which rollup rows and which raw observations answer a time range exactly. A partial unit (hour where an hourly
/// rollup exists, else day) at an edge is answered by scanning its shorter side: the part inside the range is added,
/// or the whole unit is read from the rollup and the part outside the range subtracted — so a window ending now
/// (`to` = now) scans next to nothing however busy the current hour is. Whole days come from the daily rollup, the
/// remaining whole hours from the hourly one.
struct RollupPlan {
    var parts: [(table: String, column: String, range: RollupRange)] = []
    /// Raw observation ranges [from, to), added (sign 1) or subtracted (sign −1).
    var rawEdges: [(from: Int64, to: Int64, sign: Int)] = []

    /// nil when scanning the range directly is cheaper than any rollup plan (the caller scans).
    init?(from: Timestamp?, to: Timestamp?, dayTable: String, hourTable: String?) {
        let unit = hourTable == nil ? RollupRange.day : RollupRange.hour
        var lower = from?.microseconds
        var upper = to?.microseconds
        if let f = lower, let t = upper, t - f < unit, f.floorDiv(unit) == (t - 1).floorDiv(unit) {
            // Inside one unit: the complement is cheaper only when the range covers most of the unit.
            let down = f.floorDiv(unit) * unit
            guard (f - down) + (down + unit - t) < t - f else { return nil }
            rawEdges = [(down, f, -1), (t, down + unit, -1)]
            lower = down
            upper = down + unit
        } else {
            /// The partial unit around `edge`, whose part inside the range lies after `edge` (the start) or before
            /// it (the end): scans the shorter part and returns the unit boundary where the rollup takes over.
            func split(_ edge: Int64, rangeAfter: Bool) -> Int64 {
                let down = edge.floorDiv(unit) * unit
                guard down < edge else { return edge }
                let up = down + unit
                let (inside, outside) = rangeAfter ? ((edge, up), (down, edge)) : ((down, edge), (edge, up))
                if outside.1 - outside.0 < inside.1 - inside.0 {
                    rawEdges.append((outside.0, outside.1, -1))
                    return rangeAfter ? down : up
                }
                rawEdges.append((inside.0, inside.1, 1))
                return rangeAfter ? up : down
            }
            lower = lower.map { split($0, rangeAfter: true) }
            upper = upper.map { split($0, rangeAfter: false) }
        }
        // [lower, upper) is unit-aligned now: whole days from the daily rollup, the other whole hours hourly.
        if let days = RollupRange(from: lower, to: upper, unit: RollupRange.day) {
            parts.append((dayTable, "r.day", days))
            for edge in days.edges {
                guard let hourTable, let hours = RollupRange(from: edge.from, to: edge.to, unit: RollupRange.hour)
                else { continue }
                parts.append((hourTable, "r.hour", hours))
            }
        } else if let hourTable, let hours = RollupRange(from: lower, to: upper, unit: RollupRange.hour) {
            parts.append((hourTable, "r.hour", hours))
        }
        if parts.isEmpty { return nil }
    }
}

extension Int64 {
    /// Division rounding toward −∞ (times before 1970 land in the right day).
    func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : -((-self + d - 1) / d) }
}

extension TallyDatabase {
    static let rollupDimensions: [AnalyticsDimension: String] = [
        .tenant: "NULLIF(r.tenant, '')", .feature: "NULLIF(r.feature, '')", .environment: "r.environment",
        .type: "r.type", .model: "NULLIF(r.model, '')", .responseModel: "NULLIF(r.response_model, '')",
    ]

    /// Whether `q` is answered from the rollups (else by a scan of the observations).
    public static func isServedFromRollups(_ q: BreakdownQuery) -> Bool {
        rollupBreakdownSQL(q, projectID: "") != nil
    }

    /// The breakdown answered from the rollups (`rollup_tenant_total_day` or `rollup_tenant_day`, with
    /// `rollup_tenant_total_hour` or `rollup_tenant_hour` for the partial days, when they cover the query, else
    /// `rollup_usage_day`) plus the raw
    /// edges (`RollupPlan`), or nil when no rollup covers it.
    static func rollupBreakdownSQL(_ q: BreakdownQuery, projectID: String) -> (String, StatementArguments)? {
        let f = q.filter
        guard q.isAdditive, q.bucket != .hour, f.tags.isEmpty, f.promptName == nil, f.promptVersion == nil,
            f.userIDs.isEmpty, f.traceNames.isEmpty, f.names.isEmpty, f.metadata.isEmpty
        else { return nil }
        var rollupDims: [String] = []
        for d in q.dimensions {
            guard let column = rollupDimensions[d] else { return nil }
            rollupDims.append(column)
        }
        // The smaller tenant rollup when only tenant, feature and environment are grouped or filtered on.
        let tenantLevel: Set<AnalyticsDimension> = [.tenant, .feature, .environment]
        let isTenantLevel = q.dimensions.allSatisfy(tenantLevel.contains) && f.types.isEmpty && f.models.isEmpty
        // Without feature in the grouping or the filter, the per-tenant daily sums (one row per tenant and day).
        let isTenantOnly = isTenantLevel && !q.dimensions.contains(.feature) && f.features.isEmpty
        guard
            let plan = RollupPlan(
                from: f.from, to: f.to,
                dayTable: !isTenantLevel
                    ? "rollup_usage_day"
                    : (isTenantOnly ? "rollup_tenant_total_day" : "rollup_tenant_day"),
                hourTable: !isTenantLevel ? nil : (isTenantOnly ? "rollup_tenant_total_hour" : "rollup_tenant_hour"))
        else { return nil }
        let keys = ["bk"] + q.dimensions.indices.map { "d\($0)" }
        let keyList = keys.joined(separator: ", ")
        func select(bucket: String, dims: [String], measures: String) -> String {
            ([bucket + " AS bk"] + dims.enumerated().map { "\($0.element) AS d\($0.offset)" } + [measures])
                .joined(separator: ", ")
        }
        var parts: [String] = []
        var arguments = StatementArguments()
        for part in plan.parts {
            var w = SQLFilter()
            w.add("r.project_id = ?", [projectID])
            part.range.addUnits(to: &w, column: part.column)
            w.any("r.tenant", f.tenants)
            w.any("r.feature", f.features)
            w.any("r.environment", f.environments)
            w.any("r.type", f.types.map(\.rawValue))
            w.any(of: ["r.model", "r.response_model"], f.models)
            parts.append(
                "SELECT "
                    + select(
                        bucket: bucketKeySQL(q.bucket, column: part.column), dims: rollupDims,
                        measures: "n, errors AS err, input_tokens AS it, output_tokens AS ot, total_tokens AS tt, "
                            + "input_cost_nanos AS icn, output_cost_nanos AS ocn, total_cost_nanos AS tcn")
                    + " FROM \(part.table) r WHERE \(w.sql)")
            arguments += w.arguments
        }
        // Covered dimensions are plain observation columns: no arguments.
        var unused: [(any DatabaseValueConvertible)?] = []
        let dims = q.dimensions.map { Self.sql(for: $0, args: &unused).sql }
        for edge in plan.rawEdges {
            var edgeFilter = f
            edgeFilter.from = Timestamp(microseconds: edge.from)
            edgeFilter.to = Timestamp(microseconds: edge.to)
            let raw = whereSQL(edgeFilter, projectID: projectID).filter
            let sign = edge.sign < 0 ? "-" : ""
            parts.append(
                "SELECT "
                    + select(
                        bucket: bucketKeySQL(q.bucket), dims: dims,
                        measures:
                            "\(sign)o.n AS n, \(sign)o.n * (o.level = 'ERROR') AS err, \(sign)o.input_tokens AS it, "
                            + "\(sign)o.output_tokens AS ot, \(sign)o.total_tokens AS tt, "
                            + "\(sign)coalesce(o.input_cost_nanos, 0) AS icn, \(sign)coalesce(o.output_cost_nanos, 0) AS ocn, "
                            + "\(sign)coalesce(o.total_cost_nanos, 0) AS tcn")
                    + " FROM \(Self.callSource(perTenant: Self.perTenant(q.dimensions, f))) o WHERE \(raw.sql)")
            arguments += raw.arguments
        }
        let sql = """
            WITH base AS (\(parts.joined(separator: " UNION ALL "))), a AS (
                SELECT \(keyList), sum(n) AS c, sum(it) AS it, sum(ot) AS ot, sum(tt) AS tt, sum(icn) AS ic,
                    sum(ocn) AS oc, sum(tcn) AS tc, sum(err) AS errors
                FROM base GROUP BY \(keyList)
                HAVING sum(n) != 0 OR sum(it) != 0 OR sum(ot) != 0 OR sum(tt) != 0 OR sum(icn) != 0 OR sum(ocn) != 0
                    OR sum(tcn) != 0
            )
            SELECT \(bucketLabelSQL(q.bucket, key: "a.bk")) AS b, a.* FROM a \(orderSQL(q, keys: keys))
            """
        return (sql, arguments + [q.limit])
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
        range.addUnits(to: &w)
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
