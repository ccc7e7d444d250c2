import Foundation
import TallyCore
import TallyStoreAPI

/// Langfuse's metrics query language over Tally's tables: every field and measure maps to a whitelisted SQL
/// expression per view (in the store's dialect), every value is a bound `?`, aggregation happens in SQL.
public struct MetricsView: Sendable {
    /// FROM clause; `time` is the µs column of the time range and buckets.
    public var from: String
    public var projectColumn: String
    public var time: String
    public var traceID: String
    /// Groupable fields (also filterable).
    public var dimensions: [String: String]
    /// Fields that can only be filtered on.
    public var filterOnly: [String: String]
    /// Metadata JSON columns tried in order for `stringObject` filters on `metadata`.
    public var metadata: [String]
    /// Measure → per-row SQL value and the divisor applied after aggregating (nano-USD → USD: the quotient is
    /// correctly rounded, so an exact sum prints as the decimal a hand calculation gives).
    public var measures: [String: (sql: String, divisor: Int)]
    /// Measures whose values are integers or text: their sums, minima, maxima and percentiles need no cast.
    public var exactMeasures: Set<String>

    static let costScale = 1_000_000_000

    public static func observations(_ d: SQLDialect) -> MetricsView {
        let scores = d.table("score", "s", index: "score_trace")
        return MetricsView(
            from: "observation o JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id",
            projectColumn: "o.project_id", time: "o.start_time", traceID: "o.trace_id",
            dimensions: [
                "environment": "o.environment", "type": "o.type", "name": "o.name", "level": "o.level",
                "version": "o.version", "release": "t.release", "traceName": "t.name", "traceRelease": "t.release",
                "traceVersion": "t.version", "providedModelName": "o.model", "responseModelName": "o.response_model",
                "promptName": "o.prompt_name", "promptVersion": "o.prompt_version",
                "isRootObservation": d.int("o.parent_observation_id IS NULL"),
                "startTimeMonth": d.utcText("o.start_time", .month), "tenantId": "o.tenant", "feature": "o.feature",
                "tags": "g.tag",
            ],
            filterOnly: [
                "id": "o.id", "traceId": "o.trace_id", "userId": "t.user_id", "sessionId": "t.session_id",
                "parentObservationId": "o.parent_observation_id", "startTime": "o.start_time",
            ],
            metadata: ["o.metadata", "t.metadata"],
            measures: [
                "count": ("1", 1), "latency": ("(o.end_time - o.start_time) / 1000.0", 1),
                "streamingLatency": ("(o.end_time - o.completion_start_time) / 1000.0", 1),
                "timeToFirstToken": ("(o.completion_start_time - o.start_time) / 1000.0", 1),
                "inputTokens": ("o.input_tokens", 1), "outputTokens": ("o.output_tokens", 1),
                "totalTokens": ("o.total_tokens", 1),
                "outputTokensPerSecond": ("o.output_tokens * 1000000.0 / nullif(o.end_time - o.start_time, 0)", 1),
                "tokensPerSecond": ("o.total_tokens * 1000000.0 / nullif(o.end_time - o.start_time, 0)", 1),
                "inputCost": ("o.input_cost_nanos", costScale), "outputCost": ("o.output_cost_nanos", costScale),
                "totalCost": ("o.total_cost_nanos", costScale),
                "countScores": (
                    "(SELECT count(*) FROM \(scores) WHERE s.project_id = o.project_id AND s.trace_id = o.trace_id "
                        + "AND s.observation_id = o.id)", 1
                ),
            ],
            exactMeasures: ["count", "inputTokens", "outputTokens", "totalTokens", "countScores"])
    }

    /// The columns Langfuse's observation lists filter on (`filter` of `GET /v2/observations`): the observations
    /// view's, plus the per-row ones a list can compare (costs in USD, latency in s).
    public static func observationList(_ d: SQLDialect) -> MetricsView {
        var view = observations(d)
        view.filterOnly.merge(
            [
                "endTime": "o.end_time", "statusMessage": "o.status_message", "model": "o.model",
                "inputTokens": "o.input_tokens", "outputTokens": "o.output_tokens", "totalTokens": "o.total_tokens",
                "inputCost": "(o.input_cost_nanos / 1e9)", "outputCost": "(o.output_cost_nanos / 1e9)",
                "totalCost": "(o.total_cost_nanos / 1e9)", "latency": "((o.end_time - o.start_time) / 1e6)",
                "timeToFirstToken": "((o.completion_start_time - o.start_time) / 1e6)",
            ], uniquingKeysWith: { old, _ in old })
        return view
    }

