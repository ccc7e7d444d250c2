import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// Tally analytics (`/api/tally/v1/...`) and Langfuse's daily metrics. Parameters are validated into a query
/// value; unknown dimensions, metrics, buckets or malformed dates are a 400 naming what is allowed.
struct AnalyticsController: Sendable {
    let database: any TallyStorage

    func addRoutes(tally: RouterGroup<TallyRequestContext>, public group: RouterGroup<TallyRequestContext>) {
        tally.get("breakdown", use: breakdown)
        tally.get("prompts/:name/versions", use: promptVersions)
        tally.get("unit-economics", use: unitEconomics)
        tally.get("dashboards/spend-by-feature", use: spendByFeature)
        tally.get("dashboards/top-tenants", use: topTenants)
        tally.get("dashboards/tokens-per-success", use: tokensPerSuccess)
        tally.get("dashboards/cost-by-model", use: costByModel)
        group.get("metrics/daily", use: daily)
        group.get("metrics", use: { try await metrics($0, $1, version: 1) })
        group.get("v2/metrics", use: { try await metrics($0, $1, version: 2) })
    }

    /// Langfuse's metrics API: `query` is the URL-encoded JSON query object (COMPAT §4.6); a malformed query, an
    /// unknown view, field, measure, aggregation or operator is a 400 naming what is allowed.
    func metrics(_ request: Request, _ context: TallyRequestContext, version: Int) async throws -> Response {
        let project = try context.requireProject()
        guard let text = try QueryReader(request).string("query") else {
            throw APIError.invalid("query: required, a URL-encoded JSON object")
        }
        do {
            let q = try MetricsQuery(json: text, version: version)
            let rows = try await database.metrics(projectID: project.id, query: q)
            return JSONResponse.make(["data": .array(rows.map { .object($0) })])
        } catch let e as MetricsQueryError {
            throw APIError.invalid(e.description)
        } catch let e as AnalyticsError {
            throw APIError.invalid(e.description)
        }
    }

