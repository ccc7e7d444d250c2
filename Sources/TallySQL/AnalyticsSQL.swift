import Foundation
import TallyCore
import TallyStoreAPI

/// The analytics queries of both stores, written once: breakdowns aggregate in SQL (never a Swift loop over rows),
/// dimensions map to whitelisted column expressions, every value is a bound `?`. Reads that group or filter by
/// tenant count shared calls per share (`callSource`). Additive breakdowns over rollup-covered dimensions read whole
/// units from the rollups (schema 0006/0010/0012 in SQLite, 0004 in PostgreSQL: the same tables) and scan only the
/// partial edges.
public struct AnalyticsSQL: Sendable {
    public let dialect: SQLDialect

    public init(_ dialect: SQLDialect) { self.dialect = dialect }

    /// SQL for one dimension over `observation o` (with `trace t`, `trace_tag g` when it says so), its values.
    public func dimension(_ d: AnalyticsDimension) -> (sql: String, values: [SQLValue], trace: Bool, tag: Bool) {
        switch d {
        case .tenant: ("o.tenant", [], false, false)
        case .feature: ("o.feature", [], false, false)
        case .userId: ("t.user_id", [], true, false)
        case .sessionId: ("t.session_id", [], true, false)
        case .traceName: ("t.name", [], true, false)
        case .observationName: ("o.name", [], false, false)
        case .type: ("o.type", [], false, false)
        case .model: ("o.model", [], false, false)
        case .responseModel: ("o.response_model", [], false, false)
        case .promptName: ("o.prompt_name", [], false, false)
        case .promptVersion: ("CAST(o.prompt_version AS TEXT)", [], false, false)
        case .environment: ("o.environment", [], false, false)
        case .release: ("t.release", [], true, false)
        case .level: ("o.level", [], false, false)
        case .tag: ("g.tag", [], false, true)
        case .metadata(let key):
            {
                let m = dialect.metadataText(["o.metadata", "t.metadata"], key: key)
                return (m.sql, m.values, true, false)
            }()
        }
    }

