import Foundation
import TallyCore
import TallySQL
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

/// The analytics answered by PostgreSQL equal SQLite's for the same writes: every breakdown of a grid of groupings,
/// buckets, time ranges (aligned and not) and sorts, from the rollups and from a scan.
@Suite("Store conformance: analytics", .enabled(if: Backend.postgresURL != nil))
struct AnalyticsConformanceTests {
    static let day = RollupTests.day
    static let day0 = RollupTests.day0
    static let hour: Int64 = 3_600_000_000

    /// The two stores after the same writes: the rollup workload, its updates and a repricing.
    static func stores(_ body: @Sendable (TallyDatabase, PostgresStore) async throws -> Void) async throws {
        var rng = RollupTests.RNG(state: 31)
        let events = RollupTests.workload(&rng)
        var updates = RollupTests.updates(&rng)
        // Scores on traces and on generations, for prompt comparisons and unit economics; tags on some traces.
        for t in 0..<60 {
            var trace = TraceUpsert(id: "t\(t)")
            trace.tags = ["tier-\(t % 3)"] + (t % 4 == 0 ? ["vip"] : [])
            updates.append(
                IngestionEvent(
                    eventID: "tag\(t)", timestamp: Timestamp(microseconds: Self.day0 + 5 * Self.day),
                    body: .trace(trace)))
            var score = Score(
                id: "s\(t)", name: t % 2 == 0 ? "quality" : "helpful", value: Double(t % 7) / 6, stringValue: nil,
                dataType: .numeric, timestamp: Timestamp(microseconds: Self.day0 + Int64(t) * 60_000_000))
            score.traceID = "t\(t)"
            if t % 3 == 0 { score.observationID = "t\(t)-o1" }
            updates.append(IngestionEvent(eventID: "s\(t)", timestamp: score.timestamp, body: .score(score)))
        }
        let later = updates
        let (sqlite, _) = try temporaryDatabase()
        try sqlite.ensureProject(id: "p", name: "p")
        _ = try await sqlite.ingest(projectID: "p", events: events)
        _ = try await sqlite.ingest(projectID: "p", events: later)
        try await PostgresHarness.withDatabase { pg in
            _ = try await pg.ensureProject(id: "p", name: "p")
            for chunk in stride(from: 0, to: events.count, by: 60) {
                _ = try await pg.ingest(projectID: "p", events: Array(events[chunk..<min(chunk + 60, events.count)]))
            }
            _ = try await pg.ingest(projectID: "p", events: later)
            try await body(sqlite, pg)
        }
    }

    /// Floating-point figures summed in another order on each store agree to 1e-9.
    static func close(_ x: Double?, _ y: Double?) -> Bool {
        switch (x, y) {
        case (nil, nil): true
        case (let x?, let y?): abs(x - y) <= 1e-9 * max(1, abs(x))
        default: false
        }
    }

