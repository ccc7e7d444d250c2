import Foundation
import TallyCore
import TallyStoreAPI

/// The waste finders' queries, one per finder, over `observation o` in a time range (and environments and
/// tenants). Every one aggregates in SQL and returns candidate groups; `InsightReads` judges them. Columns: `f`
/// feature, `m` model.
public struct InsightSQL: Sendable {
    public let dialect: SQLDialect

    public init(_ dialect: SQLDialect) { self.dialect = dialect }

    static let modelCalls = "o.type IN \(SharedSQL.modelCallTypes)"

    /// Project, range [from, to), environments and tenants of `q` on `o`.
    func scope(_ q: InsightQuery, projectID: String, from: Int64? = nil, to: Int64? = nil) -> SQLConditions {
        var w = SQLConditions()
        w.add("o.project_id = ?", .text(projectID))
        w.add("o.start_time >= ?", .int(from ?? q.from.microseconds))
        w.add("o.start_time < ?", .int(to ?? q.to.microseconds))
        w.any("o.environment", q.environments)
        w.any("o.tenant", q.tenants)
        return w
    }

    /// `scope` narrowed to one subject: its feature (NULL-safe), model when given, prompt name and version
    /// (NULL-safe) when `prompt` is given.
    func scope(
        _ q: InsightQuery, projectID: String, from: Int64? = nil, feature: String?, model: String? = nil,
        prompt: (name: String?, version: Int?)? = nil
    ) -> SQLConditions {
        var w = scope(q, projectID: projectID, from: from)
        w.add(dialect.same("o.feature", "?"), .text(feature))
        if let model { w.add("o.model = ?", .text(model)) }
        if let prompt {
            w.add(dialect.same("o.prompt_name", "?"), .text(prompt.name))
            w.add(dialect.same("o.prompt_version", "?"), .int(prompt.version.map(Int64.init)))
        }
        return w
    }

    /// Up to `n` traces per group of `groups` from `base` (a SELECT of the group columns, `trace_id` and a weight
    /// `w`), heaviest first: columns `groups…`, `trace_id`.
    func examples(base: String, groups: [String], n: Int) -> String {
        let list = groups.joined(separator: ", ")
        return """
            SELECT \(list), trace_id FROM (
                SELECT \(list), trace_id, ROW_NUMBER() OVER (PARTITION BY \(list) ORDER BY w DESC, trace_id) AS r
                FROM (SELECT \(list), trace_id, \(dialect.sum("w")) AS w FROM (\(base)) b GROUP BY \(list), trace_id) x
            ) y WHERE r <= \(n)
            """
    }

    /// retry_waste: per feature and model, the model calls that ended in ERROR (`errors`) and their cost
    /// (`waste`), read through the error index (`observation_error_time`); the example traces, costliest first.
    public func retryWaste(_ q: InsightQuery, projectID: String) -> (groups: SQLQuery, examples: SQLQuery) {
        let w = scope(q, projectID: projectID)
        let errors =
            "\(dialect.table("observation", "o", index: "observation_error_time")) WHERE \(w.sql) "
            + "AND o.level = 'ERROR' AND \(Self.modelCalls)"
        let groups = """
            SELECT o.feature AS f, o.model AS m, count(*) AS errors,
                \(dialect.sum("coalesce(o.total_cost_nanos, 0)")) AS waste
            FROM \(errors) GROUP BY o.feature, o.model HAVING \(dialect.sum("coalesce(o.total_cost_nanos, 0)")) > 0
            """
        let base =
            "SELECT o.feature AS f, o.model AS m, o.trace_id, o.total_cost_nanos AS w FROM \(errors) "
            + "AND o.total_cost_nanos > 0"
        return (
            SQLQuery(groups, w.values),
            SQLQuery(examples(base: base, groups: ["f", "m"], n: q.examples), w.values)
        )
    }

