import Foundation
import GRDB
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyStore

@Suite("Compact storage")
struct StorageTests {
    @Test("large input, output and model parameters are stored compressed and read back unchanged; small stay text")
    func compressedContent() async throws {
        let (db, _) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        let long = JSONValue.array(
            (0..<40).map { i in
                .object(["role": "user", "content": .string("message \(i): how do I rotate my key? ü 🔑 \"quoted\"")])
            })
        var trace = TraceUpsert(id: "t")
        trace.input = long
        trace.output = "short"
        var o = ObservationUpsert(id: "o", type: .generation, isUpdate: false)
        o.traceID = "t"
        o.startTime = Timestamp(microseconds: 1_795_000_000_000_000)
        o.input = long
        o.output = .object(["text": .string(String(repeating: "Go to Settings. ", count: 50))])
        o.modelParameters = .object(["temperature": .double(0.2)])
        let at = o.startTime!
        let results = try await db.ingest(
            projectID: "p",
            events: [
                IngestionEvent(eventID: "e1", timestamp: at, body: .trace(trace)),
                IngestionEvent(eventID: "e2", timestamp: at, body: .observation(o)),
            ])
        #expect(results.count == 2)
        let types = try await db.writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT typeof(o.input) AS oi, typeof(o.output) AS oo, typeof(o.model_parameters) AS mp,
                        typeof(t.input) AS ti, typeof(t.output) AS tout, length(o.input) AS stored
                    FROM observation o JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id
                    """)
        }
        let row = try #require(types)
        #expect(row["oi"] as String == "blob" && row["oo"] as String == "blob" && row["ti"] as String == "blob")
        #expect(row["mp"] as String == "text" && row["tout"] as String == "text")
        #expect((row["stored"] as Int) < long.serialized().utf8.count / 2)
        let stored = try #require(try await db.observation(projectID: "p", id: "o"))
        #expect(stored.input == long && stored.output == o.output && stored.modelParameters == o.modelParameters)
        let (summary, observations, _) = try #require(try await db.trace(projectID: "p", id: "t"))
        #expect(summary.trace.input == long && summary.trace.output == "short")
        #expect(observations.first?.input == long)
    }

    @Test(
        "an observation sent again merges its content as the original events would, though ingest kept it encoded",
        arguments: Backend.available)
    func resentContentMerges(_ backend: Backend) async throws {
        try await backend.withStore { db in
            _ = try await db.ensureProject(id: "p", name: "p")
            let t0 = Timestamp(microseconds: 1_795_000_000_000_000)
            func at(_ seconds: Int64) -> Timestamp { Timestamp(microseconds: t0.microseconds + seconds * 1_000_000) }
            let long = JSONValue.string(String(repeating: "Go to Settings, then Keys. ", count: 40))
            func upsert(_ edit: (inout ObservationUpsert) -> Void) -> ObservationUpsert {
                var u = ObservationUpsert(id: "o", type: .generation, isUpdate: true)
                u.traceID = "t"
                edit(&u)
                return u
            }
            // Each (event time, upsert) arrives in its own request, so every one after the first meets a stored row.
            let sends: [(Timestamp, ObservationUpsert)] = [
                (
                    t0,
                    upsert {
                        $0.isUpdate = false
                        $0.startTime = t0
                        $0.metadata = ["a": 1, "nested": ["x": 1]]
                        $0.input = "hello"
                        $0.modelParameters = ["temperature": 0.2]
                    }
                ),
                (
                    at(1),
                    upsert {
                        $0.metadata = ["nested": ["y": 2], "n": 1.5, "tenantId": "acme"]
                        $0.input = .object([:])  // empty: never replaces
                        $0.output = long  // stored compressed
                    }
                ),
                (at(2), upsert { $0.metadata = "a note" }),  // kept under "metadata"
                (
                    at(-5),
                    upsert {  // stale: fills only what is missing
                        $0.metadata = ["a": 99, "z": true]
                        $0.input = "stale"
                        $0.statusMessage = "late"
                    }
                ),
            ]
            var expected: Observation?
            for (at, u) in sends {
                let results = try await db.ingest(
                    projectID: "p", events: [IngestionEvent(eventID: "e", timestamp: at, body: .observation(u))])
                #expect(results.allSatisfy { (try? $0.get()) != nil })
                expected = Observation.merge(expected, u, eventTime: at, newTraceID: { "unused" })
            }
            let stored = try #require(try await db.observation(projectID: "p", id: "o"))
            let want = try #require(expected)
            #expect(stored.metadata == want.metadata)
            #expect(stored.metadata["nested"] == ["x": 1, "y": 2] && stored.metadata["a"] == 1)
            #expect(stored.metadata["metadata"] == "a note" && stored.metadata["z"] == true)
            #expect(stored.input == "hello" && stored.output == long && stored.modelParameters == ["temperature": 0.2])
            #expect(stored.statusMessage == "late" && stored.tenant == "acme")
        }
    }

    @Test("a packed row reads and binds back every value as GRDB would bind it")
    func packedRow() async throws {
        let values: [DatabaseValue] = [
            .null, Int64.min.databaseValue, Int64.max.databaseValue, 0.databaseValue, (-0.5).databaseValue,
            Double.greatestFiniteMagnitude.databaseValue, "".databaseValue, "ü 🔑 \"x\"".databaseValue,
            "before\u{0}after".databaseValue, Data([0, 1, 2, 255]).databaseValue,
        ]
        // Text stops at its first NUL, as GRDB binds a String.
        var expected = values
        expected[8] = "before".databaseValue
        let row = PackedRow(values)
        #expect(row.count == values.count)
        #expect((0..<values.count).map { row[$0] } == expected)
        let (db, _) = try temporaryDatabase()
        let stored = try await db.writer.write { db in
            try db.execute(sql: "CREATE TEMP TABLE packed (\((0..<10).map { "c\($0)" }.joined(separator: ", ")))")
            try db.makeStatement(sql: "INSERT INTO packed VALUES (\(SQLFilter.marks(10)))")
                .executeBound(PackedRow(values.prefix(7)), PackedRow(values.suffix(3)), db: db)
            return try Row.fetchOne(db, sql: "SELECT * FROM packed")
        }
        #expect(Array(try #require(stored).databaseValues) == expected)
    }

    @Test("a damaged compressed value reads as absent, never as a crash")
    func damagedBlob() {
        #expect(StoredContent.decode(Data([0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3]).databaseValue) == nil)
        #expect(StoredContent.decode(Data([10, 0, 0, 0, 0x78, 0x9C, 0, 0]).databaseValue) == nil)
        #expect(StoredContent.decode(Data([1]).databaseValue) == nil)
        #expect(StoredContent.decode("{\"a\":1}".databaseValue) == .object(["a": 1]))
    }

    @Test("a database from before compact storage migrates: rows, rollups and trace totals intact")
    func upgradeFromWithoutRowidTables() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tally-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("tally.db").path
        do {
            let old = try DatabaseQueue(path: path)
            try TallyDatabase.migrator().migrate(old, upTo: "0009_add_retention")
            try await old.write { db in
                try db.execute(sql: "INSERT INTO project (id, name, created_at) VALUES ('p', 'p', 0)")
                for t in 0..<3 {
                    try db.execute(
                        sql: """
                            INSERT INTO trace (project_id, id, timestamp, tenant, created_at, updated_at, tags)
                            VALUES ('p', ?, ?, 'acme', 0, 0, '["x"]')
                            """, arguments: ["t\(t)", 1_795_000_000_000_000 + t])
                    try db.execute(
                        sql: "INSERT INTO trace_tag (project_id, tag, trace_id, timestamp) VALUES ('p', 'x', ?, 0)",
                        arguments: ["t\(t)"])
                    for k in 0..<2 {
                        try db.execute(
                            sql: """
                                INSERT INTO observation (project_id, id, trace_id, type, start_time, end_time, input,
                                    tenant, input_tokens, total_tokens, total_cost_nanos, level, created_at, updated_at)
                                VALUES ('p', ?, ?, 'GENERATION', ?, ?, '{"q":1}', 'acme', 10, 10, 7, ?, 0, 0)
                                """,
                            arguments: [
                                "o\(t)-\(k)", "t\(t)", 1_795_000_000_000_000 + k * 3_600_000_000,
                                1_795_000_000_000_000 + k * 3_600_000_000 + 1_000, k == 1 ? "ERROR" : "DEFAULT",
                            ])
                    }
                }
            }
        }
        let db = try TallyDatabase(path: path)
        let counts = try db.rowCounts()
        #expect(counts["trace"] == 3 && counts["observation"] == 6 && counts["trace_tag"] == 3)
        let first = try #require(try await db.observation(projectID: "p", id: "o0-0"))
        #expect(first.input == .object(["q": 1]))
        try await RollupTests.assertRollupsExact(db)
        let row = try await db.writer.read { db in try TallyDatabase.fetchTraceRow(db, projectID: "p", id: "t0") }
        let stored = try #require(row)
        let totals = try #require(TraceTotals(traceRow: stored))
        #expect(totals.observations == 2 && totals.totalCostNanos == 14)
        #expect(totals.level == .error && totals.spanMicros == 3_600_001_000)
        // The tag still cascades with its trace.
        #expect(try await db.deleteTraces(projectID: "p", ids: ["t0"]) == 1)
        #expect(try db.rowCounts()["trace_tag"] == 2)
    }

    @Test("0015: a stored trace without its own tenant takes its earliest observation's; rollups stay exact")
    func upgradeGivesTracesObservationTenants() async throws {
        let (db, path) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        var rng = RollupTests.RNG(state: 3)
        _ = try await db.ingest(projectID: "p", events: RollupTests.workload(&rng))
        // Back to what 0014 stored: traces without a tenant of their own, observations with their own (here: one
        // named per observation, so the earliest must win), and 0015 not yet applied.
        let expected = try await db.writer.write { db in
            try db.execute(sql: "UPDATE trace SET tenant = NULL, feature = NULL")
            try db.execute(sql: "UPDATE observation SET tenant = 'own-' || id, feature = NULL")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = '0015_trace_takes_observation_tenant'")
            return try [String: String](
                uniqueKeysWithValues: Row.fetchAll(
                    db,
                    sql: """
                        SELECT trace_id, 'own-' || (SELECT id FROM observation o WHERE o.trace_id = x.trace_id
                            ORDER BY start_time, id LIMIT 1) AS tenant
                        FROM observation x GROUP BY trace_id
                        """
                ).map { ($0["trace_id"], $0["tenant"]) })
        }
        #expect(expected.count > 10)
        let upgraded = try TallyDatabase(path: path)
        let stored = try await upgraded.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, tenant FROM trace WHERE observation_count > 0")
        }
        #expect(stored.count == expected.count)
        for row in stored { #expect(expected[row["id"] as String] == row["tenant"] as String?) }
        let mismatched = try await upgraded.writer.read { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT count(*) FROM observation o JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id
                    WHERE o.tenant IS NOT t.tenant
                    """)
        }
        #expect(mismatched == 0)
        // Not the user rollup: the statements above and 0015 run again rewrite traces in SQL, past the writers that
        // keep it (0015 itself ran before the rollup existed).
        try await RollupTests.assertRollupsExact(upgraded, users: false)
    }
}