    public static func traces(_ d: SQLDialect) -> MetricsView {
        let observations = d.table("observation", "x", index: "observation_trace")
        return MetricsView(
            from: "trace t", projectColumn: "t.project_id", time: "t.timestamp", traceID: "t.id",
            dimensions: [
                "id": "t.id", "name": "t.name", "userId": "t.user_id", "sessionId": "t.session_id",
                "release": "t.release", "version": "t.version", "environment": "t.environment",
                "timestampMonth": d.utcText("t.timestamp", .month), "tenantId": "t.tenant", "feature": "t.feature",
                "tags": "g.tag",
            ],
            filterOnly: ["timestamp": "t.timestamp"],
            metadata: ["t.metadata"],
            measures: [
                "count": ("1", 1),
                "observationsCount": (
                    "(SELECT count(*) FROM \(observations) WHERE x.project_id = t.project_id AND x.trace_id = t.id)", 1
                ),
                "scoresCount": (
                    "(SELECT count(*) FROM \(d.table("score", "x", index: "score_trace")) "
                        + "WHERE x.project_id = t.project_id AND x.trace_id = t.id)", 1
                ),
                "uniqueUserIds": ("t.user_id", 1), "uniqueSessionIds": ("t.session_id", 1),
                "latency": (
                    "(SELECT (max(coalesce(x.end_time, x.start_time)) - min(x.start_time)) / 1000.0 "
                        + "FROM \(observations) WHERE x.project_id = t.project_id AND x.trace_id = t.id)", 1
                ),
                "totalTokens": (
                    "(SELECT coalesce(sum(x.total_tokens), 0) FROM \(observations) "
                        + "WHERE x.project_id = t.project_id AND x.trace_id = t.id)", 1
                ),
                "totalCost": (
                    "(SELECT coalesce(sum(x.total_cost_nanos), 0) FROM \(observations) "
                        + "WHERE x.project_id = t.project_id AND x.trace_id = t.id)", costScale
                ),
            ],
            exactMeasures: [
                "count", "observationsCount", "scoresCount", "totalTokens", "uniqueUserIds", "uniqueSessionIds",
            ])
    }

    public static func scores(_ d: SQLDialect, categorical: Bool) -> MetricsView {
        MetricsView(
            from: "score s LEFT JOIN trace t ON t.project_id = s.project_id AND t.id = s.trace_id "
                + "LEFT JOIN observation o ON o.project_id = s.project_id AND o.id = s.observation_id",
            projectColumn: "s.project_id", time: "s.timestamp", traceID: "s.trace_id",
            dimensions: [
                "environment": "s.environment", "name": "s.name", "source": "s.source", "dataType": "s.data_type",
                "configId": "s.config_id", "timestampMonth": d.utcText("s.timestamp", .month),
                "timestampDay": d.utcText("s.timestamp", .day),
                categorical ? "stringValue" : "value": categorical ? "s.string_value" : "s.value",
                "traceName": "t.name", "traceRelease": "t.release", "traceVersion": "t.version",
                "observationName": "o.name", "observationModelName": "o.model",
                "observationPromptName": "o.prompt_name", "observationPromptVersion": "o.prompt_version",
                "tags": "g.tag",
            ],
            filterOnly: ["traceId": "s.trace_id", "observationId": "s.observation_id", "timestamp": "s.timestamp"],
            metadata: ["s.metadata"],
            measures: categorical ? ["count": ("1", 1)] : ["count": ("1", 1), "value": ("s.value", 1)],
            exactMeasures: ["count"])
    }

    public static func of(_ view: MetricsQuery.View, _ d: SQLDialect) -> MetricsView {
        switch view {
        case .observations: observations(d)
        case .traces: traces(d)
        case .scoresNumeric: scores(d, categorical: false)
        case .scoresCategorical: scores(d, categorical: true)
        }
    }

    var dataTypeClause: String? {
        if dimensions["value"] != nil { return "s.data_type IN ('NUMERIC', 'BOOLEAN')" }
        if dimensions["stringValue"] != nil { return "s.data_type = 'CATEGORICAL'" }
        return nil
    }
}