    /// The generations in [from, to) (`q`'s range when nil) per feature, model, prompt version and
    /// `TokenHistogram` buckets of input (`bi`) and output (`bo`) tokens: all of them (`c`) and those with a cost
    /// (`cc`). Columns `f`, `m`, `pn`, `pv`.
    public func callShapes(_ q: InsightQuery, projectID: String, from: Int64? = nil, to: Int64? = nil) -> SQLQuery {
        let w = scope(q, projectID: projectID, from: from, to: to)
        let (bi, bo) = (dialect.tokenBucket("o.input_tokens"), dialect.tokenBucket("o.output_tokens"))
        let sql = """
            SELECT o.feature AS f, o.model AS m, o.prompt_name AS pn, o.prompt_version AS pv, \(bi) AS bi,
                \(bo) AS bo, count(*) AS c, \(dialect.sum(dialect.int("o.total_cost_nanos IS NOT NULL"))) AS cc
            FROM observation o WHERE \(w.sql) AND o.type = 'GENERATION'
            GROUP BY o.feature, o.model, o.prompt_name, o.prompt_version, \(bi), \(bo)
            """
        return SQLQuery(sql, w.values)
    }

    /// The generations of `range`'s whole UTC days from `rollup_call_shape_day`: per feature, model, prompt
    /// version (NULL for none), axis (`a`: 0 input, 1 output) and bucket (`b`), all (`c`) and costed (`cc`); nil
    /// when the rollup cannot answer `q` (it has no tenant).
    public func callShapeRollup(_ q: InsightQuery, projectID: String, range: RollupRange) -> SQLQuery? {
        guard q.tenants.isEmpty else { return nil }
        var w = SQLConditions()
        w.add("r.project_id = ?", .text(projectID))
        range.addUnits(to: &w)
        w.any("r.environment", q.environments)
        let sql = """
            SELECT NULLIF(r.feature, '') AS f, NULLIF(r.model, '') AS m, NULLIF(r.prompt_name, '') AS pn,
                CASE WHEN r.prompt_name = '' THEN NULL ELSE r.prompt_version END AS pv, r.axis AS a, r.bucket AS b,
                \(dialect.sum("r.n")) AS c, \(dialect.sum("r.costed")) AS cc
            FROM rollup_call_shape_day r WHERE \(w.sql)
            GROUP BY r.feature, r.model, r.prompt_name, r.prompt_version, r.axis, r.bucket
            """
        return SQLQuery(sql, w.values)
    }

    /// The 95th percentile input (`p95in`) and output (`p95out`) tokens of one feature's costed generations on one
    /// model.
    public func callShape(_ q: InsightQuery, projectID: String, feature: String?, model: String) -> SQLQuery {
        let w = scope(q, projectID: projectID, feature: feature, model: model)
        let sql = """
            WITH base AS (
                SELECT o.input_tokens AS it, o.output_tokens AS ot FROM observation o
                WHERE \(w.sql) AND o.type = 'GENERATION' AND o.total_cost_nanos IS NOT NULL
            ), \(AnalyticsSQL.percentileCTE(name: "pi", source: "base", keys: [], value: "it", outputs: [(95, "p95")])),
            \(AnalyticsSQL.percentileCTE(name: "po", source: "base", keys: [], value: "ot", outputs: [(95, "p95")]))
            SELECT pi.p95 AS p95in, po.p95 AS p95out FROM pi, po
            """
        return SQLQuery(sql, w.values)
    }

    /// Example traces of generations of one feature and model: the costliest.
    public func callExamples(_ q: InsightQuery, projectID: String, feature: String?, model: String) -> SQLQuery {
        let w = scope(q, projectID: projectID, feature: feature, model: model)
        let base = """
            SELECT o.feature AS f, o.trace_id, o.total_cost_nanos AS w FROM observation o
            WHERE \(w.sql) AND o.type = 'GENERATION' AND o.total_cost_nanos IS NOT NULL
            """
        return SQLQuery(examples(base: base, groups: ["f"], n: q.examples), w.values)
    }

