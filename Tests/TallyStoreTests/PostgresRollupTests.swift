import Foundation
import PostgresNIO
import TallyCore
import TallySQL
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

/// The PostgreSQL rollups (schema/postgres 0004) must equal a fresh aggregation of the observations after any
/// sequence of writes, also when two collectors write the same traces and rollup rows at once.
@Suite("PostgreSQL: rollups exact under many collectors", .enabled(if: Backend.postgresURL != nil))
struct PostgresRollupTests {
    /// Rows of `rollup` minus `fresh` and the other way round: 0 when the rollup is exact.
    static func mismatches(_ store: PostgresStore, _ rollup: String, _ fresh: String) async throws -> Int {
        var n = -1
        for try await count in try await store.client.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT (SELECT count(*) FROM (SELECT * FROM (\(rollup)) r EXCEPT SELECT * FROM (\(fresh)) f) a)
                        + (SELECT count(*) FROM (SELECT * FROM (\(fresh)) f EXCEPT SELECT * FROM (\(rollup)) r) b)
                    """)
        ).decode(Int.self) {
            n = count
        }
        return n
    }

    static let calls = TallyDatabase.callSource(perTenant: true) + " c"
    static let day = "start_time / 86400000000 * 86400000000"
    static let hour = "start_time / 3600000000 * 3600000000"
    static let measures = """
        sum(n)::bigint, sum(n * (level = 'ERROR')::int)::bigint, sum(input_tokens)::bigint,
        sum(output_tokens)::bigint, sum(total_tokens)::bigint, sum(coalesce(input_cost_nanos, 0))::bigint,
        sum(coalesce(output_cost_nanos, 0))::bigint, sum(coalesce(total_cost_nanos, 0))::bigint
        """
    static let usageKeyNonEmpty =
        "n <> 0 OR uncosted <> 0 OR errors <> 0 OR input_tokens <> 0 OR output_tokens <> 0 OR total_tokens <> 0 "
        + "OR cost_nanos <> 0 OR units <> 0"
    /// Every model call's contribution to `rollup_usage_key_day`, as schema 0012 computes it.
    static let usageKeyDeltas = """
        SELECT o.project_id, \(day) AS day, o.environment, coalesce(o.feature, '') AS feature, o.type,
            coalesce(o.model, '') AS model, ''::text AS usage_key, false AS has_total,
            (o.total_cost_nanos IS NOT NULL)::int AS n, (o.total_cost_nanos IS NULL)::int AS uncosted,
            (o.total_cost_nanos IS NOT NULL AND o.level = 'ERROR')::int AS errors,
            CASE WHEN o.total_cost_nanos IS NOT NULL THEN o.input_tokens ELSE 0 END AS input_tokens,
            CASE WHEN o.total_cost_nanos IS NOT NULL THEN o.output_tokens ELSE 0 END AS output_tokens,
            CASE WHEN o.total_cost_nanos IS NOT NULL THEN o.total_tokens ELSE 0 END AS total_tokens,
            coalesce(o.total_cost_nanos, 0) AS cost_nanos, 0::bigint AS units
        FROM observation o WHERE o.type IN ('GENERATION', 'EMBEDDING')
        UNION ALL
        SELECT o.project_id, \(day), o.environment, coalesce(o.feature, ''), o.type, coalesce(o.model, ''), j.key,
            jsonb_exists(o.usage_details, 'total'), 0, 0, 0, 0, 0, 0, 0, j.value::bigint
        FROM observation o CROSS JOIN jsonb_each_text(o.usage_details) AS j(key, value)
        WHERE o.type IN ('GENERATION', 'EMBEDDING') AND o.total_cost_nanos IS NOT NULL
        """
    static let nonEmpty =
        "n <> 0 OR input_tokens <> 0 OR output_tokens <> 0 OR total_tokens <> 0 OR input_cost_nanos <> 0 "
        + "OR output_cost_nanos <> 0 OR total_cost_nanos <> 0"

    static func assertExact(_ store: PostgresStore, counters: Bool, _ label: String) async throws {
        let checks: [(String, String, String)] = [
            (
                "usage", "SELECT * FROM rollup_usage_day WHERE \(nonEmpty)",
                """
                SELECT project_id, \(day), environment, coalesce(tenant, ''), coalesce(feature, ''), type,
                    coalesce(model, ''), coalesce(response_model, ''), \(measures)
                FROM \(calls) GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
                """
            ),
            (
                "tenant day", "SELECT * FROM rollup_tenant_day WHERE \(nonEmpty)",
                """
                SELECT project_id, \(day), environment, coalesce(tenant, ''), coalesce(feature, ''), \(measures)
                FROM \(calls) GROUP BY 1, 2, 3, 4, 5
                """
            ),
            (
                "tenant hour", "SELECT * FROM rollup_tenant_hour WHERE \(nonEmpty)",
                """
                SELECT project_id, \(hour), environment, coalesce(tenant, ''), coalesce(feature, ''), \(measures)
                FROM \(calls) GROUP BY 1, 2, 3, 4, 5
                """
            ),
            (
                "tenant total day", "SELECT * FROM rollup_tenant_total_day WHERE \(nonEmpty)",
                """
                SELECT project_id, \(day), environment, coalesce(tenant, ''), \(measures)
                FROM \(calls) GROUP BY 1, 2, 3, 4
                """
            ),
            (
                "tenant total hour", "SELECT * FROM rollup_tenant_total_hour WHERE \(nonEmpty)",
                """
                SELECT project_id, \(hour), environment, coalesce(tenant, ''), \(measures)
                FROM \(calls) GROUP BY 1, 2, 3, 4
                """
            ),
            (
                "prompt", "SELECT * FROM rollup_prompt_day WHERE \(nonEmpty)",
                """
                SELECT project_id, prompt_name, prompt_version, \(day), environment, \(measures)
                FROM \(calls) WHERE prompt_name IS NOT NULL GROUP BY 1, 2, 3, 4, 5
                """
            ),
            (
                "prompt latency", "SELECT * FROM rollup_prompt_latency_day WHERE n <> 0",
                """
                SELECT project_id, prompt_name, prompt_version, \(day), environment,
                    floor(ln(greatest((end_time - start_time) / 1000.0, 0.001)::float8) / ln(1.02::float8))::integer,
                    sum(n)::bigint
                FROM \(calls) WHERE prompt_name IS NOT NULL AND end_time IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6
                HAVING sum(n) <> 0
                """
            ),
            (
                "trace totals",
                """
                SELECT project_id, id, observation_count, input_tokens, output_tokens, total_tokens,
                    total_cost_nanos, duration_micros, max_level FROM trace
                """,
                """
                SELECT t.project_id, t.id, count(o.id), coalesce(sum(o.input_tokens), 0)::bigint,
                    coalesce(sum(o.output_tokens), 0)::bigint, coalesce(sum(o.total_tokens), 0)::bigint,
                    coalesce(sum(o.total_cost_nanos), 0)::bigint,
                    coalesce(max(coalesce(o.end_time, o.start_time)) - min(o.start_time), 0),
                    coalesce(max(\(SharedSQL.levelRank("o.level"))) FILTER (WHERE o.id IS NOT NULL), 1)::smallint
                FROM trace t LEFT JOIN observation o ON o.project_id = t.project_id AND o.trace_id = t.id
                GROUP BY t.project_id, t.id
                """
            ),
            ("loop screen", RollupTests.loopScreen.stored, RollupTests.loopScreen.fresh),
            (
                "usage keys", "SELECT * FROM rollup_usage_key_day WHERE \(usageKeyNonEmpty)",
                """
                SELECT * FROM (
                    SELECT project_id, day, environment, feature, type, model, usage_key, has_total,
                        sum(n)::bigint AS n, sum(uncosted)::bigint AS uncosted, sum(errors)::bigint AS errors,
                        sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,
                        sum(total_tokens)::bigint AS total_tokens, sum(cost_nanos)::bigint AS cost_nanos,
                        sum(units)::bigint AS units
                    FROM (\(usageKeyDeltas)) d GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
                ) f WHERE \(usageKeyNonEmpty)
                """
            ),
            (
                "call shapes", "SELECT * FROM rollup_call_shape_day WHERE n <> 0 OR costed <> 0",
                """
                SELECT o.project_id, \(day), o.environment, coalesce(o.feature, ''), coalesce(o.model, ''),
                    coalesce(o.prompt_name, ''), coalesce(o.prompt_version, 0)::bigint, a.axis,
                    tally_token_bucket(CASE a.axis WHEN 0 THEN o.input_tokens ELSE o.output_tokens END),
                    count(*)::bigint, sum((o.total_cost_nanos IS NOT NULL)::int)::bigint
                FROM observation o CROSS JOIN (VALUES (0::smallint), (1::smallint)) AS a(axis)
                WHERE o.type = 'GENERATION' GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
                """
            ),
            (
                "shares",
                """
                SELECT project_id, id, input_tokens, output_tokens, total_tokens, coalesce(total_cost_nanos, 0), 1::bigint
                FROM observation WHERE shared
                """,
                """
                SELECT project_id, observation_id, sum(input_tokens)::bigint, sum(output_tokens)::bigint,
                    sum(total_tokens)::bigint, sum(coalesce(total_cost_nanos, 0))::bigint, sum(n)::bigint
                FROM observation_share GROUP BY 1, 2
                """
            ),
        ]
        for (name, rollup, fresh) in checks {
            #expect(try await mismatches(store, rollup, fresh) == 0, "\(name) after \(label)")
        }
        guard counters else { return }
        // The model-call counters, while nothing was deleted (deletes do not subtract them).
        let metric = """
            SELECT project_id, environment, coalesce(tenant, ''), coalesce(feature, ''), coalesce(model, ''),
                (level = 'ERROR')::int::smallint, sum(n)::bigint, sum(input_tokens)::bigint,
                sum(output_tokens)::bigint,
                sum(coalesce(share_cache_read, tally_usage_class(usage_details, 'cache_read')))::bigint,
                sum(coalesce(share_cache_write, tally_usage_class(usage_details, 'cache_write')))::bigint,
                sum(coalesce(share_reasoning, tally_usage_class(usage_details, 'reasoning')))::bigint,
                sum(coalesce(total_cost_nanos, 0))::bigint
            FROM \(calls) WHERE type IN ('GENERATION', 'EMBEDDING') GROUP BY 1, 2, 3, 4, 5, 6
            """
        #expect(
            try await mismatches(
                store, "SELECT * FROM rollup_metric WHERE n <> 0 OR input_tokens <> 0 OR cost_nanos <> 0", metric)
                == 0, "counters after \(label)")
    }

    @Test("creates, re-sends, late tenants, shares, month moves, recompute and deletes from two collectors")
    func exactThroughEveryWrite() async throws {
        try await PostgresHarness.withDatabase { a, url in
            try await PostgresHarness.running(try PostgresStore(url: url, poolSize: 4)) { b in
                _ = try await a.ensureProject(id: "p", name: "p")
                var rng = RollupTests.RNG(state: 7)
                let events = RollupTests.workload(&rng)
                // Chunks of 40 events, alternating collectors, all at once: traces and rollup rows are shared.
                func concurrently(_ events: [IngestionEvent]) async throws {
                    let chunks = stride(from: 0, to: events.count, by: 40).map {
                        Array(events[$0..<min($0 + 40, events.count)])
                    }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (i, chunk) in chunks.enumerated() {
                            let store: PostgresStore = i.isMultiple(of: 2) ? a : b
                            group.addTask {
                                let results = try await store.ingest(projectID: "p", events: chunk)
                                #expect(results.allSatisfy { (try? $0.get()) != nil })
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                try await concurrently(events)
                try await Self.assertExact(a, counters: true, "creates")
                try await concurrently(events)
                try await Self.assertExact(a, counters: true, "a re-send")
                try await concurrently(RollupTests.updates(&rng))
                try await Self.assertExact(a, counters: true, "updates")

                // An update that arrives first makes a placeholder in October; its create moves it to November's
                // partition (a shared call: its shares stay and move with it).
                let october = Timestamp(microseconds: RollupTests.day0 - 40 * RollupTests.day)
                var early = ObservationUpsert(id: "mover", type: .generation, isUpdate: true)
                early.traceID = "t1"
                early.usage = ["input": 100, "output": 10]
                early.metadata = ["tenantShares": ["tenant-0": 1, "tenant-1": 3]]
                _ = try await b.ingest(
                    projectID: "p",
                    events: [IngestionEvent(eventID: "m1", timestamp: october, body: .observation(early))])
                try await Self.assertExact(a, counters: true, "a placeholder")
                var create = ObservationUpsert(id: "mover", type: .generation, isUpdate: false)
                create.traceID = "t1"
                create.startTime = Timestamp(microseconds: RollupTests.day0 + 5_000_000)
                create.model = "gpt-4o"
                _ = try await a.ingest(
                    projectID: "p",
                    events: [
                        IngestionEvent(
                            eventID: "m2", timestamp: Timestamp(microseconds: RollupTests.day0),
                            body: .observation(create))
                    ])
                var table = ""
                for try await t in try await a.client.query(
                    "SELECT tableoid::regclass::text FROM observation WHERE id = 'mover'"
                ).decode(String.self) {
                    table = t
                }
                #expect(table == PartitionMonth(micros: RollupTests.day0).table)
                try await Self.assertExact(a, counters: true, "a move between partitions")

                try await a.setPricingSettings(projectID: "p", PricingSettings(builtinPrices: true, priceBy: .response))
                #expect(try await b.recomputeCosts(projectID: "p", from: nil, to: nil) > 0)
                try await Self.assertExact(a, counters: true, "recompute")

                async let first = a.deleteTraces(projectID: "p", ids: (0..<20).map { "t\($0)" })
                async let second = b.deleteTraces(projectID: "p", ids: (10..<40).map { "t\($0)" })
                let (x, y) = try await (first, second)
                #expect(x + y == 40)
                try await Self.assertExact(a, counters: false, "deletes")
            }
        }
    }
}
