import Foundation
import PostgresNIO
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

@Suite("Store conformance: retention")
struct RetentionConformanceTests {
    @Test(
        "settings and policies; old traces go in batches with their observations and scores",
        arguments: Backend.available)
    func perTraceDeletes(_ backend: Backend) async throws {
        try await backend.withStore { store in
            _ = try await store.ensureProject(id: "p", name: "p")
            _ = try await store.ensureProject(id: "q", name: "q")
            _ = try await store.ensureProject(id: "r", name: "r")
            try await store.setRetentionDays(projectID: "q", 0)
            try await store.setRetentionDays(projectID: "r", 7)
            #expect(try await store.retentionDays(projectID: "q") == 0)
            #expect(try await store.retentionDays(projectID: "p") == nil)
            #expect(
                try await store.retentionPolicies(defaultDays: 30).map { "\($0.projectID)=\($0.days)" } == [
                    "p=30", "r=7",
                ])
            #expect(try await store.retentionPolicies(defaultDays: nil).map(\.projectID) == ["r"])

            var rng = RollupTests.RNG(state: 3)
            _ = try await store.ingest(projectID: "p", events: RollupTests.workload(&rng))
            var loose = Score(
                id: "loose", name: "q", value: 1, stringValue: nil, dataType: .numeric,
                timestamp: Timestamp(microseconds: RollupTests.day0))
            loose.sessionID = "s"
            _ = try await store.ingest(
                projectID: "p", events: [IngestionEvent(eventID: "l", timestamp: loose.timestamp, body: .score(loose))])
            let cutoff = Timestamp(microseconds: RollupTests.day0 + RollupTests.day + RollupTests.day / 2)
            var before = TraceQuery()
            before.to = cutoff
            let old = try await store.traces(projectID: "p", query: before).totalItems
            #expect(old > 20)
            var deleted = 0
            while true {
                let n = try await store.deleteTraces(projectID: "p", olderThan: cutoff, limit: 25)
                deleted += n.traces
                if n.traces < 25, n.scores < 25 { break }
            }
            #expect(deleted == old)
            #expect(try await store.traces(projectID: "p", query: before).totalItems == 0)
            #expect(try await store.score(projectID: "p", id: "loose") == nil)
            var all = ObservationQuery()
            all.toStartTime = cutoff
            all.fromStartTime = Timestamp(microseconds: 0)
            let left = try await store.observations(projectID: "p", query: all).items
            // Observations left before the cutoff belong to traces that started after it, never to deleted ones.
            for o in left { #expect(try await store.trace(projectID: "p", id: o.traceID) != nil) }
            if let sqlite = store as? TallyDatabase { try await RollupTests.assertRollupsExact(sqlite) }
            if let pg = store as? PostgresStore {
                try await PostgresRollupTests.assertExact(pg, counters: false, "retention")
            }
        }
    }

    @Test(
        "PostgreSQL: a month every retention expired is dropped whole; rollups, shares and surviving traces stay exact",
        .enabled(if: Backend.postgresURL != nil))
    func partitionDrop() async throws {
        try await PostgresHarness.withDatabase { pg in
            _ = try await pg.ensureProject(id: "p", name: "p")
            let october = Timestamp(iso8601: "2026-10-20T10:00:00Z")!
            let november = Timestamp(iso8601: "2026-11-02T10:00:00Z")!
            func call(_ id: String, trace: String, at t: Timestamp, shares: JSONValue? = nil) -> IngestionEvent {
                var o = ObservationUpsert(id: id, type: .generation, isUpdate: false)
                o.traceID = trace
                o.startTime = t
                o.model = "gpt-4o"
                o.usage = ["input": 1_000, "output": 100]
                if let shares { o.metadata = ["tenantShares": shares] }
                return IngestionEvent(eventID: id, timestamp: t, body: .observation(o))
            }
            var spanning = TraceUpsert(id: "spanning")
            spanning.timestamp = november
            _ = try await pg.ingest(
                projectID: "p",
                events: [
                    call("old-1", trace: "old", at: october),
                    call("old-2", trace: "old", at: october, shares: ["a": 1, "b": 1]),
                    call("early", trace: "spanning", at: october), call("late", trace: "spanning", at: november),
                    IngestionEvent(eventID: "s", timestamp: november, body: .trace(spanning)),
                ])
            #expect(try await pg.dropExpired(olderThan: Timestamp(iso8601: "2026-10-31T00:00:00Z")!) == 0)
            #expect(try await pg.dropExpired(olderThan: Timestamp(iso8601: "2026-11-01T00:00:00Z")!) == 3)
            #expect(try await pg.observation(projectID: "p", id: "old-1") == nil)
            var shares = -1
            for try await n in try await pg.client.query("SELECT count(*) FROM observation_share").decode(Int.self) {
                shares = n
            }
            #expect(shares == 0)
            let survivor = try #require(
                try await pg.traceList(projectID: "p", query: TraceListQuery()).rows.first { $0.trace.id == "spanning" }
            )
            #expect(survivor.totals?.observations == 1)
            try await PostgresRollupTests.assertExact(pg, counters: false, "a dropped partition")
            // The per-trace pass then removes the emptied old trace.
            #expect(try await pg.deleteTraces(projectID: "p", olderThan: november, limit: 100).traces == 1)
            try await PostgresRollupTests.assertExact(pg, counters: false, "the per-trace pass")
        }
    }
}