extension SQLReader {
    /// Runs a Langfuse metrics query. Rows: one key per dimension field, `time_dimension` (ISO bucket start) when
    /// bucketed, and `<aggregation>_<measure>` per metric. Unknown fields, measures, operators or value types throw
    /// `AnalyticsError.invalid` naming what is allowed.
    public func sharedMetrics(projectID: String, query q: MetricsQuery) async throws -> [[String: JSONValue]] {
        let d = dialect
        let view = MetricsView.of(q.view, d)
        let dimensionNames = q.dimensions.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        var keys: [String] = []
        var select: [String] = []
        for (i, field) in dimensionNames.enumerated() {
            guard let sql = view.dimensions[field] else {
                throw AnalyticsError.invalid(
                    "dimension \"\(field.prefix(40))\" is not a field of the \(q.view.rawValue) view; use "
                        + view.dimensions.keys.sorted().joined(separator: ", "))
            }
            keys.append("k\(i)")
            select.append("\(sql) AS k\(i)")
        }
        let joinTag = dimensionNames.contains("tags")
        let granularity = q.resolvedGranularity
        if let granularity {
            keys.append("tb")
            select.append("\(MetricsSQL.bucketStart(granularity, column: view.time, d)) AS tb")
        }
        var measureColumns: [String] = []
        var aggregates = ["count(*) AS rows_"]
        var percentileCTEs: [String] = []
        var percentileJoins: [String] = []
        let keyList = keys.isEmpty ? "" : keys.joined(separator: ", ")
        for (i, m) in q.metrics.enumerated() {
            guard let measure = view.measures[m.measure] else {
                throw AnalyticsError.invalid(
                    "measure \"\(m.measure.prefix(40))\" is not a measure of the \(q.view.rawValue) view; use "
                        + view.measures.keys.sorted().joined(separator: ", "))
            }
            measureColumns.append("\(measure.sql) AS v\(i)")
            // An aggregate as SQLite gives it: integers of integer measures, text of text ones, else floating point
            // (PostgreSQL's numeric results are cast to double precision).
            let exact = view.exactMeasures.contains(m.measure) && measure.divisor == 1
            func value(_ expr: String, average: Bool = false) -> String {
                let scaled = measure.divisor == 1 ? "" : " / \(measure.divisor).0"
                guard d.kind == .postgres, !exact || average else { return expr + scaled }
                return "CAST(\(expr) AS \(d.double))\(scaled)"
            }
            switch m.aggregation {
            case .sum: aggregates.append("\(value("sum(v\(i))")) AS m\(i)")
            case .avg: aggregates.append("\(value("avg(v\(i))", average: true)) AS m\(i)")
            case .count: aggregates.append("count(v\(i)) AS m\(i)")
            case .max: aggregates.append("\(value("max(v\(i))")) AS m\(i)")
            case .min: aggregates.append("\(value("min(v\(i))")) AS m\(i)")
            case .uniq: aggregates.append("count(DISTINCT v\(i)) AS m\(i)")
            case .p50, .p75, .p90, .p95, .p99:
                let p = m.aggregation.percentile ?? 50  // always set for p50…p99
                percentileCTEs.append(
                    ", "
                        + AnalyticsSQL.percentileCTE(
                            name: "q\(i)", source: "base", keys: keys, value: "v\(i)",
                            outputs: [(p, "m\(i)")],
                            suffix: measure.divisor == 1 ? "" : " / \(measure.divisor).0"))
                percentileJoins.append(
                    "LEFT JOIN q\(i) ON "
                        + (keys.isEmpty
                            ? "1 = 1" : keys.map { d.same("a.\($0)", "q\(i).\($0)") }.joined(separator: " AND ")))
            }
        }
        var w = SQLConditions()
        w.add("\(view.projectColumn) = ?", .text(projectID))
        w.add("\(view.time) >= ? AND \(view.time) < ?", .int(q.from.microseconds), .int(q.to.microseconds))
        if let clause = view.dataTypeClause { w.add(clause) }
        for (i, f) in q.filters.enumerated() {
            try MetricsSQL.addFilter(f, index: i, view: view, projectID: projectID, dialect: d, to: &w)
        }
        let from =
            view.from
            + (joinTag
                ? " JOIN \(d.table("trace_tag", "g", index: "trace_tag_trace")) ON g.project_id = \(view.projectColumn) "
                    + "AND g.trace_id = \(view.traceID)" : "")
        let metricKeys = q.metrics.map(\.key)
        let outputColumns = q.metrics.indices.map { i in
            guard q.metrics[i].aggregation.percentile != nil else { return "a.m\(i)" }
            let exact = view.exactMeasures.contains(q.metrics[i].measure)
            return d.kind == .postgres && !exact ? "CAST(q\(i).m\(i) AS \(d.double)) AS m\(i)" : "q\(i).m\(i) AS m\(i)"
        }
        var order: [String] = []
        for o in q.orderBy {
            let column: String
            if let k = dimensionNames.firstIndex(of: o.field) {
                column = "a.k\(k)"
            } else if o.field == "time_dimension", granularity != nil {
                column = "a.tb"
            } else if let m = metricKeys.firstIndex(of: o.field) {
                column = "m\(m)"
            } else {
                throw AnalyticsError.invalid(
                    "orderBy field \"\(o.field.prefix(40))\": use a dimension field, time_dimension or a metric key ("
                        + metricKeys.joined(separator: ", ") + ")")
            }
            let nulls = d.kind == .postgres ? (o.descending ? " NULLS LAST" : " NULLS FIRST") : ""
            order.append("\(column) \(o.descending ? "DESC" : "ASC")\(nulls)")
        }
        order += keys.map { d.kind == .postgres ? "a.\($0) NULLS FIRST" : "a.\($0)" }
        let sql = """
            WITH base AS (
                SELECT \((select + measureColumns).joined(separator: ", ")) FROM \(from) WHERE \(w.sql)
            )\(percentileCTEs.joined()), a AS (
                SELECT \((keys + aggregates).joined(separator: ", ")) FROM base\(keys.isEmpty ? "" : " GROUP BY " + keyList)
            )
            SELECT \((keys.map { "a.\($0)" } + outputColumns).joined(separator: ", "))
            FROM a \(percentileJoins.joined(separator: " "))
            \(order.isEmpty ? "" : "ORDER BY " + order.joined(separator: ", ")) LIMIT ?
            """
        return try await rows(SQLQuery(sql, w.values + [.int(Int64(q.rowLimit))])).map { row in
            var out: [String: JSONValue] = [:]
            for (i, field) in dimensionNames.enumerated() { out[field] = MetricsSQL.json(row.cells["k\(i)"]) }
            if granularity != nil {
                out["time_dimension"] = row.int("tb").map { .string(Timestamp(microseconds: $0).iso8601) } ?? .null
            }
            for (i, key) in metricKeys.enumerated() { out[key] = MetricsSQL.json(row.cells["m\(i)"]) }
            return out
        }
    }
}