    /// Example traces of one feature's generations since `from`: those that sent the most input.
    public func inputExamples(_ q: InsightQuery, projectID: String, feature: String?, from: Int64) -> SQLQuery {
        let w = scope(q, projectID: projectID, from: from, feature: feature)
        let base = """
            SELECT o.feature AS f, o.trace_id, o.input_tokens AS w FROM observation o
            WHERE \(w.sql) AND o.type = 'GENERATION'
            """
        return SQLQuery(examples(base: base, groups: ["f"], n: q.examples), w.values)
    }

    /// The median (`p50`) and 95th percentile (`p95`) input tokens of one feature and prompt version's generations.
    public func inputSpread(
        _ q: InsightQuery, projectID: String, feature: String?, promptName: String?, promptVersion: Int?
    ) -> SQLQuery {
        let w = scope(q, projectID: projectID, feature: feature, prompt: (promptName, promptVersion))
        let sql = """
            WITH base AS (SELECT o.input_tokens AS it FROM observation o WHERE \(w.sql) AND o.type = 'GENERATION'),
            \(AnalyticsSQL.percentileCTE(name: "p", source: "base", keys: [], value: "it", outputs: [(50, "p50"), (95, "p95")]))
            SELECT p.p50, p.p95 FROM p
            """
        return SQLQuery(sql, w.values)
    }

    /// The input cost the generations of one feature and prompt version above `limit` input tokens would save
    /// sent with `median` tokens: Σ input cost × (tokens − median) / tokens, each rounded (`waste`), with example
    /// traces (`trace_id` rows after the first, which holds the sum).
    public func trimmedInput(
        _ q: InsightQuery, projectID: String, feature: String?, promptName: String?, promptVersion: Int?,
        median: Int64, limit: Int64
    ) -> (waste: SQLQuery, examples: SQLQuery) {
        var w = scope(q, projectID: projectID, feature: feature, prompt: (promptName, promptVersion))
        w.add("o.type = 'GENERATION'")
        w.add("o.input_tokens > ?", .int(limit))
        let share =
            "round(CAST(coalesce(o.input_cost_nanos, 0) AS \(dialect.double)) * (o.input_tokens - \(median)) / o.input_tokens)"
        let waste =
            "SELECT \(dialect.sum("CAST(\(share) AS BIGINT)")) AS waste, count(*) AS c FROM observation o WHERE \(w.sql)"
        let base = "SELECT o.feature AS f, o.trace_id, o.input_tokens AS w FROM observation o WHERE \(w.sql)"
        return (SQLQuery(waste, w.values), SQLQuery(examples(base: base, groups: ["f"], n: q.examples), w.values))
    }

