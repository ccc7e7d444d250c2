import Foundation
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyStore

/// SDKs re-send whole batches; a batch that arrives again after a newer one must change nothing.
@Suite("Store conformance: merge by event time")
struct StaleRetryTests {
    static let t0 = Timestamp(iso8601: "2026-11-20T10:00:00Z")!
    static let t2 = Timestamp(iso8601: "2026-11-20T10:00:02Z")!

    /// Batch A: trace + generation create at t0. Batch B: trace and generation updates 2 s later.
    static func batchA() -> [IngestionEvent] {
        var trace = TraceUpsert(id: "t1")
        trace.name = "draft"
        trace.timestamp = t0
        trace.output = "first answer"
        trace.metadata = ["step": "a", "tenantId": "acme"]
        var gen = ObservationUpsert(id: "g1", type: .generation, isUpdate: false)
        gen.traceID = "t1"
        gen.name = "chat-draft"
        gen.model = "gpt-4o"
        gen.startTime = t0
        gen.output = "first"
        gen.usage = ["input": 100, "output": 10, "total": 110]
        gen.level = .warning
        var score = Score(id: "s1", name: "quality", value: 0.2, stringValue: nil, dataType: .numeric, timestamp: t0)
        score.traceID = "t1"
        return [
            IngestionEvent(eventID: "a1", timestamp: t0, body: .trace(trace)),
            IngestionEvent(eventID: "a2", timestamp: t0, body: .observation(gen)),
            IngestionEvent(eventID: "a3", timestamp: t0, body: .score(score)),
        ]
    }

    static func batchB() -> [IngestionEvent] {
        var trace = TraceUpsert(id: "t1")
        trace.name = "final"
        trace.output = "second answer"
        trace.metadata = ["step": "b"]
        var gen = ObservationUpsert(id: "g1", type: .generation, isUpdate: true)
        gen.name = "chat-final"
        gen.output = "second"
        gen.usage = ["input": 200, "output": 20, "total": 220]
        gen.level = .error
        gen.endTime = t2
        var score = Score(id: "s1", name: "quality", value: 0.9, stringValue: nil, dataType: .numeric, timestamp: t2)
        score.traceID = "t1"
        return [
            IngestionEvent(eventID: "b1", timestamp: t2, body: .trace(trace)),
            IngestionEvent(eventID: "b2", timestamp: t2, body: .observation(gen)),
            IngestionEvent(eventID: "b3", timestamp: t2, body: .score(score)),
        ]
    }

    func state(_ db: any StoreUnderTest) async throws -> (Trace, Observation, Score) {
        let (summary, observations, scores) = try #require(try await db.trace(projectID: "p1", id: "t1"))
        return (summary.trace, try #require(observations.first), try #require(scores.first))
    }

    @Test(
        "A, B, then A re-sent: names, output, metadata, level, usage, cost and the score keep B's values",
        arguments: Backend.available)
    func staleResendChangesNothing(_ backend: Backend) async throws {
        try await backend.withStore { db in
            _ = try await db.ensureProject(id: "p1", name: "one")
            _ = try await db.ingest(projectID: "p1", events: Self.batchA())
            _ = try await db.ingest(projectID: "p1", events: Self.batchB())
            let (traceB, genB, scoreB) = try await state(db)
            #expect(traceB.name == "final")
            #expect(genB.totals.totalTokens == 220)
            let results = try await db.ingest(projectID: "p1", events: Self.batchA())
            #expect(results.allSatisfy { if case .success = $0 { return true } else { return false } })
            let (trace, gen, score) = try await state(db)
            #expect(trace.name == "final")
            #expect(trace.output == "second answer")
            #expect(trace.metadata == ["step": "b", "tenantId": "acme"])
            #expect(gen.name == "chat-final")
            #expect(gen.output == "second")
            #expect(gen.usage == ["input": 200, "output": 20, "total": 220])
            #expect(gen.cost == genB.cost)
            #expect(gen.level == .error)
            #expect(gen.endTime == Self.t2)
            #expect(score.value == 0.9)
            #expect(scoreB.value == 0.9)
            // Idempotent: B again, then A and B together, leave the same state.
            _ = try await db.ingest(projectID: "p1", events: Self.batchB())
            _ = try await db.ingest(projectID: "p1", events: Self.batchA() + Self.batchB())
            let (trace2, gen2, score2) = try await state(db)
            #expect(trace2.name == trace.name && trace2.output == trace.output && trace2.metadata == trace.metadata)
            #expect(gen2.usage == gen.usage && gen2.output == gen.output && gen2.name == gen.name)
            #expect(score2.value == score.value)
        }
    }

    @Test("an older event still fills fields the newer one left empty", arguments: Backend.available)
    func olderFillsGaps(_ backend: Backend) async throws {
        try await backend.withStore { db in
            _ = try await db.ensureProject(id: "p1", name: "one")
            // The update (t2) arrives first and makes a placeholder; the create (t0) comes later.
            _ = try await db.ingest(projectID: "p1", events: [Self.batchB()[1]])
            _ = try await db.ingest(projectID: "p1", events: [Self.batchA()[1]])
            let (_, observations, _) = try #require(try await db.trace(projectID: "p1", id: "t1"))
            let gen = try #require(observations.first)
            #expect(gen.model == "gpt-4o")
            #expect(gen.startTime == Self.t0)
            #expect(gen.name == "chat-final")
            #expect(gen.output == "second")
            #expect(gen.usage["total"] == 220)
            #expect(gen.type == .generation)
            #expect(!gen.isPlaceholder)
        }
    }

    @Test(
        "savepoint path: a failed event's placeholder trace is not taken as stored by a later event",
        arguments: Backend.available)
    func savepointDoesNotCacheRolledBackTrace(_ backend: Backend) async throws {
        try await backend.withStore { db in
            _ = try await db.ensureProject(id: "p1", name: "one")
            // First event: a generation whose usage is out of range fails after creating trace t9's placeholder.
            var bad = ObservationUpsert(id: "bad", type: .generation, isUpdate: false)
            bad.traceID = "t9"
            bad.startTime = Self.t0
            bad.usage = ["input": NumericLimits.maxUnits + 1]
            var good = ObservationUpsert(id: "good", type: .span, isUpdate: false)
            good.traceID = "t9"
            good.startTime = Self.t2
            let results = try await db.ingest(
                projectID: "p1",
                events: [
                    IngestionEvent(eventID: "e1", timestamp: Self.t0, body: .observation(bad)),
                    IngestionEvent(eventID: "e2", timestamp: Self.t2, body: .observation(good)),
                ])
            guard case .failure(let error) = results[0] else {
                Issue.record("the out-of-range event was stored")
                return
            }
            #expect(error.kind == .invalid)
            #expect(error.error?.contains("usage.input") == true)
            if case .failure(let e) = results[1] { Issue.record("neighbour failed: \(e)") }
            // The trace exists (made again for the good span), so the span is reachable.
            let (summary, observations, _) = try #require(try await db.trace(projectID: "p1", id: "t9"))
            #expect(summary.trace.timestamp == Self.t2)
            #expect(observations.map(\.id) == ["good"])
        }
    }
}