/// The metrics query's time buckets and filters, per dialect.
public enum MetricsSQL {
    static func json(_ cell: SQLCell?) -> JSONValue {
        switch cell {
        case .int(let i)?: .int(i)
        case .double(let d)?: .double(d)
        case .text(let s)?: .string(s)
        default: .null
        }
    }

    /// µs of the start of the UTC bucket holding `column` (weeks start on Monday).
    static func bucketStart(_ g: MetricsQuery.Granularity, column c: String, _ d: SQLDialect) -> String {
        switch g {
        case .minute: return "(\(c) / 60000000 * 60000000)"
        case .hour: return "(\(c) / 3600000000 * 3600000000)"
        case .auto, .day: return "(\(c) / 86400000000 * 86400000000)"
        case .week:
            let weekday =
                d.kind == .sqlite
                ? "CAST(strftime('%w', \(c) / 1000000, 'unixepoch') AS INTEGER)"
                : "CAST(extract(dow FROM to_timestamp(floor(\(c) / 1000000.0)) AT TIME ZONE 'UTC') AS BIGINT)"
            return "(\(c) / 86400000000 * 86400000000 - ((\(weekday) + 6) % 7) * 86400000000)"
        case .month:
            return d.kind == .sqlite
                ? "(unixepoch(strftime('%Y-%m-01', \(c) / 1000000, 'unixepoch')) * 1000000)"
                : "(CAST(extract(epoch FROM date_trunc('month', to_timestamp(floor(\(c) / 1000000.0)) AT TIME ZONE 'UTC')) AS BIGINT) * 1000000)"
        }
    }