@Suite("Store conformance: trace list paging")
struct TraceListPagingTests {
    @Test(
        "keyset pages equal one long page, for every sort and direction, with and without a tag filter",
        arguments: Backend.available)
    func cursorPagesMatchOffset(_ backend: Backend) async throws {
        try await backend.withStore { db in
            _ = try await db.ensureProject(id: "p", name: "p")
            var rng = RollupTests.RNG(state: 5)
            var events = RollupTests.workload(&rng)
            // Ties: several traces share a timestamp, and traces without observations share zero totals.
            for i in 0..<6 {
                var t = TraceUpsert(id: "same-\(i)")
                t.timestamp = Timestamp(microseconds: RollupTests.day0)
                t.tags = ["x"]
                events.append(IngestionEvent(eventID: "same-\(i)", timestamp: t.timestamp!, body: .trace(t)))
            }
            _ = try await db.ingest(projectID: "p", events: events)
            // Both stores list in one order: SQLite's is the reference.
            let (reference, _) = try temporaryDatabase()
            try reference.ensureProject(id: "p", name: "p")
            _ = try await reference.ingest(projectID: "p", events: events)
            for sort in TraceListQuery.Sort.allCases {
                for ascending in [false, true] {
                    for tags in [[], ["x"]] {
                        var q = TraceListQuery()
                        q.sort = sort
                        q.ascending = ascending
                        q.tags = tags
                        q.limit = 200
                        let all = try await db.traceList(projectID: "p", query: q).rows.map(\.trace.id)
                        #expect(
                            all == (try await reference.traceList(projectID: "p", query: q).rows.map(\.trace.id)),
                            "\(sort) ascending \(ascending) tags \(tags)")
                        q.limit = 7
                        var paged: [String] = []
                        for _ in 0..<100 {
                            let page = try await db.traceList(projectID: "p", query: q)
                            paged += page.rows.map(\.trace.id)
                            #expect(page.hasMore == (page.next != nil))
                            guard let next = page.next else { break }
                            q.after = ListCursor(token: next.token)
                            #expect(q.after == next)
                        }
                        #expect(paged == all, "\(sort) ascending \(ascending) tags \(tags)")
                        #expect(all.count == (tags.isEmpty ? 126 : 6))
                        // Offset pages too (PostgreSQL walks a tag-only list's offset on the tag index).
                        q.after = nil
                        var byOffset: [String] = []
                        for k in 0..<100 {
                            q.offset = k * 4
                            let rows = try await db.traceList(projectID: "p", query: q).rows.map(\.trace.id)
                            if rows.isEmpty { break }
                            byOffset += rows.prefix(4)
                        }
                        #expect(byOffset == all, "offsets: \(sort) ascending \(ascending) tags \(tags)")
                    }
                }
            }
            // The public list's total of a tag-only filter (PostgreSQL counts it on the tag index).
            var tagged = TraceQuery()
            tagged.tags = ["x"]
            tagged.page = PageRequest(page: 2, limit: 4)
            let page2 = try await db.traces(projectID: "p", query: tagged)
            #expect(page2.totalItems == 6 && page2.items.count == 2)
            #expect(ListCursor(token: "not a cursor") == nil)
            #expect(ListCursor(token: "W3t9LCJ4Il0") == nil)  // [{},"x"]: a key of the wrong kind
        }
    }
}