    static func same(_ a: [BreakdownRow], _ b: [BreakdownRow]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
            var (l, r) = (x, y)
            guard close(l.latencyP50, r.latencyP50), close(l.latencyP95, r.latencyP95),
                close(l.latencyP99, r.latencyP99)
            else { return false }
            (l.latencyP50, l.latencyP95, l.latencyP99) = (nil, nil, nil)
            (r.latencyP50, r.latencyP95, r.latencyP99) = (nil, nil, nil)
            return l == r
        }
    }

    @Test("breakdowns: every grouping, bucket, range and sort answers alike, from rollups and from scans")
    func breakdowns() async throws {
        try await Self.stores { sqlite, pg in
            let ranges: [(Int64?, Int64?)] = [
                (nil, nil), (Self.day0, Self.day0 + 3 * Self.day),
                (Self.day0 + Self.hour / 2 + 123, Self.day0 + 2 * Self.day + 5 * Self.hour / 2 + 1),
                (Self.day0 + 5 * Self.hour + 60_000_000, Self.day0 + 5 * Self.hour + 58 * 60_000_000),
                (nil, Self.day0 + Self.day + 1),
            ]
            let groupings: [[AnalyticsDimension]] = [
                [], [.tenant], [.tenant, .feature], [.feature, .model], [.environment, .type, .responseModel],
                [.promptName, .promptVersion], [.tag], [.metadata("feature")], [.traceName, .level],
            ]
            var compared = 0
            var rows = 0
            for (from, to) in ranges {
                for dims in groupings {
                    for bucket in [nil, TimeBucket.day, .week, .month, .hour] {
                        for sort in [nil, Metric.totalCost, .latencyP95, .errorRate] {
                            var q = BreakdownQuery()
                            q.dimensions = dims
                            q.bucket = bucket
                            q.filter.from = from.map(Timestamp.init(microseconds:))
                            q.filter.to = to.map(Timestamp.init(microseconds:))
                            q.metrics = [.count, .traces, .inputTokens, .totalCost, .latencyP50, .errorRate]
                            if sort != .latencyP95 { q.metrics = [.count, .inputTokens, .outputTokens, .totalCost] }
                            q.sort = sort
                            q.limit = 10_000
                            let label =
                                "dims \(dims.map(\.name)) bucket \(String(describing: bucket)) sort \(String(describing: sort)) \(String(describing: from))–\(String(describing: to))"
                            let reference = try await sqlite.breakdown(projectID: "p", query: q)
                            rows += reference.count
                            #expect(Self.same(try await pg.breakdown(projectID: "p", query: q), reference), "\(label)")
                            let scan = try await sqlite.breakdown(projectID: "p", query: q, rollups: false)
                            #expect(
                                Self.same(try await pg.breakdown(projectID: "p", query: q, rollups: false), scan),
                                "scan \(label)")
                            compared += 1
                        }
                    }
                }
            }
            #expect(compared == 5 * 9 * 5 * 4 && rows > 2_000, "\(rows) rows")
            // Filters: tenants (per share), models, environments, types, tags, metadata, prompt.
            var f = AnalyticsFilter()
            f.tenants = ["tenant-1", "late-0"]
            f.models = ["gpt-4o"]
            f.environments = ["production"]
            f.types = [.generation]
            var q = BreakdownQuery()
            q.dimensions = [.tenant, .model]
            q.filter = f
            q.metrics = [.count, .totalCost]
            #expect(
                Self.same(
                    try await pg.breakdown(projectID: "p", query: q),
                    try await sqlite.breakdown(projectID: "p", query: q)))
            q.filter = AnalyticsFilter()
            q.filter.metadata = ["feature": "copilot"]
            q.filter.promptName = "answer"
            q.filter.promptVersion = 2
            #expect(
                Self.same(
                    try await pg.breakdown(projectID: "p", query: q),
                    try await sqlite.breakdown(projectID: "p", query: q)))
        }
    }

    static func same(_ a: [PromptVersionStats], _ b: [PromptVersionStats]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
            guard close(x.latencyP50, y.latencyP50), close(x.latencyP95, y.latencyP95),
                x.scores.keys == y.scores.keys, x.scores.allSatisfy({ close($0.value, y.scores[$0.key]) })
            else { return false }
            var (l, r) = (x, y)
            (l.latencyP50, l.latencyP95, l.scores, r.latencyP50, r.latencyP95, r.scores) = (
                nil, nil, [:], nil, nil, [:]
            )
            return l == r
        }
    }

    @Test("prompt version comparison and unit economics answer alike")
    func promptsAndUnitEconomics() async throws {
        try await Self.stores { sqlite, pg in
            var filters: [AnalyticsFilter] = [AnalyticsFilter()]
            var f = AnalyticsFilter()
            f.from = Timestamp(microseconds: Self.day0)
            f.to = Timestamp(microseconds: Self.day0 + 2 * Self.day)
            filters.append(f)
            f.from = Timestamp(microseconds: Self.day0 + 5 * Self.hour + 17)
            f.environments = ["production"]
            filters.append(f)
            f = AnalyticsFilter()
            f.tenants = ["tenant-1"]
            filters.append(f)
            for filter in filters {
                let reference = try await sqlite.promptVersions(projectID: "p", promptName: "answer", filter: filter)
                #expect(!reference.isEmpty)
                let answered = try await pg.promptVersions(projectID: "p", promptName: "answer", filter: filter)
                #expect(Self.same(answered, reference), "\(filter)\n\(answered)\n\(reference)")
            }
            #expect(
                try await pg.promptVersions(projectID: "p", promptName: "absent", filter: AnalyticsFilter()).isEmpty)

            let groupings: [[AnalyticsDimension]] = [
                [], [.tenant], [.feature, .environment], [.tag], [.metadata("feature")],
            ]
            let rules: [SuccessRule] = [
                .noError, .scoreAtLeast(name: "quality", min: 0.5), .scoreEquals(name: "x", value: "y"),
            ]
            for dims in groupings {
                for bucket in [nil, TimeBucket.day, .week] {
                    for rule in rules {
                        var q = UnitEconomicsQuery()
                        q.dimensions = dims
                        q.bucket = bucket
                        q.success = rule
                        let reference = try await sqlite.unitEconomics(projectID: "p", query: q)
                        #expect(!reference.isEmpty)
                        #expect(
                            try await pg.unitEconomics(projectID: "p", query: q) == reference,
                            "\(dims.map(\.name)) \(String(describing: bucket)) \(rule)")
                    }
                }
            }
            var q = UnitEconomicsQuery()
            q.dimensions = [.model]
            await #expect(throws: AnalyticsError.self) { try await pg.unitEconomics(projectID: "p", query: q) }
        }
    }

    @Test("billing exports, invoice reconciliation and the model-call counters answer alike")
    func usageAndCounters() async throws {
        try await Self.stores { sqlite, pg in
            for dims in [[], [AnalyticsDimension.tenant], [.tenant, .model], [.feature, .environment], [.tag]] {
                for bucket in [nil, TimeBucket.day, .month] {
                    for (errors, billing) in [(false, CacheBilling.actual), (true, .list)] {
                        var q = UsageExportQuery()
                        q.dimensions = dims
                        q.bucket = bucket
                        q.includeErrors = errors
                        q.cacheBilling = billing
                        let reference = try await sqlite.usageExport(projectID: "p", query: q)
                        #expect(!reference.isEmpty)
                        #expect(
                            try await pg.usageExport(projectID: "p", query: q) == reference,
                            "\(dims.map(\.name)) \(String(describing: bucket)) \(errors)")
                    }
                }
            }
            var spans = UsageExportQuery()
            spans.filter.types = [.span]
            #expect(try await pg.usageExport(projectID: "p", query: spans).isEmpty)
            let from = Timestamp(microseconds: Self.day0)
            let to = Timestamp(microseconds: Self.day0 + 3 * Self.day)
            let usage = try await sqlite.reconciliationUsage(projectID: "p", from: from, to: to)
            #expect(!usage.isEmpty)
            #expect(Set(try await pg.reconciliationUsage(projectID: "p", from: from, to: to)) == Set(usage))
            let now = Timestamp(microseconds: Self.day0 + Self.day)
            for limits in [
                LLMMetrics.Limits(tenants: 100, features: 100, models: 100),
                LLMMetrics.Limits(tenants: 2, features: 1, models: 2),
            ] {
                let counters = try await sqlite.llmMetrics(projectID: "p", limits: limits, now: now)
                #expect(!counters.series.isEmpty)
                let answered = try await pg.llmMetrics(projectID: "p", limits: limits, now: now)
                #expect(answered.series == counters.series, "\(limits)")
                // Durations are summed in floating point, in another order on each store.
                #expect(answered.latency.keys == counters.latency.keys)
                for (key, histogram) in counters.latency {
                    let other = answered.latency[key]
                    #expect(other?.counts == histogram.counts, "\(key)")
                    #expect(
                        abs((other?.sumSeconds ?? -1) - histogram.sumSeconds) <= 1e-9 * max(1, histogram.sumSeconds))
                }
            }
        }
    }

    static func close(_ a: JSONValue?, _ b: JSONValue?) -> Bool {
        switch (a, b) {
        case (.double(let x)?, .double(let y)?): abs(x - y) <= 1e-9 * max(1, abs(x))
        case (.int(let x)?, .double(let y)?), (.double(let y)?, .int(let x)?): Double(x) == y
        default: a == b
        }
    }

    @Test("Langfuse metrics queries over every view, and filtered v2 observation lists, answer alike")
    func metricsQueries() async throws {
        try await Self.stores { sqlite, pg in
            let range = #""fromTimestamp": "2026-11-01T00:00:00Z", "toTimestamp": "2026-12-31T00:00:00Z""#
            let queries = [
                #"{"view": "observations", "dimensions": [{"field": "tenantId"}, {"field": "providedModelName"}], "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"}, {"measure": "latency", "aggregation": "p95"}, {"measure": "inputTokens", "aggregation": "avg"}], "filters": [], "#
                    + range + "}",
                #"{"view": "observations", "dimensions": [{"field": "isRootObservation"}, {"field": "type"}], "metrics": [{"measure": "outputTokens", "aggregation": "max"}, {"measure": "totalTokens", "aggregation": "p50"}, {"measure": "countScores", "aggregation": "sum"}], "timeDimension": {"granularity": "day"}, "filters": [{"column": "environment", "operator": "any of", "value": ["production"], "type": "stringOptions"}], "orderBy": [{"field": "sum_countScores", "direction": "desc"}], "#
                    + range + "}",
                #"{"view": "observations", "dimensions": [{"field": "tags"}], "metrics": [{"measure": "totalCost", "aggregation": "avg"}, {"measure": "tokensPerSecond", "aggregation": "min"}], "timeDimension": {"granularity": "week"}, "filters": [{"column": "metadata", "operator": "=", "key": "feature", "value": "copilot", "type": "stringObject"}, {"column": "name", "operator": "does not contain", "value": "x", "type": "string"}], "#
                    + range + "}",
                #"{"view": "traces", "dimensions": [{"field": "environment"}, {"field": "tenantId"}], "metrics": [{"measure": "observationsCount", "aggregation": "sum"}, {"measure": "latency", "aggregation": "p99"}, {"measure": "totalCost", "aggregation": "sum"}, {"measure": "uniqueUserIds", "aggregation": "uniq"}], "timeDimension": {"granularity": "month"}, "filters": [{"column": "tags", "operator": "any of", "value": ["vip", "tier-1"], "type": "arrayOptions"}], "#
                    + range + "}",
                #"{"view": "scores-numeric", "dimensions": [{"field": "name"}, {"field": "timestampDay"}], "metrics": [{"measure": "value", "aggregation": "avg"}, {"measure": "count", "aggregation": "count"}], "filters": [{"column": "value", "operator": ">=", "value": 0.3, "type": "number"}], "#
                    + range + "}",
                #"{"view": "observations", "dimensions": [{"field": "promptName"}, {"field": "promptVersion"}], "metrics": [{"measure": "latency", "aggregation": "p50"}, {"measure": "timeToFirstToken", "aggregation": "max"}], "timeDimension": {"granularity": "hour"}, "filters": [{"column": "isRootObservation", "operator": "=", "value": true, "type": "boolean"}, {"column": "level", "operator": "!=", "value": "ERROR", "type": "string"}], "#
                    + range + "}",
            ]
            for text in queries {
                let q = try MetricsQuery(json: text, version: 1)
                let reference = try await sqlite.metrics(projectID: "p", query: q)
                #expect(!reference.isEmpty, "\(text)")
                let answered = try await pg.metrics(projectID: "p", query: q)
                #expect(answered.count == reference.count, "\(text)")
                for (x, y) in zip(answered, reference) {
                    #expect(x.keys == y.keys && x.allSatisfy { Self.close($0.value, y[$0.key]) }, "\(text)\n\(x)\n\(y)")
                }
            }
            // A v2 observation list with Langfuse filters, paged by cursor.
            var list = ObservationQuery()
            list.filters = try MetricsQuery(
                json:
                    #"{"view": "observations", "metrics": [{"measure": "count", "aggregation": "count"}], "filters": [{"column": "totalCost", "operator": ">", "value": 0.0001, "type": "number"}, {"column": "model", "operator": "starts with", "value": "gpt", "type": "string"}], "#
                    + range + "}", version: 2
            ).filters
            let first = try await sqlite.observationsAfter(projectID: "p", query: list, cursor: nil, limit: 500)
            #expect(!first.isEmpty)
            #expect(
                try await pg.observationsAfter(projectID: "p", query: list, cursor: nil, limit: 500).map(
                    \.observation.id)
                    == first.map(\.observation.id))
        }
    }

    @Test("health figures: the database's size and the project's deliveries by status")
    func healthFigures() async throws {
        try await PostgresHarness.withDatabase { pg in
            _ = try await pg.ensureProject(id: "p", name: "p")
            let figures = try await pg.healthFigures(projectID: "p")
            #expect((figures.fileBytes["main"] ?? 0) > 1_000_000)
            #expect(figures.alertDeliveries.isEmpty)
            try await pg.execute(
                """
                INSERT INTO alert_delivery (project_id, firing_id, channel_id, event, body, next_attempt_at,
                    gives_up_at, created_at) VALUES ('p', 'f', 'c', 'alert.firing', '{}', 0, 1, 0)
                """)
            #expect(try await pg.healthFigures(projectID: "p").alertDeliveries == ["pending": 1])
        }
    }
}