    /// agent_loop, per feature: the traces whose model calls in `q`'s scope reach `loopCalls` or whose other
    /// observations (tools, spans, …) repeat one name `loopRepeats` times (`loops`), the cost of their model calls
    /// (`cost`), of those after the cap — the earliest of the `loopCalls`-th call and the `loopRepeats`-th repeat, in
    /// (start time, id) order — (`waste`), the most calls and repeats in one trace; then up to `examples` looping traces
    /// per feature (most waste first) as further rows with `trace_id`.
    ///
    /// Cost: only traces whose stored counts (`call_count`, `step_repeat`, over all their observations) reach a
    /// threshold are read, found through the `trace_observations` index; each is read through `observation_trace`
    /// (its cap by a seek to the n-th call or repeat, its sums in one pass), so no step of the whole range is sorted.
    /// CROSS JOIN keeps SQLite from driving the join from the range's observations. The screen is materialised first:
    /// with the caps' subqueries in its filter, PostgreSQL took 0.2 s to scan 75k traces that a plain filter reads in
    /// 21 ms.
    public func agentLoops(_ q: InsightQuery, projectID: String) -> SQLQuery {
        let w = scope(q, projectID: projectID)
        let t = q.thresholds
        let calls = Self.modelCalls
        // Each correlated read of one trace's observations (alias o), in the scope of `q`.
        let ofTrace = "o.project_id = c.project_id AND o.trace_id = c.id AND \(w.sql)"
        // Per looping trace: its feature, the cost of its calls, of those after the cap, and how many; the most
        // observations of one step name. SQLite joins and groups (its rows arrive trace by trace); PostgreSQL sums
        // each trace in a LATERAL subquery, so its planner cannot trade the per-trace seeks for a hash join over
        // every observation of the range.
        let sums = """
            max(o.feature) AS f,
                \(dialect.sum("CASE WHEN \(calls) THEN coalesce(o.total_cost_nanos, 0) ELSE 0 END")) AS cost,
                \(dialect.sum("CASE WHEN \(calls) AND o.start_time > c.cap THEN coalesce(o.total_cost_nanos, 0) ELSE 0 END"))
                    AS waste,
                \(dialect.sum(dialect.int(calls))) AS calls
            """
        let repeats = """
            (SELECT coalesce(max(r.n), 0) FROM (
                    SELECT count(*) AS n FROM observation o WHERE \(ofTrace) AND NOT \(calls) AND o.name IS NOT NULL
                    GROUP BY o.name) r) AS repeats
            """
        let loops =
            dialect.kind == .sqlite
            ? """
            SELECT c.id AS trace_id, \(sums), \(repeats)
                FROM capped c CROSS JOIN observation o WHERE \(ofTrace) GROUP BY c.project_id, c.id
            """
            : """
            SELECT c.id AS trace_id, s.f, s.cost, s.waste, s.calls, \(repeats)
                FROM capped c CROSS JOIN LATERAL (SELECT \(sums) FROM observation o WHERE \(ofTrace)) s
            """
        let sql = """
            WITH screened AS MATERIALIZED (
                SELECT c.project_id, c.id, c.call_count, c.step_repeat
                FROM \(dialect.table("trace", "c", index: "trace_observations"))
                WHERE c.project_id = ? AND c.observation_count >= \(min(t.loopCalls, t.loopRepeats))
                    AND (c.call_count >= \(t.loopCalls) OR c.step_repeat >= \(t.loopRepeats))
            ), candidates AS (
                SELECT c.project_id, c.id,
                    CASE WHEN c.call_count >= \(t.loopCalls) THEN (
                        SELECT o.start_time FROM observation o WHERE \(ofTrace) AND \(calls)
                        ORDER BY o.start_time, o.id LIMIT 1 OFFSET \(t.loopCalls - 1)) END AS call_cap,
                    CASE WHEN c.step_repeat >= \(t.loopRepeats) THEN (
                        SELECT min((
                            SELECT o.start_time FROM observation o WHERE \(ofTrace) AND NOT \(calls) AND o.name = n.name
                            ORDER BY o.start_time, o.id LIMIT 1 OFFSET \(t.loopRepeats - 1)))
                        FROM (SELECT DISTINCT o.name FROM observation o
                            WHERE \(ofTrace) AND NOT \(calls) AND o.name IS NOT NULL) n) END AS step_cap
                FROM screened c
            ), capped AS (
                SELECT project_id, id, CASE WHEN call_cap IS NULL THEN step_cap
                    WHEN step_cap IS NULL OR call_cap <= step_cap THEN call_cap ELSE step_cap END AS cap
                FROM candidates WHERE call_cap IS NOT NULL OR step_cap IS NOT NULL
            ), loops AS (
                \(loops)
            ), ranked AS (
                SELECT loops.*, ROW_NUMBER() OVER (PARTITION BY loops.f ORDER BY loops.waste DESC, loops.trace_id) AS r
                FROM loops
            )
            SELECT ranked.f, NULL AS trace_id, count(*) AS loops, \(dialect.sum("ranked.cost")) AS cost,
                \(dialect.sum("ranked.waste")) AS waste, max(ranked.calls) AS max_calls, max(ranked.repeats)
                AS max_repeats
            FROM ranked GROUP BY ranked.f
            UNION ALL
            SELECT f, trace_id, NULL, NULL, NULL, NULL, NULL FROM ranked WHERE r <= \(q.examples)
            """
        // The values where their conditions appear: the project (the screen), then the scope's in the call cap, the
        // step cap's seeks and names, the repeats and the sums.
        let scoped = w.values
        return SQLQuery(sql, [.text(projectID)] + scoped + scoped + scoped + scoped + scoped)
    }

