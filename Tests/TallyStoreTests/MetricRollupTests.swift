import Foundation
import GRDB
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyStore

/// The model-call counters (schema 0017) equal a fresh aggregation of the stored model calls after inserts, partial
/// updates, late tenants and recompute, whichever path wrote them (the store's accumulator on insert, the SQL trigger
/// on update), and deletions leave them unchanged.
@Suite("Model-call counters")
struct MetricRollupTests {
    static let unlimited = LLMMetrics.Limits(tenants: .max, features: .max, models: .max)
    static let now = Timestamp(microseconds: RollupTests.day0 + 5 * RollupTests.day)

    /// The counters computed from the observations themselves.
    static func scan(_ db: TallyDatabase, projectID: String = "p") async throws -> LLMMetrics {
        let calls = try await db.writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM observation WHERE project_id = ? AND type IN ('GENERATION', 'EMBEDDING')",
                arguments: [projectID]
            ).map(Observation.init(row:))
        }
        let shares = try await db.writer.read { db in
            try Dictionary(
                grouping: Row.fetchAll(
                    db, sql: "SELECT * FROM observation_share WHERE project_id = ?", arguments: [projectID]),
                by: { $0["observation_id"] as String })
        }
        var out = LLMMetrics()
        for o in calls {
            let outcome: LLMMetrics.Outcome = o.level == .error ? .error : .success
            func units(_ keys: Set<PriceKey>) -> Int64 {
                o.usage.reduce(0) { $0 + (PriceKey(usageKey: $1.key).map(keys.contains) == true ? $1.value : 0) }
            }
            let totals = o.totals
            let key = LLMMetrics.SeriesKey(
                environment: o.environment, tenant: o.tenant ?? "", feature: o.feature ?? "", model: o.model ?? "",
                outcome: outcome)
            if let parts = shares[o.id] {
                // A shared call: each share under its tenant.
                for r in parts {
                    var k = key
                    k.tenant = r["tenant"]
                    try out.series[k, default: .init()].add(
                        LLMMetrics.Sums(
                            requests: r["n"], inputTokens: r["input_tokens"], outputTokens: r["output_tokens"],
                            cacheReadTokens: r["cache_read_tokens"], cacheWriteTokens: r["cache_write_tokens"],
                            reasoningTokens: r["reasoning_tokens"], costNanos: r["total_cost_nanos"] ?? 0))
                }
            } else {
                try out.series[key, default: .init()].add(
                    LLMMetrics.Sums(
                        requests: 1, inputTokens: totals.inputTokens, outputTokens: totals.outputTokens,
                        cacheReadTokens: units([.cacheRead]), cacheWriteTokens: units([.cacheWrite, .cacheWrite1h]),
                        reasoningTokens: units([.reasoning]),
                        costNanos: totals.totalCost.map(Money.nanos(usd:)) ?? 0))
            }
            if let end = o.endTime {
                let micros = end.microseconds - o.startTime.microseconds
                let lk = LLMMetrics.LatencyKey(environment: o.environment, model: o.model ?? "", outcome: outcome)
                var one = LLMMetrics.Latency()
                one.counts[LLMMetrics.bucket(micros: micros)] = 1
                one.sumSeconds = Double(max(micros, 0)) / 1e6
                try out.latency[lk, default: .init()].add(one)
            }
        }
        return out
    }

    /// Exact for counts, tokens and cost; the duration sums are floating point (within 1 µs per call).
    static func assertEqual(_ a: LLMMetrics, _ b: LLMMetrics, _ comment: Comment? = nil) {
        #expect(a.series == b.series, comment)
        #expect(a.latency.mapValues(\.counts) == b.latency.mapValues(\.counts), comment)
        for (key, histogram) in a.latency {
            let other = b.latency[key]?.sumSeconds ?? .nan
            #expect(abs(histogram.sumSeconds - other) <= 1e-6 * Double(histogram.count), comment)
        }
    }

    @Test("every usage alias of cache read, cache write and reasoning is counted alike by insert and update")
    func aliases() async throws {
        let (db, _) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        let split: Set<PriceKey> = [.cacheRead, .cacheWrite, .cacheWrite1h, .reasoning]
        let aliases = PriceKey.aliases.filter { split.contains($0.value) }.keys.sorted()
        #expect(aliases.count == 21)
        func event(_ i: Int, usage: [String: Int64], update: Bool, micros: Int64) -> IngestionEvent {
            var o = ObservationUpsert(id: "g\(i)", type: .generation, isUpdate: update)
            o.traceID = "t\(i)"
            o.model = "gpt-4o"
            o.startTime = Timestamp(microseconds: RollupTests.day0)
            o.endTime = Timestamp(microseconds: RollupTests.day0 + micros)
            o.usage = usage
            return IngestionEvent(eventID: "e\(i)-\(update)", timestamp: Self.now, body: .observation(o))
        }
        let inserts = aliases.enumerated().map { i, alias in
            event(
                i, usage: ["input": 100, "output": 10, alias: Int64(i + 1)], update: false, micros: Int64(i) * 9_000_000
            )
        }
        _ = try await db.ingest(projectID: "p", events: inserts)
        Self.assertEqual(
            try await db.llmMetrics(projectID: "p", limits: Self.unlimited, now: Self.now), try await Self.scan(db))
        // Every row updated (the trigger subtracts the old usage in SQL): nothing may be left over.
        let updates = aliases.enumerated().map { i, alias in
            event(i, usage: ["input": 50, alias: Int64(1000 + i)], update: true, micros: 250_000)
        }
        _ = try await db.ingest(projectID: "p", events: updates)
        let stored = try await db.llmMetrics(projectID: "p", limits: Self.unlimited, now: Self.now)
        Self.assertEqual(stored, try await Self.scan(db))
        let sums = stored.series.values.first
        #expect(stored.series.count == 1 && sums?.requests == Int64(aliases.count))
        #expect(stored.latency.values.first?.counts[1] == Int64(aliases.count))
    }

    @Test("exact through creates, updates, late tenants and recompute; deletes do not decrease the counters")
    func exactThroughEveryWrite() async throws {
        let (db, _) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        var rng = RollupTests.RNG(state: 7)
        let events = RollupTests.workload(&rng)
        _ = try await db.ingest(projectID: "p", events: events)
        Self.assertEqual(
            try await db.llmMetrics(projectID: "p", limits: Self.unlimited, now: Self.now), try await Self.scan(db))
        _ = try await db.ingest(projectID: "p", events: events)
        _ = try await db.ingest(projectID: "p", events: RollupTests.updates(&rng))
        Self.assertEqual(
            try await db.llmMetrics(projectID: "p", limits: Self.unlimited, now: Self.now), try await Self.scan(db))
        try await db.setPricingSettings(projectID: "p", PricingSettings(builtinPrices: true, priceBy: .response))
        #expect(try await db.recomputeCosts(projectID: "p", from: nil, to: nil) > 0)
        let before = try await db.llmMetrics(projectID: "p", limits: Self.unlimited, now: Self.now)
        Self.assertEqual(before, try await Self.scan(db))
        #expect(before.series.values.contains { $0.costNanos > 0 })
        #expect(before.series.keys.contains { $0.outcome == .error })

        #expect(try await db.deleteTraces(projectID: "p", ids: (0..<40).map { "t\($0)" }) == 40)
        Self.assertEqual(try await db.llmMetrics(projectID: "p", limits: Self.unlimited, now: Self.now), before)
    }

    @Test("beyond the limits, the tenants, features and models with least spend are summed under other")
    func folding() async throws {
        let (db, _) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        var events: [IngestionEvent] = []
        // Tenant i spends i+1 units this month; tenant "old" spent most, last month. One call names no tenant.
        for i in 0..<6 {
            var o = ObservationUpsert(id: "g\(i)", type: .generation, isUpdate: false)
            o.traceID = "t\(i)"
            o.model = "m\(i % 3)"
            o.startTime = Timestamp(microseconds: Self.now.microseconds - 1_000_000)
            o.metadata = i == 5 ? nil : ["tenantId": .string("tenant-\(i)"), "feature": .string("f\(i % 2)")]
            o.cost = ["total": Double(i + 1) / 1000]
            o.usage = ["input": Int64(i + 1)]
            events.append(IngestionEvent(eventID: "e\(i)", timestamp: Self.now, body: .observation(o)))
        }
        var old = ObservationUpsert(id: "old", type: .generation, isUpdate: false)
        old.traceID = "t-old"
        old.model = "m0"
        old.startTime = Timestamp(microseconds: RollupTests.day0 - 40 * RollupTests.day)
        old.metadata = ["tenantId": "old"]
        old.cost = ["total": 1]
        events.append(IngestionEvent(eventID: "old", timestamp: Self.now, body: .observation(old)))
        _ = try await db.ingest(projectID: "p", events: events)

        let all = try await db.llmMetrics(projectID: "p", limits: Self.unlimited, now: Self.now)
        let folded = try await db.llmMetrics(
            projectID: "p", limits: LLMMetrics.Limits(tenants: 2, features: 5, models: 5), now: Self.now)
        #expect(Set(folded.series.keys.map(\.tenant)) == ["", "tenant-4", "tenant-3", LLMMetrics.other])
        func total(_ m: LLMMetrics, tenant: String? = nil) -> LLMMetrics.Sums {
            var s = LLMMetrics.Sums()
            for (k, v) in m.series where tenant == nil || k.tenant == tenant { try? s.add(v) }
            return s
        }
        #expect(total(folded) == total(all))
        #expect(total(folded, tenant: LLMMetrics.other).requests == 4)  // tenants 0, 1, 2 and old
        #expect(total(folded, tenant: LLMMetrics.other).costNanos == 1_006_000_000)
        let oneModel = try await db.llmMetrics(
            projectID: "p", limits: LLMMetrics.Limits(tenants: 10, features: 10, models: 1), now: Self.now)
        #expect(Set(oneModel.series.keys.map(\.model)) == ["m2", LLMMetrics.other])
        #expect(total(oneModel) == total(all))
    }

    @Test("0017 on a database with model calls already stored counts them all")
    func upgrade() async throws {
        let (db, path) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        var rng = RollupTests.RNG(state: 13)
        _ = try await db.ingest(projectID: "p", events: RollupTests.workload(&rng))
        _ = try await db.ingest(projectID: "p", events: RollupTests.updates(&rng))
        // Before 0017 no call was shared (0022 came later): the calls count whole.
        try await db.writer.write { db in
            try db.execute(sql: "DELETE FROM observation_share")
            try db.execute(sql: "UPDATE observation SET shared = 0")
        }
        let expected = try await Self.scan(db)
        #expect(expected.series.count > 10)
        try await db.writer.write { db in
            for statement in [
                "DROP TRIGGER observation_metric_update", "DROP TRIGGER metric_delta_apply",
                "DROP VIEW metric_delta_sums", "DROP VIEW metric_delta_latency", "DROP TABLE metric_delta",
                "DROP TABLE rollup_metric", "DROP TABLE rollup_metric_latency",
                "DELETE FROM grdb_migrations WHERE identifier = '0017_create_metric_rollups'",
            ] {
                try db.execute(sql: statement)
            }
        }
        let upgraded = try TallyDatabase(path: path)
        Self.assertEqual(try await upgraded.llmMetrics(projectID: "p", limits: Self.unlimited, now: Self.now), expected)
        let deferred = try await upgraded.writer.read {
            try Int.fetchOne($0, sql: "SELECT deferred FROM rollup_control")
        }
        #expect(deferred == 0)
    }
}
