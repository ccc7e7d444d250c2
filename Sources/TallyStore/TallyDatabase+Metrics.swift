import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

/// Langfuse's metrics query language over Tally's tables: every field and measure maps to a whitelisted SQL
/// expression per view, every value is a bound parameter, aggregation happens in SQL.
struct MetricsView {
    /// FROM clause; `p` is the project id bound first, `time` the µs column of the time range and buckets.
    var from: String
    var projectColumn: String
    var time: String
    var traceID: String
    /// Groupable fields (also filterable).
    var dimensions: [String: String]
    /// Fields that can only be filtered on.
    var filterOnly: [String: String]
    /// Metadata JSON columns tried in order for `stringObject` filters on `metadata`.
    var metadata: [String]
    /// Measure → per-row SQL value and the divisor applied after aggregating (nano-USD → USD: the quotient is
    /// correctly rounded, so an exact sum prints as the decimal a hand calculation gives).
    var measures: [String: (sql: String, divisor: Int)]

    static let costScale = 1_000_000_000

    static func month(_ column: String) -> String { "strftime('%Y-%m', \(column) / 1000000, 'unixepoch')" }

    static let observations = MetricsView(
        from: "observation o JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id",
        projectColumn: "o.project_id", time: "o.start_time", traceID: "o.trace_id",
        dimensions: [
            "environment": "o.environment", "type": "o.type", "name": "o.name", "level": "o.level",
            "version": "o.version", "release": "t.release", "traceName": "t.name", "traceRelease": "t.release",
            "traceVersion": "t.version", "providedModelName": "o.model", "responseModelName": "o.response_model",
            "promptName": "o.prompt_name", "promptVersion": "o.prompt_version",
            "isRootObservation": "(o.parent_observation_id IS NULL)", "startTimeMonth": month("o.start_time"),
            "tenantId": "o.tenant", "feature": "o.feature", "tags": "g.tag",
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
                "(SELECT count(*) FROM score s INDEXED BY score_trace WHERE s.project_id = o.project_id AND s.trace_id = o.trace_id "
                    + "AND s.observation_id = o.id)", 1
            ),
        ])

    /// The columns Langfuse's observation lists filter on (`filter` of `GET /v2/observations`): the observations
    /// view's, plus the per-row ones a list can compare (costs in USD, latency in s).
    static let observationList: MetricsView = {
        var view = observations
        view.filterOnly.merge(
            [
                "endTime": "o.end_time", "statusMessage": "o.status_message", "model": "o.model",
                "inputTokens": "o.input_tokens", "outputTokens": "o.output_tokens", "totalTokens": "o.total_tokens",
                "inputCost": "(o.input_cost_nanos / 1e9)", "outputCost": "(o.output_cost_nanos / 1e9)",
                "totalCost": "(o.total_cost_nanos / 1e9)", "latency": "((o.end_time - o.start_time) / 1e6)",
                "timeToFirstToken": "((o.completion_start_time - o.start_time) / 1e6)",
            ], uniquingKeysWith: { old, _ in old })
        return view
    }()

    static let traces = MetricsView(
        from: "trace t", projectColumn: "t.project_id", time: "t.timestamp", traceID: "t.id",
        dimensions: [
            "id": "t.id", "name": "t.name", "userId": "t.user_id", "sessionId": "t.session_id",
            "release": "t.release", "version": "t.version", "environment": "t.environment",
            "timestampMonth": month("t.timestamp"), "tenantId": "t.tenant", "feature": "t.feature", "tags": "g.tag",
        ],
        filterOnly: ["timestamp": "t.timestamp"],
        metadata: ["t.metadata"],
        measures: [
            "count": ("1", 1),
            "observationsCount": (
                "(SELECT count(*) FROM observation x INDEXED BY observation_trace WHERE x.project_id = t.project_id AND x.trace_id = t.id)",
                1
            ),
            "scoresCount": (
                "(SELECT count(*) FROM score x INDEXED BY score_trace WHERE x.project_id = t.project_id AND x.trace_id = t.id)",
                1
            ),
            "uniqueUserIds": ("t.user_id", 1), "uniqueSessionIds": ("t.session_id", 1),
            "latency": (
                "(SELECT (max(coalesce(x.end_time, x.start_time)) - min(x.start_time)) / 1000.0 FROM observation x INDEXED BY observation_trace "
                    + "WHERE x.project_id = t.project_id AND x.trace_id = t.id)", 1
            ),
            "totalTokens": (
                "(SELECT coalesce(sum(x.total_tokens), 0) FROM observation x INDEXED BY observation_trace WHERE x.project_id = t.project_id "
                    + "AND x.trace_id = t.id)", 1
            ),
            "totalCost": (
                "(SELECT coalesce(sum(x.total_cost_nanos), 0) FROM observation x INDEXED BY observation_trace WHERE x.project_id = t.project_id "
                    + "AND x.trace_id = t.id)", costScale
            ),
        ])

    static func scores(categorical: Bool) -> MetricsView {
        MetricsView(
            from: "score s LEFT JOIN trace t ON t.project_id = s.project_id AND t.id = s.trace_id "
                + "LEFT JOIN observation o ON o.project_id = s.project_id AND o.id = s.observation_id",
            projectColumn: "s.project_id", time: "s.timestamp", traceID: "s.trace_id",
            dimensions: [
                "environment": "s.environment", "name": "s.name", "source": "s.source", "dataType": "s.data_type",
                "configId": "s.config_id", "timestampMonth": month("s.timestamp"),
                "timestampDay": "strftime('%Y-%m-%d', s.timestamp / 1000000, 'unixepoch')",
                categorical ? "stringValue" : "value": categorical ? "s.string_value" : "s.value",
                "traceName": "t.name", "traceRelease": "t.release", "traceVersion": "t.version",
                "observationName": "o.name", "observationModelName": "o.model",
                "observationPromptName": "o.prompt_name", "observationPromptVersion": "o.prompt_version",
                "tags": "g.tag",
            ],
            filterOnly: ["traceId": "s.trace_id", "observationId": "s.observation_id", "timestamp": "s.timestamp"],
            metadata: ["s.metadata"],
            measures: categorical ? ["count": ("1", 1)] : ["count": ("1", 1), "value": ("s.value", 1)])
    }

    static func of(_ view: MetricsQuery.View) -> MetricsView {
        switch view {
        case .observations: return observations
        case .traces: return traces
        case .scoresNumeric: return scores(categorical: false)
        case .scoresCategorical: return scores(categorical: true)
        }
    }

    var dataTypeClause: String? {
        if dimensions["value"] != nil { return "s.data_type IN ('NUMERIC', 'BOOLEAN')" }
        if dimensions["stringValue"] != nil { return "s.data_type = 'CATEGORICAL'" }
        return nil
    }
}