    /// cache_opportunity: per feature and model, generations whose input (`input_hash`) the same tenant asked
    /// within the cache window before (`repeats`; calls a cache answered are not counted), the distinct inputs and
    /// tenants among them and their cost (`waste`); then up to `examples` traces per group as rows with `trace_id`.
    public func repeatedInputs(_ q: InsightQuery, projectID: String) -> SQLQuery {
        let w = scope(q, projectID: projectID)
        let hit = dialect.jsonText([("o.metadata", "cache_hit")])
        let sql = """
            WITH seq AS (
                SELECT o.feature AS f, o.model AS m, o.tenant AS tenant, o.trace_id, o.input_hash AS h,
                    coalesce(o.total_cost_nanos, 0) AS cost,
                    \(dialect.int("lower(coalesce(\(hit.sql), '')) IN ('true', '1')")) AS hit,
                    o.start_time - LAG(o.start_time) OVER (PARTITION BY o.tenant, o.input_hash
                        ORDER BY o.start_time, o.id) AS gap
                FROM observation o WHERE \(w.sql) AND o.type = 'GENERATION'
                    AND o.input_hash IN (\(duplicated(w, type: "GENERATION")))
            ), waste AS (
                SELECT * FROM seq WHERE gap <= \(q.thresholds.cacheWindowMicros) AND hit = 0
            )
            SELECT f, m, NULL AS trace_id, count(*) AS repeats, count(DISTINCT h) AS inputs,
                count(DISTINCT tenant) AS tenants, \(dialect.sum("cost")) AS waste
            FROM waste GROUP BY f, m HAVING \(dialect.sum("cost")) > 0
            UNION ALL
            SELECT f, m, trace_id, NULL, NULL, NULL, NULL FROM (\(examples(
                base: "SELECT f, m, trace_id, cost AS w FROM waste WHERE cost > 0", groups: ["f", "m"],
                n: q.examples))) e
            """
        return SQLQuery(sql, hit.values + w.values + w.values)
    }

    /// The input hashes of `type` that occur more than once among `w`'s observations (from the input-hash index
    /// alone; `w`'s values are bound once more).
    func duplicated(_ w: SQLConditions, type: String) -> String {
        "SELECT o.input_hash FROM \(dialect.table("observation", "o", index: "observation_input_hash")) "
            + "WHERE \(w.sql) AND o.type = '\(type)' AND o.input_hash IS NOT NULL GROUP BY o.input_hash HAVING count(*) > 1"
    }

    /// embed_reindex: per feature and model, embedding calls whose input was embedded before in the range
    /// (`repeats`), the distinct inputs among them and their cost (`waste`); then example traces as rows with
    /// `trace_id`.
    public func reembedded(_ q: InsightQuery, projectID: String) -> SQLQuery {
        let w = scope(q, projectID: projectID)
        let sql = """
            WITH seq AS (
                SELECT o.feature AS f, o.model AS m, o.trace_id, o.input_hash AS h,
                    coalesce(o.total_cost_nanos, 0) AS cost,
                    ROW_NUMBER() OVER (PARTITION BY o.input_hash ORDER BY o.start_time, o.id) AS r
                FROM observation o WHERE \(w.sql) AND o.type = 'EMBEDDING'
                    AND o.input_hash IN (\(duplicated(w, type: "EMBEDDING")))
            ), waste AS (SELECT * FROM seq WHERE r > 1)
            SELECT f, m, NULL AS trace_id, count(*) AS repeats, count(DISTINCT h) AS inputs,
                \(dialect.sum("cost")) AS waste
            FROM waste GROUP BY f, m HAVING \(dialect.sum("cost")) > 0
            UNION ALL
            SELECT f, m, trace_id, NULL, NULL, NULL FROM (\(examples(
                base: "SELECT f, m, trace_id, cost AS w FROM waste WHERE cost > 0", groups: ["f", "m"],
                n: q.examples))) e
            """
        return SQLQuery(sql, w.values + w.values)
    }
}