    /// Filters shared by every analytics endpoint; a tenant key's own tenant is forced (another one asked for is a
    /// 403).
    static func filter(_ r: QueryReader, request: Request, context: TallyRequestContext) throws -> AnalyticsFilter {
        var f = AnalyticsFilter()
        f.from = try r.timestamp("from") ?? r.timestamp("fromTimestamp")
        f.to = try r.timestamp("to") ?? r.timestamp("toTimestamp")
        if let from = f.from, let to = f.to, from >= to { throw APIError.invalid("from must be before to") }
        f.tenants = try context.tenants(requested: r.list("tenantId") + r.list("tenant"))
        f.features = try r.list("feature")
        f.tags = try r.all("tags") + r.all("tag")
        f.promptName = r.string("promptName")
        f.promptVersion = try r.int("promptVersion", in: 0...Int(Int32.max))
        f.models = try r.list("model")
        f.environments = try r.list("environment")
        f.userIDs = try r.list("userId")
        f.traceNames = try r.list("traceName")
        f.names = try r.list("name")
        f.types = try r.list("type").map { raw in
            guard let t = ObservationType(rawValue: raw.uppercased()) else {
                throw APIError.invalid(
                    "type: expected one of \(ObservationType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return t
        }
        for (key, value) in request.uri.queryParameters where key.hasPrefix("metadata.") {
            let name = String(key.dropFirst("metadata.".count))
            guard let metadataKey = MetadataKey(name) else {
                throw APIError.invalid("metadata key \"\(name.prefix(40))\": use 1–100 characters of A-Z a-z 0-9 _ . -")
            }
            f.metadata[metadataKey] = String(value)
        }
        guard f.metadata.count <= QueryReader.maxMetadataFilters else {
            throw APIError.invalid("at most \(QueryReader.maxMetadataFilters) metadata.<key> filters are accepted")
        }
        return f
    }

    @Sendable func breakdown(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = BreakdownQuery()
        q.filter = try Self.filter(r, request: request, context: context)
        q.dimensions = try Self.dimensions(r)
        q.bucket = try r.enumValue("bucket", TimeBucket.self)
        if let (metric, ascending) = try r.sort("sort", Metric.self) { (q.sort, q.ascending) = (metric, ascending) }
        q.limit = try r.int("limit", in: 1...BreakdownQuery.maxLimit) ?? 1_000
        let metrics = Set(
            try r.list("metrics").map { name in
                guard let m = Metric(rawValue: name) else {
                    throw APIError.invalid(
                        "metrics: unknown metric \"\(name.prefix(40))\"; use "
                            + Metric.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return m
            })
        q.metrics = metrics
        let rows = try await database.breakdown(projectID: project.id, query: q)
        let data = rows.map { row -> JSONValue in
            var out = Self.measures(row, only: metrics)
            if q.bucket != nil { out["bucket"] = DTO.str(row.bucket) }
            for (d, key) in zip(q.dimensions, row.keys) { out[d.name] = DTO.str(key) }
            return .object(out)
        }
        return JSONResponse.make([
            "data": .array(data),
            "query": [
                "groupBy": .array(q.dimensions.map { .string($0.name) }), "bucket": DTO.str(q.bucket?.rawValue),
                "from": DTO.time(q.filter.from), "to": DTO.time(q.filter.to), "limit": .int(Int64(q.limit)),
            ],
        ])
    }

    /// Measures of one group: costs in USD, latencies in ms.
    static func measures(_ row: BreakdownRow, only: Set<Metric>) -> [String: JSONValue] {
        let all: [Metric: JSONValue] = [
            .count: .int(row.count), .traces: .int(row.traces), .inputTokens: .int(row.inputTokens),
            .outputTokens: .int(row.outputTokens), .totalTokens: .int(row.totalTokens),
            .inputCost: .double(Money.usd(nanos: row.inputCostNanos)),
            .outputCost: .double(Money.usd(nanos: row.outputCostNanos)),
            .totalCost: .double(Money.usd(nanos: row.totalCostNanos)), .latencyP50: DTO.num(row.latencyP50),
            .latencyP95: DTO.num(row.latencyP95), .latencyP99: DTO.num(row.latencyP99),
            .errorRate: .double(row.errorRate), .cacheSavings: .double(Money.usd(nanos: row.cacheSavingsNanos)),
        ]
        var out: [String: JSONValue] = [:]
        for (metric, value) in all where only.isEmpty || only.contains(metric) { out[metric.rawValue] = value }
        return out
    }

    @Sendable func promptVersions(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let name = try context.pathID("name")
        let r = try QueryReader(request)
        let stats = try await database.promptVersions(
            projectID: project.id, promptName: name, filter: try Self.filter(r, request: request, context: context))
        let data = stats.map { s -> JSONValue in
            [
                "promptName": .string(name), "promptVersion": .int(Int64(s.version)), "runs": .int(s.runs),
                "totalCost": .double(Money.usd(nanos: s.totalCostNanos)),
                "costPerRun": .double(
                    s.runs == 0 ? 0 : Double(s.totalCostNanos) / Double(s.runs) / Double(Money.nanosPerUSD)),
                "inputTokensPerRun": .double(s.runs == 0 ? 0 : Double(s.inputTokens) / Double(s.runs)),
                "outputTokensPerRun": .double(s.runs == 0 ? 0 : Double(s.outputTokens) / Double(s.runs)),
                "latencyP50": DTO.num(s.latencyP50), "latencyP95": DTO.num(s.latencyP95),
                "latencyExact": .bool(s.latencyExact),
                "errorRate": .double(s.runs == 0 ? 0 : Double(s.errors) / Double(s.runs)),
                "scores": .object(s.scores.mapValues { .double($0) }), "firstSeen": DTO.time(s.firstSeen),
                "lastSeen": DTO.time(s.lastSeen),
            ]
        }
        // The versions' text (or messages) where the prompt is managed here, so a comparison can show what changed.
        let stored = try await database.promptVersions(projectID: project.id, name: name)
        return JSONResponse.make(["data": .array(data), "prompts": .array(stored.map { PromptsController.dto($0) })])
    }

    /// Langfuse's `GET /api/public/metrics/daily`: per UTC day, traces, observations, cost and usage per model.
    @Sendable func daily(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        let page = try r.page()
        var q = BreakdownQuery()
        q.filter = try Self.filter(r, request: request, context: context)
        q.bucket = .day
        q.limit = BreakdownQuery.maxLimit
        q.metrics = [.count, .traces, .inputTokens, .outputTokens, .totalTokens, .totalCost]
        let days = try await database.breakdown(projectID: project.id, query: q)
            .sorted { ($0.bucket ?? "") > ($1.bucket ?? "") }
        q.dimensions = [.model]
        let perModel = try await database.breakdown(projectID: project.id, query: q)
        let models = Dictionary(grouping: perModel.filter { $0.keys.first != nil && $0.keys.first! != nil }) {
            $0.bucket ?? ""
        }
        let slice = Array(days.dropFirst(page.offset).prefix(page.limit))
        let data = slice.map { day -> JSONValue in
            [
                "date": DTO.str(day.bucket), "countTraces": .int(day.traces), "countObservations": .int(day.count),
                "totalCost": .double(Money.usd(nanos: day.totalCostNanos)),
                "usage": .array(
                    (models[day.bucket ?? ""] ?? []).map { m in
                        [
                            "model": DTO.str(m.keys[0]), "inputUsage": .int(m.inputTokens),
                            "outputUsage": .int(m.outputTokens),
                            "totalUsage": .int(m.totalTokens), "countObservations": .int(m.count),
                            "countTraces": .int(m.traces), "totalCost": .double(Money.usd(nanos: m.totalCostNanos)),
                        ]
                    }),
            ]
        }
        return JSONResponse.make([
            "data": .array(data), "meta": DTO.meta(Paged(items: slice, totalItems: days.count, page: page)),
        ])
    }

    // MARK: Unit economics and the four dashboards

    static func dimensions(_ r: QueryReader, allowed: Set<String>? = nil) throws -> [AnalyticsDimension] {
        let dims = try r.list("groupBy").map { name -> AnalyticsDimension in
            guard let d = AnalyticsDimension(name: name) else {
                throw APIError.invalid(
                    "groupBy: unknown dimension \"\(name.prefix(40))\"; use "
                        + AnalyticsDimension.allNames.joined(separator: ", "))
            }
            if let allowed, !allowed.contains(d.name), !d.name.hasPrefix("metadata.") {
                throw APIError.invalid(
                    "groupBy: \(d.name) is not a trace-level dimension; use " + allowed.sorted().joined(separator: ", ")
                )
            }
            return d
        }
        guard dims.count <= BreakdownQuery.maxDimensions else {
            throw APIError.invalid("groupBy: at most \(BreakdownQuery.maxDimensions) dimensions")
        }
        return dims
    }

    /// Success: `successScore=<name>` with `successMin=<number>` (default 1) or `successValue=<category>`; without
    /// a score, a trace without ERROR observations is a success.
    static func success(_ r: QueryReader) throws -> SuccessRule {
        guard let name = r.string("successScore") else { return .noError }
        if let value = r.string("successValue") { return .scoreEquals(name: name, value: value) }
        return .scoreAtLeast(name: name, min: try r.double("successMin") ?? 1)
    }

    func unitEconomicsRows(_ request: Request, context: TallyRequestContext, bucket: TimeBucket?) async throws -> (
        UnitEconomicsQuery, [UnitEconomicsRow]
    ) {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = UnitEconomicsQuery()
        q.filter = try Self.filter(r, request: request, context: context)
        q.dimensions = try Self.dimensions(r, allowed: UnitEconomicsQuery.allowedDimensions)
        q.bucket = try bucket ?? r.enumValue("bucket", TimeBucket.self)
        q.success = try Self.success(r)
        q.limit = try r.int("limit", in: 1...BreakdownQuery.maxLimit) ?? 1_000
        do {
            return (q, try await database.unitEconomics(projectID: project.id, query: q))
        } catch let e as AnalyticsError {
            throw APIError.invalid(e.description)
        }
    }

    static func unitEconomicsJSON(_ q: UnitEconomicsQuery, _ rows: [UnitEconomicsRow]) -> Response {
        let data = rows.map { row -> JSONValue in
            let cost = Money.usd(nanos: row.totalCostNanos)
            /// nano-USD ÷ n, then to USD: exact whenever the division is.
            func per(_ n: Int64) -> Double { Double(row.totalCostNanos) / Double(n) / Double(Money.nanosPerUSD) }
            var out: [String: JSONValue] = [
                "traces": .int(row.traces), "successes": .int(row.successes),
                "successRate": .double(row.traces == 0 ? 0 : Double(row.successes) / Double(row.traces)),
                "totalCost": .double(cost), "totalTokens": .int(row.totalTokens),
                "costPerTrace": .double(row.traces == 0 ? 0 : per(row.traces)),
                "costPerSuccess": row.successes == 0 ? .null : .double(per(row.successes)),
                "tokensPerSuccess": row.successes == 0
                    ? .null : .double(Double(row.totalTokens) / Double(row.successes)),
            ]
            if q.bucket != nil { out["bucket"] = DTO.str(row.bucket) }
            for (d, key) in zip(q.dimensions, row.keys) { out[d.name] = DTO.str(key) }
            return .object(out)
        }
        return JSONResponse.make(["data": .array(data)])
    }

    @Sendable func unitEconomics(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let (q, rows) = try await unitEconomicsRows(request, context: context, bucket: nil)
        return Self.unitEconomicsJSON(q, rows)
    }

    /// Dashboard 3: tokens (and cost) per successful action, per day.
    @Sendable func tokensPerSuccess(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let (q, rows) = try await unitEconomicsRows(request, context: context, bucket: .day)
        return Self.unitEconomicsJSON(q, rows)
    }

    func dashboard(
        _ request: Request, context: TallyRequestContext, edit: (inout BreakdownQuery, QueryReader) throws -> Void
    )
        async throws -> Response
    {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = BreakdownQuery()
        q.filter = try Self.filter(r, request: request, context: context)
        // Sums only (no distinct trace count, no percentiles): whole days are read from the daily rollup.
        q.metrics = [.count, .inputTokens, .outputTokens, .totalTokens, .totalCost]
        try edit(&q, r)
        let rows = try await database.breakdown(projectID: project.id, query: q)
        let only = q.metrics
        return JSONResponse.make([
            "data": .array(
                rows.map { row in
                    var out = Self.measures(row, only: only)
                    if q.bucket != nil { out["bucket"] = DTO.str(row.bucket) }
                    for (d, key) in zip(q.dimensions, row.keys) { out[d.name] = DTO.str(key) }
                    return .object(out)
                })
        ])
    }

    /// Dashboard 1: spend by feature, per day (stack the features per bucket).
    @Sendable func spendByFeature(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await dashboard(request, context: context) { q, _ in
            q.dimensions = [.feature]
            q.bucket = .day
            q.limit = BreakdownQuery.maxLimit
        }
    }

    /// Dashboard 2: top tenants by cost over `window=24h|7d` (default 24h) ending now, or over from/to.
    @Sendable func topTenants(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await dashboard(request, context: context) { q, r in
            q.dimensions = [.tenant]
            q.sort = .totalCost
            q.limit = try r.int("limit", in: 1...1_000) ?? 20
            if q.filter.from == nil {
                let window = r.string("window") ?? "24h"
                let hours: Int64
                switch window {
                case "24h": hours = 24
                case "7d": hours = 24 * 7
                case "30d": hours = 24 * 30
                default: throw APIError.invalid("window: expected 24h, 7d or 30d")
                }
                q.filter.from = Timestamp(microseconds: Timestamp.now().microseconds - hours * 3_600_000_000)
            }
        }
    }

    /// Dashboard 4: cost by model (requested model), most expensive first.
    @Sendable func costByModel(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await dashboard(request, context: context) { q, r in
            q.dimensions = [.model]
            q.bucket = try r.enumValue("bucket", TimeBucket.self)
            q.sort = .totalCost
            q.limit = BreakdownQuery.maxLimit
        }
    }
}
