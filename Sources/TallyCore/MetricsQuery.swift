import Foundation

/// Langfuse's metrics query (`GET /api/public/metrics?query=` and `/v2/metrics?query=`), parsed and checked for shape.
/// Which fields and measures exist is decided per view by the store; this value only holds the request.
public struct MetricsQuery: Sendable, Hashable {
    public enum View: String, Sendable, CaseIterable {
        case traces, observations
        case scoresNumeric = "scores-numeric"
        case scoresCategorical = "scores-categorical"
    }

    public enum Aggregation: String, Sendable, CaseIterable {
        case sum, avg, count, max, min, p50, p75, p90, p95, p99, uniq

        /// The percentile (1–99) of a percentile aggregation.
        public var percentile: Int? {
            switch self {
            case .p50: return 50
            case .p75: return 75
            case .p90: return 90
            case .p95: return 95
            case .p99: return 99
            default: return nil
            }
        }
    }

    public enum Granularity: String, Sendable, CaseIterable {
        case auto, minute, hour, day, week, month
    }

    public struct Metric: Sendable, Hashable {
        public var measure: String
        public var aggregation: Aggregation
        /// The result key: `<aggregation>_<measure>`.
        public var key: String { "\(aggregation.rawValue)_\(measure)" }
    }

    /// A filter's `operator`, as Langfuse spells it. Which ones a type takes is the SQL layer's to check (it names
    /// them in its error).
    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case equals = "=", notEquals = "!=", notEqualsSQL = "<>", greater = ">", less = "<", atLeast = ">="
        case atMost = "<=", contains, doesNotContain = "does not contain", startsWith = "starts with"
        case endsWith = "ends with", anyOf = "any of", allOf = "all of", noneOf = "none of", isNull = "is null"
        case isNotNull = "is not null"