extension TallyDatabase {
    /// Runs a Langfuse metrics query. Rows: one key per dimension field, `time_dimension` (ISO bucket start) when
    /// bucketed, and `<aggregation>_<measure>` per metric. Unknown fields, measures, operators or value types throw
    /// `AnalyticsError.invalid` naming what is allowed.
    public func metrics(projectID: String, query q: MetricsQuery) async throws -> [[String: JSONValue]] {
        let view = MetricsView.of(q.view)
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
            select.append("\(Self.bucketStart(granularity, column: view.time)) AS tb")
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
            let scale = measure.divisor == 1 ? "" : " / \(measure.divisor).0"
            switch m.aggregation {
            case .sum: aggregates.append("sum(v\(i))\(scale) AS m\(i)")
            case .avg: aggregates.append("avg(v\(i))\(scale) AS m\(i)")
            case .count: aggregates.append("count(v\(i)) AS m\(i)")
            case .max: aggregates.append("max(v\(i))\(scale) AS m\(i)")
            case .min: aggregates.append("min(v\(i))\(scale) AS m\(i)")
            case .uniq: aggregates.append("count(DISTINCT v\(i)) AS m\(i)")
            case .p50, .p75, .p90, .p95, .p99:
                let p = m.aggregation.percentile ?? 50  // always set for p50…p99
                percentileCTEs.append(
                    ", "
                        + Self.percentileCTE(
                            name: "q\(i)", source: "base", keys: keys, value: "v\(i)", outputs: [(p, "m\(i)")],
                            suffix: scale))
                percentileJoins.append(
                    "LEFT JOIN q\(i) ON "
                        + (keys.isEmpty ? "1" : keys.map { "a.\($0) IS q\(i).\($0)" }.joined(separator: " AND ")))
            }
        }
        var w = SQLFilter()
        w.add("\(view.projectColumn) = ?", [projectID])
        w.add("\(view.time) >= ? AND \(view.time) < ?", [q.from.microseconds, q.to.microseconds])
        if let clause = view.dataTypeClause { w.add(clause) }
        for (i, f) in q.filters.enumerated() {
            try Self.addMetricsFilter(f, index: i, view: view, projectID: projectID, to: &w)
        }
        let from =
            view.from
            + (joinTag
                ? " JOIN trace_tag g INDEXED BY trace_tag_trace ON g.project_id = \(view.projectColumn) AND g.trace_id = \(view.traceID)"
                : "")
        let metricKeys = q.metrics.map(\.key)
        let outputColumns = q.metrics.indices.map { i in
            q.metrics[i].aggregation.percentile != nil ? "q\(i).m\(i) AS m\(i)" : "a.m\(i)"
        }
        var order: [String] = []
        for o in q.orderBy {
            let column: String
            if let d = dimensionNames.firstIndex(of: o.field) {
                column = "a.k\(d)"
            } else if o.field == "time_dimension", granularity != nil {
                column = "a.tb"
            } else if let m = metricKeys.firstIndex(of: o.field) {
                column = "m\(m)"
            } else {
                throw AnalyticsError.invalid(
                    "orderBy field \"\(o.field.prefix(40))\": use a dimension field, time_dimension or a metric key ("
                        + metricKeys.joined(separator: ", ") + ")")
            }
            order.append("\(column) \(o.descending ? "DESC" : "ASC")")
        }
        order += keys.map { "a.\($0)" }
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
        let arguments = w.arguments + [q.rowLimit]
        return try await boundedRead { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row -> [String: JSONValue] in
                var out: [String: JSONValue] = [:]
                for (i, field) in dimensionNames.enumerated() { out[field] = Self.json(row["k\(i)"]) }
                if granularity != nil {
                    out["time_dimension"] =
                        (row["tb"] as Int64?).map { .string(Timestamp(microseconds: $0).iso8601) }
                        ?? .null
                }
                for (i, key) in metricKeys.enumerated() { out[key] = Self.json(row["m\(i)"]) }
                return out
            }
        }
    }

    static func json(_ value: DatabaseValue?) -> JSONValue {
        switch value?.storage {
        case .int64(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        default: return .null
        }
    }

    /// µs of the start of the UTC bucket holding `column` (weeks start on Monday).
    static func bucketStart(_ g: MetricsQuery.Granularity, column c: String) -> String {
        switch g {
        case .minute: return "(\(c) / 60000000 * 60000000)"
        case .hour: return "(\(c) / 3600000000 * 3600000000)"
        case .auto, .day: return "(\(c) / 86400000000 * 86400000000)"
        case .week:
            return
                "(\(c) / 86400000000 * 86400000000 - ((CAST(strftime('%w', \(c) / 1000000, 'unixepoch') AS INTEGER) + 6) % 7) * 86400000000)"
        case .month: return "(unixepoch(strftime('%Y-%m-01', \(c) / 1000000, 'unixepoch')) * 1000000)"
        }
    }

    static func addMetricsFilter(
        _ f: MetricsQuery.Filter, index i: Int, view: MetricsView, projectID: String, to w: inout SQLFilter
    ) throws {
        func invalid(_ message: String) -> AnalyticsError { .invalid("filters[\(i)]: \(message)") }
        if f.column == "tags" {
            guard f.type == "arrayOptions", let values = f.value.arrayValue?.compactMap(\.stringValue) else {
                throw invalid("tags take type arrayOptions with an array of strings")
            }
            let marks = SQLFilter.marks(values.count)
            let sub =
                "SELECT count(DISTINCT x.tag) FROM trace_tag x WHERE x.project_id = ? AND x.trace_id = \(view.traceID) AND x.tag IN (\(marks))"
            let args: [(any DatabaseValueConvertible)?] = [projectID] + values
            switch f.op {
            case "any of": w.add("(\(sub)) > 0", args)
            case "all of": w.add("(\(sub)) = ?", args + [Set(values).count])
            case "none of": w.add("(\(sub)) = 0", args)
            default: throw invalid("tags: operator must be any of, all of or none of")
            }
            return
        }
        let column: String
        // Arguments of `column` itself (the metadata path), bound again wherever the clause repeats the column.
        var c: [(any DatabaseValueConvertible)?] = []
        if f.column == "metadata" {
            guard f.type == "stringObject", let key = f.key, MetadataKey.isValid(key) else {
                throw invalid("metadata takes type stringObject and a key of 1–100 characters of A-Z a-z 0-9 _ . -")
            }
            column =
                "CAST(coalesce(" + view.metadata.map { "json_extract(\($0), ?)" }.joined(separator: ", ") + ") AS TEXT)"
            c = view.metadata.map { _ in "$.\"\(key)\"" }
        } else if let sql = view.dimensions[f.column] ?? view.filterOnly[f.column] {
            column = sql
        } else {
            throw invalid(
                "column \"\(f.column.prefix(40))\" is not a field of this view; use "
                    + (Array(view.dimensions.keys) + Array(view.filterOnly.keys) + ["metadata"]).sorted()
                    .joined(separator: ", "))
        }
        switch f.type {
        case "string", "stringObject":
            guard let v = f.value.stringValue else { throw invalid("a \(f.type) filter takes a string value") }
            switch f.op {
            case "=": w.add("\(column) = ?", c + [v])
            case "!=", "<>": w.add("\(column) IS NOT ?", c + [v])
            case "contains": w.add("instr(\(column), ?) > 0", c + [v])
            case "does not contain": w.add("coalesce(instr(\(column), ?), 0) = 0", c + [v])
            case "starts with": w.add("substr(\(column), 1, length(?)) = ?", c + [v, v])
            case "ends with": w.add("substr(\(column), -length(?)) = ? AND length(?) > 0", c + [v, v, v])
            default: throw invalid("string operators: =, !=, contains, does not contain, starts with, ends with")
            }
        case "stringOptions":
            guard let values = f.value.arrayValue?.compactMap(\.stringValue), !values.isEmpty else {
                throw invalid("stringOptions take a non-empty array of strings")
            }
            let marks = SQLFilter.marks(values.count)
            switch f.op {
            case "any of": w.add("\(column) IN (\(marks))", c + values)
            case "none of": w.add("(\(column) IS NULL OR \(column) NOT IN (\(marks)))", c + c + values)
            default: throw invalid("stringOptions operators: any of, none of")
            }
        case "number", "datetime", "boolean":
            let value: any DatabaseValueConvertible
            if f.type == "datetime" {
                guard let text = f.value.stringValue, let t = Timestamp(iso8601: text) else {
                    throw invalid("a datetime filter takes an ISO 8601 date-time")
                }
                value = t.microseconds
            } else if f.type == "boolean" {
                guard case .bool(let b) = f.value else { throw invalid("a boolean filter takes true or false") }
                value = b
            } else {
                guard let d = f.value.doubleValue else { throw invalid("a number filter takes a number") }
                value = d
            }
            let ops = f.type == "boolean" ? ["=", "<>", "!="] : ["=", ">", "<", ">=", "<=", "!=", "<>"]
            guard ops.contains(f.op) else { throw invalid("\(f.type) operators: " + ops.joined(separator: ", ")) }
            w.add("\(column) \(f.op == "!=" ? "<>" : f.op) ?", c + [value])
        case "null":
            switch f.op {
            case "is null": w.add("\(column) IS NULL", c)
            case "is not null": w.add("\(column) IS NOT NULL", c)
            default: throw invalid("null operators: is null, is not null")
            }
        default:
            throw invalid(
                "type must be string, stringOptions, arrayOptions, stringObject, number, datetime, boolean or null")
        }
    }
}
