import Foundation
import GRDB
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyStore

@Suite("Retention and backup")
struct RetentionTests {
    @Test("retention deletes old traces in bounded batches with their observations and scores; rollups stay exact")
    func retentionKeepsRollupsExact() async throws {
        let (db, _) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        try db.ensureProject(id: "q", name: "q")
        var rng = RollupTests.RNG(state: 3)
        let events = RollupTests.workload(&rng)
        _ = try await db.ingest(projectID: "p", events: events)
        _ = try await db.ingest(projectID: "q", events: events)
        var score = Score(
            id: "s-old", name: "q", value: 1, stringValue: nil, dataType: .numeric,
            timestamp: Timestamp(microseconds: RollupTests.day0))
        score.sessionID = "old-session"  // a trace-less score older than the cutoff goes too
        _ = try await db.ingest(
            projectID: "p", events: [IngestionEvent(eventID: "s", timestamp: score.timestamp, body: .score(score))])
        // Keep traces from the start of day 2 on: day 0 and 1 go, in batches of 7.
        let cutoff = Timestamp(microseconds: RollupTests.day0 + 2 * RollupTests.day)
        let old = try db.count(
            sql: "SELECT count(*) FROM trace WHERE project_id = 'p' AND timestamp < ?", arguments: [cutoff.microseconds]
        )
        #expect(old > 0)
        var deleted = 0
        var batches = 0
        while true {
            let n = try await db.deleteTraces(projectID: "p", olderThan: cutoff, limit: 7)
            #expect(n.traces <= 7 && n.scores <= 7)
            deleted += n.traces
            batches += 1
            if n.traces < 7, n.scores < 7 { break }
        }
        #expect(deleted == old)
        #expect(batches >= old / 7)
        #expect(
            try db.count(
                sql: "SELECT count(*) FROM trace WHERE project_id = 'p' AND timestamp < ?",
                arguments: [cutoff.microseconds]) == 0)
        #expect(
            try db.count(
                sql: """
                    SELECT count(*) FROM observation o WHERE o.project_id = 'p'
                    AND NOT EXISTS (SELECT 1 FROM trace t WHERE t.project_id = o.project_id AND t.id = o.trace_id)
                    """) == 0)
        #expect(try db.count(sql: "SELECT count(*) FROM score WHERE project_id = 'p'") == 0)
        // The other project is untouched.
        #expect(try db.count(sql: "SELECT count(*) FROM trace WHERE project_id = 'q'") == 120)
        try await RollupTests.assertRollupsExact(db)
        try await RollupTests.assertBreakdownsAgree(db)
    }

    @Test("trace-less scores past one batch keep the loop going until all old ones are gone")
    func sessionScoresPastOneBatch() async throws {
        let (db, _) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        let old = Timestamp(microseconds: RollupTests.day0)
        let events = (0..<20).map { i -> IngestionEvent in
            var score = Score(id: "s\(i)", name: "q", value: 1, stringValue: nil, dataType: .numeric, timestamp: old)
            score.sessionID = "session"
            return IngestionEvent(eventID: "e\(i)", timestamp: old, body: .score(score))
        }
        _ = try await db.ingest(projectID: "p", events: events)
        let cutoff = Timestamp(microseconds: RollupTests.day0 + RollupTests.day)
        var rounds = 0
        while true {
            let n = try await db.deleteTraces(projectID: "p", olderThan: cutoff, limit: 7)
            rounds += 1
            if n.traces < 7, n.scores < 7 { break }
        }
        #expect(rounds == 3)
        #expect(try db.count(sql: "SELECT count(*) FROM score WHERE project_id = 'p'") == 0)
    }

    @Test("policies: a project's own days win over the default; 0 keeps everything; a new file reclaims space")
    func policies() async throws {
        let (db, _) = try temporaryDatabase()
        for id in ["a", "b", "c"] { try db.ensureProject(id: id, name: id) }
        try await db.setRetentionDays(projectID: "a", 7)
        try await db.setRetentionDays(projectID: "b", 0)
        let withDefault = try await db.retentionPolicies(defaultDays: 30)
        #expect(Dictionary(uniqueKeysWithValues: withDefault.map { ($0.projectID, $0.days) }) == ["a": 7, "c": 30])
        let without = try await db.retentionPolicies(defaultDays: nil)
        #expect(without.map(\.projectID) == ["a"])
        #expect(try db.count(sql: "PRAGMA auto_vacuum") == 2)
    }

    @Test("backup: a consistent copy taken while writes go on opens with every row; it never overwrites")
    func backup() async throws {
        let (db, path) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        var rng = RollupTests.RNG(state: 9)
        let events = RollupTests.workload(&rng)
        _ = try await db.ingest(projectID: "p", events: events)
        let copy = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("copy.db").path
        async let writes: Void = {
            for k in 0..<20 {
                var t = TraceUpsert(id: "late-\(k)")
                t.name = "late"
                _ = try await db.ingest(
                    projectID: "p", events: [IngestionEvent(eventID: "l\(k)", timestamp: .now(), body: .trace(t))])
            }
        }()
        try await db.backup(to: copy)
        try await writes
        let restored = try TallyDatabase(path: copy)
        let counts = try restored.rowCounts()
        #expect(counts["observation"] == (try db.rowCounts())["observation"])
        #expect((120...140).contains(counts["trace"] ?? 0))
        try await RollupTests.assertRollupsExact(restored)
        await #expect(throws: (any Error).self) { try await db.backup(to: copy) }
    }
}
