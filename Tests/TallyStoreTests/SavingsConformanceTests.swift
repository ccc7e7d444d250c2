import Foundation
import TallyCore
import TallySQL
import TallyStoreAPI
import Testing

/// What-if pricing and the waste finders on each backend, over `SavingsWorkload`: every figure below is worked out by
/// hand from the workload's token counts and the built-in prices (USD per token as integer pico-USD).
@Suite("Store conformance: what-if and waste finders")
struct SavingsConformanceTests {
    static func withWorkload(_ backend: Backend, _ body: @Sendable (any StoreUnderTest) async throws -> Void)
        async throws
    {
        try await backend.withStore { store in
            _ = try await store.ensureProject(id: "p", name: "p")
            let results = try await store.ingest(projectID: "p", events: SavingsWorkload.events())
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            try await body(store)
        }
    }

    /// Every day, for asking whether a rollup can answer a query at all.
    static let unbounded = RollupRange(from: nil as Int64?, to: nil, unit: RollupRange.day)!

    static func query(_ model: String) -> WhatIfQuery {
        var q = WhatIfQuery(model: model)
        q.filter.from = SavingsWorkload.from
        q.filter.to = SavingsWorkload.to
        return q
    }

    @Test("what-if prices each group's summed usage as the target, to the nano-dollar", arguments: Backend.available)
    func whatIf(_ backend: Backend) async throws {
        try await Self.withWorkload(backend) { store in
            var q = Self.query("gpt-4o-mini")
            q.filter.features = ["classify"]
            q.dimensions = [.model]
            let a = try await store.whatIf(projectID: "p", query: q, now: SavingsWorkload.to)
            #expect(a.target.id == "gpt-4o-mini")
            #expect(a.rows.map(\.sums.keys) == [["gpt-4o"], ["gpt-4o-mini"]])
            // gpt-4o: 40 calls × (400 in × 2.5 µUSD + 10 out × 10 µUSD) = 44,000,000 nano-USD. As gpt-4o-mini:
            // 16,000 in × 0.15 µUSD = 2,400,000 and 400 out × 0.6 µUSD = 240,000.
            let big = try #require(a.rows.first)
            #expect(big.sums.calls == 40 && big.sums.uncostedCalls == 0 && big.sums.errors == 0)
            #expect(big.sums.usage == ["input": 16_000, "output": 400])
            #expect(big.sums.inputTokens == 16_000 && big.sums.outputTokens == 400)
            #expect(big.sums.costNanos == 44_000_000 && big.whatIfNanos == 2_640_000)
            #expect(big.differenceNanos == -41_360_000)
            // gpt-4o-mini priced as itself: unchanged (20 × (60,000 + 6,000)).
            #expect(a.rows[1].sums.costNanos == 1_320_000 && a.rows[1].whatIfNanos == 1_320_000)
            #expect(a.total.sums.costNanos == 45_320_000 && a.total.whatIfNanos == 3_960_000)
            #expect(a.total.sums.calls == 60)
            // Both models ran on classify: error rates and mean scores side by side, the target first.
            let quality = try #require(a.quality.first)
            #expect(a.quality.count == 1 && quality.feature == "classify")
            #expect(quality.models.map(\.model) == ["gpt-4o-mini", "gpt-4o"])
            #expect(quality.models.map(\.isTarget) == [true, false])
            #expect(quality.models.map(\.calls) == [20, 40] && quality.models.allSatisfy { $0.errors == 0 })
            #expect(abs((quality.models[0].scores["accuracy"] ?? 0) - 0.8) < 1e-9)
            #expect(abs((quality.models[1].scores["accuracy"] ?? 0) - 0.9) < 1e-9)

            // A model priced on totals bills every unit: 9 embeddings × 1,000 × 0.13 µUSD.
            var embed = Self.query("text-embedding-3-large")
            embed.filter.features = ["indexer"]
            let e = try await store.whatIf(projectID: "p", query: embed, now: SavingsWorkload.to)
            #expect(e.total.sums.costNanos == 180_000 && e.total.whatIfNanos == 1_170_000)
            #expect(e.quality.isEmpty)

            // Errors of the repriced calls are counted; a project without calls answers zeros.
            var support = Self.query("gpt-4o")
            support.filter.features = ["support-chat"]
            let s = try await store.whatIf(projectID: "p", query: support, now: SavingsWorkload.to)
            #expect(s.total.sums.calls == 30 && s.total.sums.errors == 6)
            // 15,000 in × 2.5 µUSD + 1,500 out × 10 µUSD.
            #expect(s.total.whatIfNanos == 37_500_000 + 15_000_000)
            let none = try await store.whatIf(projectID: "other", query: support, now: SavingsWorkload.to)
            #expect(none.rows.isEmpty && none.total.whatIfNanos == 0)

            await #expect(throws: WhatIf.Failure.unknownModel("no-such-model")) {
                try await store.whatIf(projectID: "p", query: Self.query("no-such-model"), now: SavingsWorkload.to)
            }
        }
    }

    @Test(
        "what-if from the usage-key rollup plus partial days equals a scan of the calls, after deletes and changes",
        arguments: Backend.available)
    func rollupEqualsScan(_ backend: Backend) async throws {
        try await Self.withWorkload(backend) { store in
            // Later: two calls deleted with their traces, one call repriced by a new model and usage, one moved a
            // day on, one turned into an error.
            _ = try await store.deleteTraces(projectID: "p", ids: ["classify-a1", "index-b1"])
            var changed = ObservationUpsert(id: "summarize-3-o1", type: .generation, isUpdate: true)
            changed.model = "gpt-4.1"
            changed.usage = ["input": 900, "output": 300, "cache_read": 100]
            var moved = ObservationUpsert(id: "rag-5-o1", type: .generation, isUpdate: true)
            moved.startTime = Timestamp(microseconds: SavingsWorkload.day0 + 12 * SavingsWorkload.day)
            var failed = ObservationUpsert(id: "support-1-o1", type: .generation, isUpdate: true)
            failed.level = .error
            let at = Timestamp(microseconds: SavingsWorkload.day0 + 20 * SavingsWorkload.day)
            let later = [changed, moved, failed].map {
                IngestionEvent(eventID: "u-\($0.id)", timestamp: at, body: .observation($0))
            }
            _ = try await store.ingest(projectID: "p", events: later)
            let reader = try #require(store as? any SQLReader)
            let stored = try await reader.rows(SQLQuery("SELECT count(*) AS n FROM rollup_usage_key_day"))
            #expect((stored.first?.int("n") ?? 0) > 0)
            let day = SavingsWorkload.day
            let ranges: [(Int64?, Int64?)] = [
                (nil, nil), (SavingsWorkload.day0, SavingsWorkload.day0 + 14 * day),
                (SavingsWorkload.day0 + 3 * 3_600_000_000, SavingsWorkload.day0 + 10 * day + 5 * 3_600_000_000),
            ]
            for dims in [[], [.feature], [.model], [.feature, .model], [.type, .environment]] as [[AnalyticsDimension]]
            {
                for (from, to) in ranges {
                    var q = WhatIfQuery(model: "gpt-4o-mini")
                    q.dimensions = dims
                    q.filter.from = from.map { Timestamp(microseconds: $0) }
                    q.filter.to = to.map { Timestamp(microseconds: $0) }
                    let rolled = try await reader.whatIfSums(projectID: "p", query: q, rollups: true)
                    let scanned = try await reader.whatIfSums(projectID: "p", query: q, rollups: false)
                    #expect(
                        rolled == scanned, "\(dims.map(\.name)) \(String(describing: from)) \(String(describing: to))")
                    #expect(!rolled.isEmpty)
                    #expect(AnalyticsSQL(reader.dialect).whatIfRollup(q, projectID: "p", range: Self.unbounded) != nil)
                }
            }
        }
    }

    @Test(
        "the finders' call profile from the rollup plus partial days equals a scan and Swift's buckets, after changes",
        arguments: Backend.available)
    func callShapesRollupEqualsScan(_ backend: Backend) async throws {
        try await Self.withWorkload(backend) { store in
            // Generations at every power of two and its neighbours up to 2^39 + 1 (ingest refuses more than 10^12
            // units), stored on day 3; half arrive without usage and get it by a later update (the update triggers
            // bucket them, the others the insert path). Then a delete, a prompt change, a move and a repricing.
            var boundaries: [Int64] = [0, 1, 2, 3]
            for k in Int64(2)...39 {
                let power: Int64 = 1 << k
                boundaries += [power - 1, power, power + 1]
            }
            var b = SavingsWorkload.Builder()
            let day = SavingsWorkload.day
            let t0 = SavingsWorkload.day0 + 3 * SavingsWorkload.day + 3_600_000_000
            b.trace("bounds", at: t0, tenant: "acme", feature: "bounds")
            var updates: [IngestionEvent] = []
            for (i, tokens) in boundaries.enumerated() {
                let output = boundaries[boundaries.count - 1 - i]
                if i % 2 == 0 {
                    b.call("bounds", at: t0 + Int64(i), model: "gpt-4o-mini", input: tokens, output: output)
                } else {
                    b.call("bounds", at: t0 + Int64(i), model: "gpt-4o-mini")
                    var u = ObservationUpsert(id: "bounds-o\(b.n)", type: .generation, isUpdate: true)
                    u.usage = ["input": tokens, "output": output]
                    updates.append(
                        IngestionEvent(
                            eventID: "u-\(u.id)", timestamp: Timestamp(microseconds: t0 + day), body: .observation(u)))
                }
            }
            _ = try await store.ingest(projectID: "p", events: b.events)
            _ = try await store.ingest(projectID: "p", events: updates)
            _ = try await store.deleteTraces(projectID: "p", ids: ["classify-a1"])
            var prompted = ObservationUpsert(id: "summarize-3-o1", type: .generation, isUpdate: true)
            (prompted.promptName, prompted.promptVersion) = ("summary", 7)
            prompted.usage = ["input": 5_000, "output": 3]
            var moved = ObservationUpsert(id: "rag-5-o1", type: .generation, isUpdate: true)
            moved.startTime = Timestamp(microseconds: SavingsWorkload.day0 + 12 * SavingsWorkload.day)
            var repriced = ObservationUpsert(id: "support-1-o1", type: .generation, isUpdate: true)
            repriced.model = "no-price-model"
            let at = Timestamp(microseconds: SavingsWorkload.day0 + 20 * SavingsWorkload.day)
            _ = try await store.ingest(
                projectID: "p",
                events: [prompted, moved, repriced].map {
                    IngestionEvent(eventID: "u-\($0.id)", timestamp: at, body: .observation($0))
                })
            let reader = try #require(store as? any SQLReader)
            for (from, to) in [
                (SavingsWorkload.day0 - day, SavingsWorkload.day0 + 30 * day),
                (SavingsWorkload.day0 + 3 * 3_600_000_000, SavingsWorkload.day0 + 10 * day + 5 * 3_600_000_000),
                (SavingsWorkload.day0 + 3 * day, SavingsWorkload.day0 + 4 * day),
            ] {
                let q = InsightQuery(from: Timestamp(microseconds: from), to: Timestamp(microseconds: to))
                #expect(InsightSQL(reader.dialect).callShapeRollup(q, projectID: "p", range: Self.unbounded) != nil)
                let rolled = try await reader.callShapes(projectID: "p", q, rollups: true)
                let scanned = try await reader.callShapes(projectID: "p", q, rollups: false)
                #expect(rolled == scanned, "\(from) \(to)")
                #expect(rolled.count > 1)
                // The boundary generations, bucketed as TallyCore buckets them.
                var expected = CallShape()
                for (i, tokens) in boundaries.enumerated() {
                    let output = boundaries[boundaries.count - 1 - i]
                    let added =
                        expected.input.add(1, bucket: TokenHistogram.bucket(tokens))
                        && expected.costedInput.add(1, bucket: TokenHistogram.bucket(tokens))
                        && expected.costedOutput.add(1, bucket: TokenHistogram.bucket(output))
                    #expect(added)
                }
                let bounds = CallShapeGroup(
                    feature: "bounds", model: "gpt-4o-mini", promptName: nil, promptVersion: nil)
                #expect(rolled[bounds]?.input.calls.filter { $0.value != 0 } == expected.input.calls)
                #expect(rolled[bounds]?.costedOutput.calls.filter { $0.value != 0 } == expected.costedOutput.calls)
                #expect(expected.input.calls[39] == 2 && expected.input.calls[0] == 2)
            }
            // A tenant's view has no rollup: it scans.
            var tenant = InsightQuery(from: SavingsWorkload.from, to: SavingsWorkload.to)
            tenant.tenants = ["acme"]
            #expect(InsightSQL(reader.dialect).callShapeRollup(tenant, projectID: "p", range: Self.unbounded) == nil)
        }
    }

    @Test(
        "each kind of waste is found once for its subject, priced by hand; the controls are not",
        arguments: Backend.available)
    func findings(_ backend: Backend) async throws {
        try await Self.withWorkload(backend) { store in
            let q = InsightQuery(from: SavingsWorkload.from, to: SavingsWorkload.to)
            let found = try await store.insights(projectID: "p", query: q)
            let summary = found.map { "\($0.type.rawValue) \($0.subject.feature ?? "-") \($0.subject.model ?? "-")" }
            #expect(
                summary == [
                    "context_bloat summarize -", "model_downgrade classify gpt-4o", "agent_loop agent -",
                    "context_bloat rag -", "retry_waste support-chat gpt-4o-mini",
                    "cache_opportunity faq gpt-4.1-mini", "embed_reindex indexer text-embedding-3-small",
                ])
            // Waste over the evidence's period, then scaled to 30 days (14-day range: × 30/14; a week: × 30/7).
            #expect(
                found.map(\.wasteNanos) == [25_000_000, 43_040_000, 31_500_000, 22_800_000, 630_000, 384_000, 60_000])
            #expect(
                found.map(\.monthlyNanos) == [
                    107_142_857, 92_228_571, 67_500_000, 48_857_143, 1_350_000, 822_857, 128_571,
                ])

            func finding(_ type: InsightType, _ feature: String) throws -> Finding {
                try #require(found.first { $0.type == type && $0.subject.feature == feature })
            }
            // summarize: week 2 sends 1,500 input tokens per call against 1,000: this week's input cost
            // (20 × 1,500 × 2.5 µUSD = 75,000,000) × (1 − 1,000 / 1,500).
            let bloat = try finding(.contextBloat, "summarize")
            #expect(bloat.evidence["addedInputCostNanos"] == .int(25_000_000))
            #expect(bloat.evidence["calls"] == .int(20) && bloat.evidence["previousCalls"] == .int(20))
            // classify on gpt-4o: p95 400 in, 10 out; the cheapest OpenAI model, gpt-5-nano, would cost
            // 16,000 × 0.05 µUSD + 400 × 0.4 µUSD = 960,000 against 44,000,000.
            let downgrade = try finding(.modelDowngrade, "classify")
            #expect(downgrade.evidence["alternativeModel"] == .string("gpt-5-nano"))
            #expect(downgrade.evidence["alternativeCostNanos"] == .int(960_000))
            #expect(
                downgrade.evidence["p95InputTokens"] == .int(400) && downgrade.evidence["p95OutputTokens"] == .int(10))
            #expect(downgrade.traces.count == 3 && downgrade.traces.allSatisfy { $0.hasPrefix("classify-a") })
            // agent: the 14-call trace after its 10th call (4 calls) and the tool loop after the 5th search_tool
            // (3 calls), 4.5 mUSD each; the two loops spent 22 of the feature's 52 calls.
            let loops = try finding(.agentLoop, "agent")
            #expect(loops.evidence["loopingTraces"] == .int(2))
            #expect(loops.evidence["loopCostNanos"] == .int(99_000_000))
            #expect(loops.evidence["featureCostNanos"] == .int(234_000_000))
            #expect(loops.evidence["maxCallsInTrace"] == .int(14) && loops.evidence["maxRepeatsInTrace"] == .int(6))
            #expect(loops.traces == ["agent-loop-1", "agent-loop-2"])
            // rag-answer v2: median 1,000, p95 20,000; the three 20,000-token calls trimmed to 1,000:
            // 3 × 8,000,000 × 19,000 / 20,000.
            let spread = try finding(.contextBloat, "rag")
            #expect(spread.subject.promptName == "rag-answer" && spread.subject.promptVersion == 2)
            #expect(
                spread.evidence["medianInputTokens"] == .int(1_000) && spread.evidence["p95InputTokens"] == .int(20_000)
            )
            #expect(spread.evidence["outlierCalls"] == .int(3))
            #expect(spread.traces == ["rag-11", "rag-3", "rag-30"])
            // support-chat: 6 errors × 105,000.
            let retry = try finding(.retryWaste, "support-chat")
            #expect(retry.evidence["errors"] == .int(6) && retry.evidence["calls"] == .int(30))
            // faq: Q1's three repeats within the hour × 128,000; Q2 (2 h apart), Q3 (a cache answered) and Q4
            // (another tenant) are not waste.
            let cache = try finding(.cacheOpportunity, "faq")
            #expect(cache.evidence["repeatedCalls"] == .int(3) && cache.evidence["distinctInputs"] == .int(1))
            #expect(cache.traces == ["faq-q1-1", "faq-q1-2", "faq-q1-3"])
            // indexer: documents 1–3 embedded again × 20,000.
            let embed = try finding(.embedReindex, "indexer")
            #expect(embed.evidence["repeatedCalls"] == .int(3) && embed.evidence["distinctInputs"] == .int(3))

            // Thresholds are parameters: a looser downgrade ratio also flags classify on gpt-4o-mini
            // (1,320,000 against 480,000 on gpt-5-nano: 2.75×).
            var loose = q
            loose.thresholds.downgradeRatio = 2
            let more = try await store.insights(projectID: "p", query: loose)
            #expect(
                more.contains {
                    $0.type == .modelDowngrade && $0.subject.model == "gpt-4o-mini" && $0.subject.feature == "classify"
                        && $0.wasteNanos == 840_000
                })
            // A tenant sees its own calls only: globex has summarize and one faq call.
            var globex = q
            globex.tenants = ["globex"]
            let theirs = try await store.insights(projectID: "p", query: globex)
            #expect(theirs.map(\.type) == [.contextBloat] && theirs.first?.subject.feature == "summarize")
            // Nothing in another range or project.
            #expect(try await store.insights(projectID: "other", query: q).isEmpty)
        }
    }
}
