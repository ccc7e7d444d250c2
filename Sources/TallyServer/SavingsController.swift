import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// `GET /api/tally/v1/what-if` (a set of calls priced as another model) and `GET /api/tally/v1/insights` (the waste
/// finders). Money is given twice: USD (a double, for reading) and integer nano-USD (`…Nanos`, exact).
struct SavingsController: Sendable {
    let database: any TallyStorage

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("what-if", use: whatIf)
        group.get("insights", use: insights)
    }

    @Sendable func whatIf(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        guard let model = r.string("as"), !model.isEmpty else {
            throw APIError.invalid("as: required, the model to price the calls as (e.g. as=gpt-4o-mini)")
        }
        var q = WhatIfQuery(model: model)
        q.filter = try AnalyticsController.filter(r, request: request, context: context)
        q.dimensions = try AnalyticsController.dimensions(r)
        guard q.dimensions.count <= WhatIfQuery.maxDimensions else {
            throw APIError.invalid("groupBy: at most \(WhatIfQuery.maxDimensions) dimensions")
        }
        let answer: WhatIfAnswer
        do {
            answer = try await database.whatIf(projectID: project.id, query: q, now: .now())
        } catch let e as WhatIf.Failure {
            throw APIError.invalid(e.description)
        }
        let data = answer.rows.map { row -> JSONValue in
            var out = Self.figures(row)
            for (d, key) in zip(q.dimensions, row.sums.keys) { out[d.name] = DTO.str(key) }
            return .object(out)
        }
        let target = answer.target
        return JSONResponse.make([
            "as": [
                "model": .string(model), "pricedAs": .string(target.id), "provider": DTO.str(target.provider),
                "prices": .object(
                    Dictionary(
                        uniqueKeysWithValues: target.prices.map {
                            ($0.key.rawValue, .double(Money.usd(picos: $0.value)))
                        })
                ),
                "tiersIgnored": .bool(!target.tiers.isEmpty),
            ],
            "total": .object(Self.figures(answer.total)),
            "data": .array(data),
            "truncated": .bool(answer.truncated),
            "quality": .array(
                answer.quality.map { feature in
                    [
                        "feature": DTO.str(feature.feature),
                        "models": .array(
                            feature.models.map { m in
                                [
                                    "model": .string(m.model), "target": .bool(m.isTarget), "calls": .int(m.calls),
                                    "errors": .int(m.errors), "errorRate": .double(m.errorRate),
                                    "scores": .object(m.scores.mapValues { .double($0) }),
                                ]
                            }),
                    ]
                }),
            "query": [
                "groupBy": .array(q.dimensions.map { .string($0.name) }), "from": DTO.time(q.filter.from),
                "to": DTO.time(q.filter.to), "types": .array(q.types.map { .string($0.rawValue) }),
            ],
        ])
    }

    /// One group's figures: calls, tokens, usage per key, actual and what-if cost and their difference.
    static func figures(_ row: WhatIfRow) -> [String: JSONValue] {
        let s = row.sums
        return [
            "calls": .int(s.calls), "uncostedCalls": .int(s.uncostedCalls), "errors": .int(s.errors),
            "errorRate": .double(s.calls == 0 ? 0 : Double(s.errors) / Double(s.calls)),
            "inputTokens": .int(s.inputTokens), "outputTokens": .int(s.outputTokens),
            "totalTokens": .int(s.totalTokens),
            "usage": .object(s.usage.mapValues { .int($0) }),
            "actualCost": .double(Money.usd(nanos: s.costNanos)), "actualCostNanos": .int(s.costNanos),
            "whatIfCost": .double(Money.usd(nanos: row.whatIfNanos)), "whatIfCostNanos": .int(row.whatIfNanos),
            "difference": .double(Money.usd(nanos: row.differenceNanos)), "differenceNanos": .int(row.differenceNanos),
            "differencePercent": DTO.num(row.differencePercent),
        ]
    }

    @Sendable func insights(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        let to = try r.timestamp("to") ?? .now()
        let from = try r.timestamp("from") ?? Timestamp(microseconds: to.microseconds - Insights.monthMicros)
        guard from < to else { throw APIError.invalid("from must be before to") }
        var q = InsightQuery(from: from, to: to)
        q.environments = try r.list("environment")
        q.tenants = try context.tenants(requested: r.list("tenantId") + r.list("tenant"))
        q.limit = try r.int("limit", in: 1...1_000) ?? 100
        var t = InsightThresholds()
        let calls = 1...Int(Int32.max)
        t.minCalls = Int64(try r.int("minCalls", in: calls) ?? Int(t.minCalls))
        t.downgradeMaxOutputP95 = Int64(try r.int("downgradeMaxOutputP95", in: 0...Int(Int32.max)) ?? 50)
        t.downgradeMaxInputP95 = Int64(try r.int("downgradeMaxInputP95", in: 0...Int(Int32.max)) ?? 2_000)
        t.downgradeRatio = try Self.positive(r, "downgradeRatio") ?? t.downgradeRatio
        t.bloatGrowth = try Self.positive(r, "bloatGrowth") ?? t.bloatGrowth
        t.bloatSpread = try Self.positive(r, "bloatSpread") ?? t.bloatSpread
        t.loopCalls = Int64(try r.int("loopCalls", in: 2...100_000) ?? Int(t.loopCalls))
        t.loopRepeats = Int64(try r.int("loopRepeats", in: 2...100_000) ?? Int(t.loopRepeats))
        if let seconds = try r.int("cacheWindow", in: 1...(30 * 86_400)) {
            t.cacheWindowMicros = Int64(seconds) * 1_000_000
        }
        q.thresholds = t
        let findings = try await database.insights(projectID: project.id, query: q)
        return JSONResponse.make([
            "data": .array(findings.map { Self.json($0, query: q) }),
            "query": [
                "from": DTO.time(from), "to": DTO.time(to),
                "thresholds": [
                    "minCalls": .int(t.minCalls), "downgradeMaxOutputP95": .int(t.downgradeMaxOutputP95),
                    "downgradeMaxInputP95": .int(t.downgradeMaxInputP95), "downgradeRatio": .double(t.downgradeRatio),
                    "bloatGrowth": .double(t.bloatGrowth), "bloatSpread": .double(t.bloatSpread),
                    "loopCalls": .int(t.loopCalls), "loopRepeats": .int(t.loopRepeats),
                    "cacheWindow": .int(t.cacheWindowMicros / 1_000_000),
                ],
            ],
        ])
    }

    /// A finite number > 0, or nil when absent.
    static func positive(_ r: QueryReader, _ name: String) throws -> Double? {
        guard let v = try r.double(name) else { return nil }
        guard v > 0 else { throw APIError.invalid("\(name): expected a number above 0") }
        return v
    }

    static func json(_ f: Finding, query q: InsightQuery) -> JSONValue {
        var subject: [String: JSONValue] = [:]
        if let v = f.subject.tenant { subject["tenant"] = .string(v) }
        if let v = f.subject.feature { subject["feature"] = .string(v) }
        if let v = f.subject.promptName { subject["promptName"] = .string(v) }
        if let v = f.subject.promptVersion { subject["promptVersion"] = .int(Int64(v)) }
        if let v = f.subject.model { subject["model"] = .string(v) }
        return [
            "type": .string(f.type.rawValue), "subject": .object(subject), "evidence": .object(f.evidence),
            "estimatedMonthlyUsd": .double(Money.usd(nanos: f.monthlyNanos)),
            "estimatedMonthlyNanos": .int(f.monthlyNanos), "wasteUsd": .double(Money.usd(nanos: f.wasteNanos)),
            "wasteNanos": .int(f.wasteNanos), "traces": .array(f.traces.map { .string($0) }),
            "url": .string(url(f, query: q)),
        ]
    }

    /// The web UI's trace list narrowed to the finding's calls (UTC days of the range; `to` is inclusive there).
    static func url(_ f: Finding, query q: InsightQuery) -> String {
        func day(_ t: Timestamp) -> String { String(t.iso8601.prefix(10)) }
        var items: [(String, String)] = [
            ("from", day(q.from)), ("to", day(Timestamp(microseconds: q.to.microseconds - 1))),
        ]
        if let v = f.subject.tenant { items.append(("tenantId", v)) }
        if let v = f.subject.feature { items.append(("feature", v)) }
        if let v = f.subject.model { items.append(("model", v)) }
        if let v = f.subject.promptName { items.append(("promptName", v)) }
        if let v = f.subject.promptVersion { items.append(("promptVersion", String(v))) }
        if f.type == .retryWaste { items.append(("level", "ERROR")) }
        if f.type == .agentLoop || f.type == .contextBloat { items.append(("sort", "-totalCost")) }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let query = items.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&")
        return "/#/traces?\(query)"
    }
}