        /// The SQL comparison of the ordering operators (`!=` as `<>`); nil for the others.
        public var comparison: String? {
            switch self {
            case .equals, .greater, .less, .atLeast, .atMost: rawValue
            case .notEquals, .notEqualsSQL: "<>"
            default: nil
            }
        }
    }

    /// A filter's `type`: how its `value` reads.
    public enum ValueType: String, Sendable, Hashable, CaseIterable {
        case string, stringOptions, arrayOptions, stringObject, number, datetime, boolean, null
    }

    /// `{column, operator, value, type, key?}`: `value` as given (string, number, boolean, array of strings).
    public struct Filter: Sendable, Hashable {
        public var column: String
        public var op: Operator
        public var value: JSONValue
        public var type: ValueType
        public var key: String?

        /// A JSON array of filters (a metrics query's `filters`, or the `filter` parameter of the list routes);
        /// errors name `field` and the index.
        public static func list(_ json: JSONValue, field: String) throws(MetricsQueryError) -> [Filter] {
            guard let list = json.arrayValue else { throw .invalid("\(field): expected a JSON array of filters") }
            guard list.count <= MetricsQuery.maxFilters else {
                throw .invalid("\(field): \(list.count) filters; at most \(MetricsQuery.maxFilters) are accepted")
            }
            return try list.enumerated().map { (i, f) throws(MetricsQueryError) in
                guard let o = f.objectValue, let column = o["column"]?.stringValue,
                    let opName = o["operator"]?.stringValue, let typeName = o["type"]?.stringValue,
                    let value = o["value"]
                else { throw .invalid("\(field)[\(i)]: expected {column, operator, value, type}") }
                guard let type = ValueType(rawValue: typeName) else {
                    throw .invalid(
                        "\(field)[\(i)]: type must be "
                            + ValueType.allCases.map(\.rawValue).joined(separator: ", "))
                }
                guard let op = Operator(rawValue: opName) else {
                    throw .invalid(
                        "\(field)[\(i)].operator: \"\(opName.prefix(40))\" is none of "
                            + Operator.allCases.map(\.rawValue).joined(separator: ", "))
                }
                if let values = value.arrayValue, values.count > MetricsQuery.maxFilterValues {
                    throw .invalid(
                        "\(field)[\(i)].value: \(values.count) values; at most \(MetricsQuery.maxFilterValues) are "
                            + "accepted")
                }
                return Filter(column: column, op: op, value: value, type: type, key: o["key"]?.stringValue)
            }
        }
    }

    public struct Order: Sendable, Hashable {
        public var field: String
        public var descending: Bool
    }

    public var view: View
    public var dimensions: [String] = []
    public var metrics: [Metric] = []
    public var filters: [Filter] = []
    public var granularity: Granularity?
    public var from: Timestamp
    public var to: Timestamp
    public var orderBy: [Order] = []
    /// Rows returned at most (1–1000).
    public var rowLimit: Int

    public static let maxRows = 1_000
    /// Filters per query, values per list filter, and dimensions, metrics or order keys per query: caps that keep
    /// every generated statement far inside SQLite's expression limits.
    public static let maxFilters = 50
    public static let maxFilterValues = 100
    public static let maxListItems = 20

    /// Parses the `query` parameter; the error names the offending part. `version` 2 refuses the traces view (as
    /// Langfuse's v2 does) and defaults `row_limit` to 100; version 1 defaults it to 1000.
    public init(json text: String, version: Int) throws(MetricsQueryError) {
        guard let root = try? JSONValue.parse(Data(text.utf8)), let q = root.objectValue else {
            throw .invalid("query: expected a JSON object")
        }
        guard let viewName = q["view"]?.stringValue, let view = View(rawValue: viewName) else {
            throw .invalid("query.view: expected one of " + View.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if version == 2, view == .traces {
            throw .invalid("query.view: the traces view is not available in /v2/metrics; use observations")
        }
        self.view = view
        for key in ["dimensions", "metrics", "orderBy"] {
            if let n = q[key]?.arrayValue?.count, n > Self.maxListItems {
                throw .invalid("query.\(key): \(n) entries; at most \(Self.maxListItems) are accepted")
            }
        }
        for (i, d) in (q["dimensions"]?.arrayValue ?? []).enumerated() {
            guard let field = d.objectValue?["field"]?.stringValue else {
                throw .invalid("query.dimensions[\(i)]: expected {\"field\": <name>}")
            }
            dimensions.append(field)
        }
        guard let metrics = q["metrics"]?.arrayValue, !metrics.isEmpty else {
            throw .invalid("query.metrics: at least one {measure, aggregation} is required")
        }
        for (i, m) in metrics.enumerated() {
            guard let measure = m.objectValue?["measure"]?.stringValue,
                let aggregationName = m.objectValue?["aggregation"]?.stringValue
            else { throw .invalid("query.metrics[\(i)]: expected {\"measure\": …, \"aggregation\": …}") }
            guard let aggregation = Aggregation(rawValue: aggregationName) else {
                throw .invalid(
                    "query.metrics[\(i)].aggregation: \"\(aggregationName.prefix(40))\" is not one of "
                        + Aggregation.allCases.map(\.rawValue).joined(separator: ", "))
            }
            self.metrics.append(Metric(measure: measure, aggregation: aggregation))
        }
        filters = try Filter.list(q["filters"] ?? .array([]), field: "query.filters")
        if let td = q["timeDimension"], !td.isNull {
            guard let name = td.objectValue?["granularity"]?.stringValue, let g = Granularity(rawValue: name) else {
                throw .invalid(
                    "query.timeDimension.granularity: expected one of "
                        + Granularity.allCases.map(\.rawValue).joined(separator: ", "))
            }
            granularity = g
        }
        guard let fromText = q["fromTimestamp"]?.stringValue, let from = Timestamp(iso8601: fromText) else {
            throw .invalid("query.fromTimestamp: required, an ISO 8601 date-time")
        }
        guard let toText = q["toTimestamp"]?.stringValue, let to = Timestamp(iso8601: toText) else {
            throw .invalid("query.toTimestamp: required, an ISO 8601 date-time")
        }
        guard from < to else { throw .invalid("query: fromTimestamp must be before toTimestamp") }
        (self.from, self.to) = (from, to)
        for (i, o) in (q["orderBy"]?.arrayValue ?? []).enumerated() {
            guard let field = o.objectValue?["field"]?.stringValue else {
                throw .invalid("query.orderBy[\(i)]: expected {\"field\": …, \"direction\": \"asc\"|\"desc\"}")
            }
            let direction = o.objectValue?["direction"]?.stringValue ?? "asc"
            guard direction == "asc" || direction == "desc" else {
                throw .invalid("query.orderBy[\(i)].direction: expected asc or desc")
            }
            orderBy.append(Order(field: field, descending: direction == "desc"))
        }
        // config.bins only shapes histograms, an aggregation Tally does not offer (refused above).
        let config = q["config"]?.objectValue ?? [:]
        if let limit = config["row_limit"], !limit.isNull {
            guard let n = limit.doubleValue, n == n.rounded(), (1...Double(Self.maxRows)).contains(n) else {
                throw .invalid("query.config.row_limit: expected an integer in 1…\(Self.maxRows)")
            }
            rowLimit = Int(n)
        } else {
            rowLimit = version == 2 ? 100 : Self.maxRows
        }
    }

    /// The bucket size for `auto`: the finest calendar unit giving at most about 50 buckets over the range.
    public var resolvedGranularity: Granularity? {
        guard let granularity else { return nil }
        guard granularity == .auto else { return granularity }
        let seconds = Double(to.microseconds - from.microseconds) / 1e6
        for (g, size) in [(Granularity.minute, 60.0), (.hour, 3_600), (.day, 86_400), (.week, 604_800)]
        where seconds / size <= 50 {
            return g
        }
        return .month
    }
}

public enum MetricsQueryError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let m): return m
        }
    }
}