    /// Adds one filter of a metrics query or an observation list (`view`'s columns) to `w`.
    public static func addFilter(
        _ f: MetricsQuery.Filter, index i: Int, view: MetricsView, projectID: String, dialect d: SQLDialect,
        to w: inout SQLConditions
    ) throws {
        func invalid(_ message: String) -> AnalyticsError { .invalid("filters[\(i)]: \(message)") }
        func marks(_ n: Int) -> String { Array(repeating: "?", count: n).joined(separator: ", ") }
        if f.column == "tags" {
            guard f.type == .arrayOptions, let values = f.value.arrayValue?.compactMap(\.stringValue) else {
                throw invalid("tags take type arrayOptions with an array of strings")
            }
            let sub =
                "SELECT count(DISTINCT x.tag) FROM trace_tag x WHERE x.project_id = ? AND x.trace_id = \(view.traceID) "
                + "AND x.tag IN (\(marks(values.count)))"
            let args: [SQLValue] = [.text(projectID)] + values.map { .text($0) }
            switch f.op {
            case .anyOf: w.add("(\(sub)) > 0", args)
            case .allOf: w.add("(\(sub)) = ?", args + [.int(Int64(Set(values).count))])
            case .noneOf: w.add("(\(sub)) = 0", args)
            default: throw invalid("tags: operator must be any of, all of or none of")
            }
            return
        }
        let column: String
        // Values of `column` itself (the metadata key), bound again wherever the clause repeats the column.
        var c: [SQLValue] = []
        if f.column == "metadata" {
            guard f.type == .stringObject, let key = f.key.flatMap(MetadataKey.init) else {
                throw invalid("metadata takes type stringObject and a key of 1–100 characters of A-Z a-z 0-9 _ . -")
            }
            let m = d.metadataText(view.metadata, key: key)
            column = m.sql
            c = m.values
        } else if let sql = view.dimensions[f.column] ?? view.filterOnly[f.column] {
            column = sql
        } else {
            throw invalid(
                "column \"\(f.column.prefix(40))\" is not a field of this view; use "
                    + (Array(view.dimensions.keys) + Array(view.filterOnly.keys) + ["metadata"]).sorted()
                    .joined(separator: ", "))
        }
        let sqlite = d.kind == .sqlite
        switch f.type {
        case .string, .stringObject:
            guard let text = f.value.stringValue else {
                throw invalid("a \(f.type.rawValue) filter takes a string value")
            }
            let v = SQLValue.text(text)
            switch f.op {
            case .equals: w.add("\(column) = ?", c + [v])
            case .notEquals, .notEqualsSQL:
                w.add(sqlite ? "\(column) IS NOT ?" : "\(column) IS DISTINCT FROM ?", c + [v])
            case .contains: w.add(sqlite ? "instr(\(column), ?) > 0" : "strpos(\(column), ?) > 0", c + [v])
            case .doesNotContain:
                w.add(
                    sqlite ? "coalesce(instr(\(column), ?), 0) = 0" : "coalesce(strpos(\(column), ?), 0) = 0", c + [v])
            case .startsWith: w.add("substr(\(column), 1, length(?)) = ?", c + [v, v])
            case .endsWith:
                w.add(
                    sqlite
                        ? "substr(\(column), -length(?)) = ? AND length(?) > 0"
                        : "right(\(column), length(?)) = ? AND length(?) > 0",
                    c + [v, v, v])
            default: throw invalid("string operators: =, !=, contains, does not contain, starts with, ends with")
            }
        case .stringOptions:
            guard let values = f.value.arrayValue?.compactMap(\.stringValue), !values.isEmpty else {
                throw invalid("stringOptions take a non-empty array of strings")
            }
            let list = values.map { SQLValue.text($0) }
            switch f.op {
            case .anyOf: w.add("\(column) IN (\(marks(values.count)))", c + list)
            case .noneOf: w.add("(\(column) IS NULL OR \(column) NOT IN (\(marks(values.count))))", c + c + list)
            default: throw invalid("stringOptions operators: any of, none of")
            }
        case .number, .datetime, .boolean:
            let value: SQLValue
            var target = column
            if f.type == .datetime {
                guard let text = f.value.stringValue, let t = Timestamp(iso8601: text) else {
                    throw invalid("a datetime filter takes an ISO 8601 date-time")
                }
                value = .int(t.microseconds)
            } else if f.type == .boolean {
                guard case .bool(let b) = f.value else { throw invalid("a boolean filter takes true or false") }
                // Compared as 0/1 on both stores (SQLite keeps booleans as integers).
                value = .int(b ? 1 : 0)
                if !sqlite { target = "CAST(\(column) AS INTEGER)" }
            } else {
                guard let number = f.value.doubleValue else { throw invalid("a number filter takes a number") }
                value = .double(number)
            }
            let ops: [MetricsQuery.Operator] =
                f.type == .boolean
                ? [.equals, .notEqualsSQL, .notEquals]
                : [.equals, .greater, .less, .atLeast, .atMost, .notEquals, .notEqualsSQL]
            guard ops.contains(f.op), let comparison = f.op.comparison else {
                throw invalid("\(f.type.rawValue) operators: " + ops.map(\.rawValue).joined(separator: ", "))
            }
            w.add("\(target) \(comparison) ?", c + [value])
        case .null:
            switch f.op {
            case .isNull: w.add("\(column) IS NULL", c)
            case .isNotNull: w.add("\(column) IS NOT NULL", c)
            default: throw invalid("null operators: is null, is not null")
            }
        case .arrayOptions:
            throw invalid("arrayOptions filters only the tags column")
        }
    }
}