    /// The UTC bucket of `column` (µs since the epoch) as a sortable key: the bucket's start in µs (the Monday of a
    /// week), or 'YYYY-MM' for months. Grouping on it costs integer arithmetic; `bucketLabel` names the groups.
    public func bucketKey(_ bucket: TimeBucket?, column: String = "o.start_time") -> String {
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
        case .month: return dialect.utcText(column, .month)
        }
    }

    /// The name of a bucket from its `bucketKey` key: as `bucket` names it.
    public func bucketLabel(_ bucket: TimeBucket?, key: String) -> String {
        switch bucket {
        case nil: "NULL"
        case .hour: dialect.utcText(key, .hour)
        case .day, .week: dialect.utcText(key, .day)
        case .month: key
        }
    }

    /// The UTC bucket of `column` (µs since the epoch) as text; weeks are named by their Monday.
    public func bucket(_ bucket: TimeBucket?, column: String = "o.start_time") -> String {
        switch bucket {
        case nil: "NULL"
        case .week: dialect.weekText(column)
        case .some(let unit): dialect.utcText(column, unit)
        }
    }

    /// Time range on `time` and tag membership of `traceID`: the filters observation- and trace-level queries share.
    public func addTimeAndTags(
        _ f: AnalyticsFilter, to w: inout SQLConditions, projectID: String, time: String, traceID: String
    ) {
        if let v = f.from { w.add("\(time) >= ?", .int(v.microseconds)) }
        if let v = f.to { w.add("\(time) < ?", .int(v.microseconds)) }
        // Uncorrelated IN: SQLite drives from the tag index instead of testing every row.
        for tag in Set(f.tags).sorted() {
            w.add(
                "\(traceID) IN (SELECT trace_id FROM trace_tag WHERE project_id = ? AND tag = ?)", .text(projectID),
                .text(tag))
        }
    }

    /// The observations as reads that count calls use them, as `FROM \(callSource(...)) o`: `observation`'s
    /// columns plus `n`, the row's count of calls, and `share_cache_read`, `share_cache_write`, `share_reasoning`.
    /// `perTenant`: a shared call is one row per tenant share, with the share's tenant, tokens, costs and saving, `n`
    /// 1 on the share that carries the call and 0 on the others, and the share's token classes (NULL on unshared
    /// rows: read those from `usage_details`). Otherwise every call is one row as stored. SQLite flattens both into
    /// the outer query, so its indexes still serve.
    public static func callSource(perTenant: Bool) -> String {
        guard perTenant else {
            return "(SELECT *, 1 AS n, CAST(NULL AS BIGINT) AS share_cache_read, "
                + "CAST(NULL AS BIGINT) AS share_cache_write, CAST(NULL AS BIGINT) AS share_reasoning FROM observation)"
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
    public static func perTenant(_ dimensions: [AnalyticsDimension], _ f: AnalyticsFilter) -> Bool {
        dimensions.contains(.tenant) || !f.tenants.isEmpty
    }

    /// WHERE conditions over `observation o` or a `callSource` (and `trace t` when `trace` is true).
    public func filter(_ f: AnalyticsFilter, projectID: String) -> (conditions: SQLConditions, trace: Bool) {
        var w = SQLConditions()
        w.add("o.project_id = ?", .text(projectID))
        addTimeAndTags(f, to: &w, projectID: projectID, time: "o.start_time", traceID: "o.trace_id")
        w.any("o.tenant", f.tenants)
        w.any("o.feature", f.features)
        w.any("o.environment", f.environments)
        w.any("o.type", f.types.map(\.rawValue))
        w.any("o.name", f.names)
        w.any(of: ["o.model", "o.response_model"], f.models)
        w.any("t.user_id", f.userIDs)
        w.any("t.name", f.traceNames)
        if let v = f.promptName { w.add("o.prompt_name = ?", .text(v)) }
        if let v = f.promptVersion { w.add("o.prompt_version = ?", .int(Int64(v))) }
        for (key, value) in f.metadata.sorted(by: { $0.key < $1.key }) {
            let m = dialect.metadataText(["o.metadata", "t.metadata"], key: key)
            w.add("\(m.sql) = ?", m.values + [.text(value)])
        }
        return (w, !f.userIDs.isEmpty || !f.traceNames.isEmpty || !f.metadata.isEmpty)
    }

    /// `<name>_ranked AS (…), <name> AS (…)`: nearest-rank percentiles (the ⌈p·n/100⌉-th smallest value) of `value`
    /// over the rows of `source`, per group of `keys` (a single group when empty), NULL values skipped. `outputs`
    /// pairs a percentile with its column alias in `<name>`; `suffix` follows each result (a unit divisor).
    public static func percentileCTE(
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
    public func order(_ q: BreakdownQuery, keys: [String]) -> String {
        let natural = naturalOrder(keys, alias: "a.")
        guard let sort = q.sort else { return "ORDER BY \(natural) LIMIT ?" }
        let column =
            switch sort {
            case .count: "c"
            case .traces: "traces"
            case .inputTokens: "it"
            case .outputTokens: "ot"
            case .totalTokens: "tt"
            case .inputCost: "ic"
            case .outputCost: "oc"
            case .totalCost: "tc"
            case .latencyP50: "p50"
            case .latencyP95: "p95"
            case .latencyP99: "p99"
            case .errorRate: "CAST(errors AS \(dialect.double)) / NULLIF(c, 0)"
            case .cacheSavings: "sv"
            }
        // NULLs (percentiles of groups without latencies) first ascending, last descending, as SQLite sorts them.
        let nulls = dialect.kind == .postgres ? (q.ascending ? " NULLS FIRST" : " NULLS LAST") : ""
        return "ORDER BY \(column) \(q.ascending ? "ASC" : "DESC")\(nulls), \(natural) LIMIT ?"
    }

    /// Group keys in SQLite's order, which PostgreSQL is told: NULL keys first, text by bytes (`bk`, the bucket
    /// key, is an integer or 'YYYY-MM').
    func naturalOrder(_ keys: [String], alias: String = "") -> String {
        keys.map { key in
            guard dialect.kind == .postgres else { return alias + key }
            return key == "bk" ? "\(alias)bk NULLS FIRST" : "\(alias)\(key) COLLATE \"C\" NULLS FIRST"
        }.joined(separator: ", ")
    }

    /// A grouped scan of the calls: the SELECT list of the bucket key `bk` and dimensions `d0`…, its values, and
    /// the FROM clause over `callSource` with the joins the dimensions and `filter` need. `wholeCalls`: one row per
    /// call as stored (`observation o`), a shared call under its own (its trace's) tenant.
    func groupedCalls(
        _ dimensions: [AnalyticsDimension], bucket: TimeBucket?, filter f: AnalyticsFilter, filterNeedsTrace: Bool,
        wholeCalls: Bool = false
    ) -> (select: String, values: [SQLValue], from: String, keys: [String]) {
        var values: [SQLValue] = []
        var joinTrace = filterNeedsTrace
        var joinTag = false
        var dimensionSQL: [String] = []
        for d in dimensions {
            let part = dimension(d)
            dimensionSQL.append(part.sql)
            values += part.values
            joinTrace = joinTrace || part.trace
            joinTag = joinTag || part.tag
        }
        let select =
            ([bucketKey(bucket) + " AS bk"] + dimensionSQL.enumerated().map { "\($0.element) AS d\($0.offset)" })
            .joined(separator: ", ")
        let source = wholeCalls ? "observation" : Self.callSource(perTenant: Self.perTenant(dimensions, f))
        let from =
            "\(source) o"
            + (joinTrace ? " JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id" : "")
            + (joinTag
                ? " JOIN \(dialect.table("trace_tag", "g", index: "trace_tag_trace")) ON g.project_id = o.project_id "
                    + "AND g.trace_id = o.trace_id" : "")
        return (select, values, from, ["bk"] + dimensionSQL.indices.map { "d\($0)" })
    }

    /// The breakdown scanning the observations (per tenant share when it groups or filters by tenant).
    public func rawBreakdown(_ q: BreakdownQuery, projectID: String) -> SQLQuery {
        let filter = filter(q.filter, projectID: projectID)
        let (select, selectValues, from, keys) = groupedCalls(
            q.dimensions, bucket: q.bucket, filter: q.filter, filterNeedsTrace: filter.trace)
        let keyList = keys.joined(separator: ", ")
        let joinOn = keys.map { dialect.same("a.\($0)", "p.\($0)") }.joined(separator: " AND ")
        let latency = q.needsLatency
        let percentiles =
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
                    o.n, o.n * \(dialect.int("o.level = 'ERROR'")) AS err
                FROM \(from) WHERE \(filter.conditions.sql)
            )\(percentiles), a AS (
                SELECT \(keyList), \(dialect.sum("n")) AS c, count(DISTINCT trace_id) AS traces,
                    \(dialect.sum("input_tokens")) AS it, \(dialect.sum("output_tokens")) AS ot,
                    \(dialect.sum("total_tokens")) AS tt, \(dialect.sum("icn")) AS ic, \(dialect.sum("ocn")) AS oc,
                    \(dialect.sum("tcn")) AS tc, \(dialect.sum("err")) AS errors, \(dialect.sum("svn")) AS sv
                FROM base GROUP BY \(keyList)
            )
            SELECT \(bucketLabel(q.bucket, key: "a.bk")) AS b, a.*,
                \(latency ? "p.p50, p.p95, p.p99" : "NULL AS p50, NULL AS p95, NULL AS p99")
            FROM a \(latency ? "LEFT JOIN p ON \(joinOn)" : "")
            \(order(q, keys: keys))
            """
        return SQLQuery(sql, selectValues + filter.conditions.values + [.int(Int64(q.limit))])
    }

    static let rollupDimensions: [AnalyticsDimension: String] = [
        .tenant: "NULLIF(r.tenant, '')", .feature: "NULLIF(r.feature, '')", .environment: "r.environment",
        .type: "r.type", .model: "NULLIF(r.model, '')", .responseModel: "NULLIF(r.response_model, '')",
    ]

    /// Whether `q` is answered from the rollups (else by a scan of the observations).
    public static func isServedFromRollups(_ q: BreakdownQuery) -> Bool {
        AnalyticsSQL(.sqlite).rollupBreakdown(q, projectID: "") != nil
    }

    /// The breakdown answered from the rollups (`rollup_tenant_total_day` or `rollup_tenant_day`, with
    /// `rollup_tenant_total_hour` or `rollup_tenant_hour` for the partial days, when they cover the query, else
    /// `rollup_usage_day`) plus the raw edges (`RollupPlan`), or nil when no rollup covers it.
    public func rollupBreakdown(_ q: BreakdownQuery, projectID: String) -> SQLQuery? {
        let f = q.filter
        guard q.isAdditive, q.bucket != .hour, f.tags.isEmpty, f.promptName == nil, f.promptVersion == nil,
            f.userIDs.isEmpty, f.traceNames.isEmpty, f.names.isEmpty, f.metadata.isEmpty
        else { return nil }
        var rollupDims: [String] = []
        for d in q.dimensions {
            guard let column = Self.rollupDimensions[d] else { return nil }
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
        var values: [SQLValue] = []
        for part in plan.parts {
            var w = SQLConditions()
            w.add("r.project_id = ?", .text(projectID))
            part.range.addUnits(to: &w, column: part.column)
            w.any("r.tenant", f.tenants)
            w.any("r.feature", f.features)
            w.any("r.environment", f.environments)
            w.any("r.type", f.types.map(\.rawValue))
            w.any(of: ["r.model", "r.response_model"], f.models)
            parts.append(
                "SELECT "
                    + select(
                        bucket: bucketKey(q.bucket, column: part.column), dims: rollupDims,
                        measures: "n, errors AS err, input_tokens AS it, output_tokens AS ot, total_tokens AS tt, "
                            + "input_cost_nanos AS icn, output_cost_nanos AS ocn, total_cost_nanos AS tcn")
                    + " FROM \(part.table) r WHERE \(w.sql)")
            values += w.values
        }
        // Covered dimensions are plain observation columns: no values.
        let dims = q.dimensions.map { dimension($0).sql }
        for edge in plan.rawEdges {
            var edgeFilter = f
            edgeFilter.from = Timestamp(microseconds: edge.from)
            edgeFilter.to = Timestamp(microseconds: edge.to)
            let raw = filter(edgeFilter, projectID: projectID).conditions
            let sign = edge.sign < 0 ? "-" : ""
            parts.append(
                "SELECT "
                    + select(
                        bucket: bucketKey(q.bucket), dims: dims,
                        measures:
                            "\(sign)o.n AS n, \(sign)o.n * \(dialect.int("o.level = 'ERROR'")) AS err, "
                            + "\(sign)o.input_tokens AS it, \(sign)o.output_tokens AS ot, "
                            + "\(sign)o.total_tokens AS tt, \(sign)coalesce(o.input_cost_nanos, 0) AS icn, "
                            + "\(sign)coalesce(o.output_cost_nanos, 0) AS ocn, "
                            + "\(sign)coalesce(o.total_cost_nanos, 0) AS tcn")
                    + " FROM \(Self.callSource(perTenant: Self.perTenant(q.dimensions, f))) o WHERE \(raw.sql)")
            values += raw.values
        }
        let sql = """
            WITH base AS (\(parts.joined(separator: " UNION ALL "))), a AS (
                SELECT \(keyList), \(dialect.sum("n")) AS c, \(dialect.sum("it")) AS it, \(dialect.sum("ot")) AS ot,
                    \(dialect.sum("tt")) AS tt, \(dialect.sum("icn")) AS ic, \(dialect.sum("ocn")) AS oc,
                    \(dialect.sum("tcn")) AS tc, \(dialect.sum("err")) AS errors
                FROM base GROUP BY \(keyList)
                HAVING sum(n) != 0 OR sum(it) != 0 OR sum(ot) != 0 OR sum(tt) != 0 OR sum(icn) != 0 OR sum(ocn) != 0
                    OR sum(tcn) != 0
            )
            SELECT \(bucketLabel(q.bucket, key: "a.bk")) AS b, a.* FROM a \(order(q, keys: keys))
            """
        return SQLQuery(sql, values + [.int(Int64(q.limit))])
    }
}

extension SQLConditions {
    /// The clauses joined with AND (`1 = 1` when there are none), their `?` unchanged.
    public var sql: String { clauses.isEmpty ? "1 = 1" : clauses.joined(separator: " AND ") }
}

/// Day (or hour) arithmetic and coverage of the rollups.
public struct RollupRange: Sendable {
    public static let day: Int64 = 86_400_000_000
    public static let hour: Int64 = 3_600_000_000

    /// Whole units [lower, upper) read from a rollup (nil: unbounded) and the partial-unit edges read otherwise.
    public var lower: Int64?
    public var upper: Int64?
    public var edges: [(from: Int64, to: Int64)] = []

    /// nil when the range holds no whole unit (a UTC day by default, or a UTC hour).
    public init?(from: Timestamp?, to: Timestamp?, unit: Int64 = Self.day) {
        self.init(from: from?.microseconds, to: to?.microseconds, unit: unit)
    }

    public init?(from: Int64?, to: Int64?, unit: Int64) {
        lower = from.map { ($0 + unit - 1).floorDiv(unit) * unit }
        upper = to.map { $0.floorDiv(unit) * unit }
        if let lower, let upper, lower >= upper { return nil }
        if let from, let lower, from < lower { edges.append((from, lower)) }
        if let to, let upper, upper < to { edges.append((upper, to)) }
    }

    /// The whole-unit bounds on `column` (`r.day`, `r.hour`) of rollup `r`.
    public func addUnits(to w: inout SQLConditions, column: String = "r.day") {
        if let lower { w.add("\(column) >= ?", .int(lower)) }
        if let upper { w.add("\(column) < ?", .int(upper)) }
    }

    /// `f` narrowed to each partial-day edge, for the raw part of a rollup query.
    public func edgeFilters(of f: AnalyticsFilter) -> [AnalyticsFilter] {
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
public struct RollupPlan: Sendable {
    public var parts: [(table: String, column: String, range: RollupRange)] = []
    /// Raw observation ranges [from, to), added (sign 1) or subtracted (sign −1).
    public var rawEdges: [(from: Int64, to: Int64, sign: Int)] = []

    /// nil when scanning the range directly is cheaper than any rollup plan (the caller scans).
    public init?(from: Timestamp?, to: Timestamp?, dayTable: String, hourTable: String?) {
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
    public func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : -((-self + d - 1) / d) }
}
