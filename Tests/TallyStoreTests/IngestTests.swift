import Foundation
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyStore

@Suite("Store conformance: write path and reads")
struct IngestTests {
    let acmeTrace = "f50abe67-3dfd-5e3d-9047-94069b746bac"
    let acmeGeneration = "d4c1f987-879f-51d6-9d85-570fea617c5b"

    /// Stores project p1 and the two v2 captures.
    static func seed(_ db: any StoreUnderTest) async throws {
        _ = try await db.ensureProject(id: "p1", name: "one")
        for file in ["langfuse-v2/002-ingestion-batch.json", "langfuse-v2/003-ingestion-batch.json"] {
            let results = try await db.ingest(projectID: "p1", events: try StoreFixture.events(file))
            #expect(results.allSatisfy { if case .success = $0 { return true } else { return false } })
        }
    }

    @Test("every migration in schema/sqlite/ is applied, under its file name")
    func migrations() throws {
        let (db, _) = try temporaryDatabase()
        let onDisk = try FileManager.default.contentsOfDirectory(
            atPath: StoreFixture.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
                "schema/sqlite"
            ).path
        ).filter { $0.hasSuffix(".sql") }.map { String($0.dropLast(4)) }.sorted()
        #expect(try db.appliedMigrations() == onDisk)
    }

    @Test(
        "the v2 capture lands with merged trace fields, usage, given costs, tenant and tags",
        arguments: Backend.available)
    func storesCapture(_ backend: Backend) async throws {
        try await backend.withStore { db in
            try await Self.seed(db)
            let (summary, observations, scores) = try #require(try await db.trace(projectID: "p1", id: acmeTrace))
            let t = summary.trace
            #expect(t.name == "copilot-request")
            #expect(t.userID == "user-42")
            #expect(t.sessionID == "sess-acme-001")
            #expect(t.environment == "production")
            #expect(t.tags == ["copilot", "resolved", "tenant:acme"])
            #expect(t.metadata == ["tenantId": "acme", "feature": "copilot", "resolved": true])
            #expect(t.output == ["answer": "Go to Settings -> API keys -> Rotate."])
            #expect(t.timestamp == Timestamp(iso8601: "2026-11-23T12:43:59.878756Z"))
            #expect(t.tenant == "acme")
            #expect(t.feature == "copilot")
            #expect(observations.count == 6)
            #expect(scores.count == 3)
            // Given 0.002288 (chat-completion) + inferred: summarize-followup gpt-4.1-mini 800 × $0.40/M + 120 × $1.60/M
            // = 0.000512, embed-query text-embedding-3-small 9 × $0.02/M = 0.00000018.
            #expect(summary.totalCost == 0.00280018)
            let gen = try #require(observations.first { $0.id == acmeGeneration })
            #expect(gen.usage == ["input": 4200, "output": 380, "cache_read_input_tokens": 1000, "total": 5580])
            #expect(gen.providedCost == ["input": 0.00168, "output": 0.000608, "total": 0.002288])
            #expect(gen.promptName == "copilot-answer")
            #expect(gen.promptVersion == 4)
            #expect(gen.tenant == "acme")
            #expect(gen.feature == "copilot")
            #expect(gen.completionStartTime == Timestamp(iso8601: "2026-11-23T12:43:59.940860Z"))
            let embedding = try #require(observations.first { $0.id == "2c23e594-a0f5-5113-847a-40ea79f672de" })
            #expect(embedding.parentObservationID == "03951642-55c0-56e9-aa76-7da393efdf2a")
            #expect(embedding.usage == ["input": 9, "total": 9])
            let errorSpan = try #require(observations.first { $0.id == "66af9514-c2c8-5949-b864-cfa76344d3b4" })
            #expect(errorSpan.level == .error)
            #expect(errorSpan.statusMessage == "billing upstream returned 503")
            #expect(errorSpan.output == ["error": "503 Service Unavailable"])
        }
    }

    @Test(
        "re-sending the same batches three times changes nothing and double-counts nothing",
        arguments: Backend.available)
    func idempotent(_ backend: Backend) async throws {
        try await backend.withStore { db in
            try await Self.seed(db)
            let before = try await db.trace(projectID: "p1", id: acmeTrace)
            for _ in 0..<3 {
                for file in ["langfuse-v2/002-ingestion-batch.json", "langfuse-v2/003-ingestion-batch.json"] {
                    _ = try await db.ingest(projectID: "p1", events: try StoreFixture.events(file))
                }
            }
            let after = try await db.trace(projectID: "p1", id: acmeTrace)
            #expect(before?.1.map(\.id) == after?.1.map(\.id))
            #expect(before?.0.totalCost == after?.0.totalCost)
            #expect(before?.0.trace.tags == after?.0.trace.tags)
            let counts = try await Backend.rowCounts(db)
            #expect(counts == ["trace": 2, "observation": 7, "score": 3, "session": 2, "trace_tag": 5])
        }
    }

    @Test("projects are isolated: the same ids in two projects never meet", arguments: Backend.available)
    func isolation(_ backend: Backend) async throws {
        try await backend.withStore { db in
            try await Self.seed(db)
            _ = try await db.ensureProject(id: "p2", name: "two")
            #expect(try await db.trace(projectID: "p2", id: acmeTrace) == nil)
            #expect(try await db.traces(projectID: "p2", query: TraceQuery()).totalItems == 0)
            _ = try await db.ingest(
                projectID: "p2", events: try StoreFixture.events("langfuse-v2/003-ingestion-batch.json"))
            let p2 = try #require(try await db.trace(projectID: "p2", id: acmeTrace))
            #expect(p2.0.trace.name == nil)
            #expect(p2.1.isEmpty)
            let p1 = try #require(try await db.trace(projectID: "p1", id: acmeTrace))
            #expect(p1.0.trace.name == "copilot-request")
            try await db.deleteTraces(projectID: "p2", ids: [acmeTrace])
            #expect(try await db.trace(projectID: "p1", id: acmeTrace) != nil)
        }
    }

    @Test("observations that arrive before their trace get its tenant when it comes", arguments: Backend.available)
    func tenantPropagation(_ backend: Backend) async throws {
        try await backend.withStore { db in
            _ = try await db.ensureProject(id: "p", name: "p")
            var o = ObservationUpsert(id: "o1", type: .generation, isUpdate: false)
            o.traceID = "t9"
            let t0 = Timestamp(microseconds: 5_000_000)
            _ = try await db.ingest(
                projectID: "p", events: [IngestionEvent(eventID: "e1", timestamp: t0, body: .observation(o))])
            #expect(try await db.observation(projectID: "p", id: "o1")?.tenant == nil)
            let placeholder = try #require(try await db.trace(projectID: "p", id: "t9"))
            #expect(placeholder.0.trace.isPlaceholder)
            var t = TraceUpsert(id: "t9")
            t.metadata = ["tenantId": "initech", "feature": "search"]
            t.name = "late"
            _ = try await db.ingest(
                projectID: "p", events: [IngestionEvent(eventID: "e2", timestamp: t0, body: .trace(t))])
            let obs = try await db.observation(projectID: "p", id: "o1")
            #expect(obs?.tenant == "initech")
            #expect(obs?.feature == "search")
        }
    }

    @Test(
        "in one request, observations applied before, around or after their trace all end with its tenant",
        arguments: Backend.available)
    func tenantPropagationWithinRequest(_ backend: Backend) async throws {
        try await backend.withStore { db in
            let t0 = Timestamp(microseconds: 1_795_000_000_000_000)
            func at(_ seconds: Int64) -> Timestamp { Timestamp(microseconds: t0.microseconds + seconds * 1_000_000) }
            func observation(_ id: String, seconds: Int64, metadata: JSONValue? = nil) -> IngestionEvent {
                var o = ObservationUpsert(id: id, type: .generation, isUpdate: false)
                o.traceID = "t"
                o.startTime = at(seconds)
                o.metadata = metadata
                o.usage = ["input": 10, "output": 5]
                return IngestionEvent(eventID: id, timestamp: at(seconds), body: .observation(o))
            }
            var t = TraceUpsert(id: "t")
            t.metadata = ["tenantId": "initech", "feature": "search"]
            // Creates apply by envelope time: the trace first, between the observations, or last.
            for traceSeconds: Int64 in [-1, 1, 10] {
                let project = "p\(traceSeconds)"
                _ = try await db.ensureProject(id: project, name: "p")
                let results = try await db.ingest(
                    projectID: project,
                    events: [
                        observation("o1", seconds: 0), observation("o2", seconds: 2),
                        observation("o3", seconds: 3, metadata: ["tenantId": "other"]),
                        IngestionEvent(eventID: "t", timestamp: at(traceSeconds), body: .trace(t)),
                    ])
                #expect(results.allSatisfy { (try? $0.get()) != nil })
                for id in ["o1", "o2", "o3"] {
                    let o = try #require(try await db.observation(projectID: project, id: id))
                    #expect(o.tenant == "initech" && o.feature == "search", "\(id), trace at \(traceSeconds) s")
                }
                guard let sqlite = db as? TallyDatabase else { continue }
                let n = try await sqlite.writer.read { db in
                    try Int.fetchOne(
                        db,
                        sql: """
                            SELECT sum(n) FROM rollup_tenant_day
                            WHERE project_id = ? AND tenant = 'initech' AND feature = 'search'
                            """, arguments: [project])
                }
                #expect(n == 3, "trace at \(traceSeconds) s")
            }
        }
    }

    @Test(
        "a trace naming no tenant takes its earliest observation's, whatever order and requests they arrive in",
        arguments: Backend.available)
    func traceTakesEarliestObservationTenant(_ backend: Backend) async throws {
        try await backend.withStore { db in
            let t0 = Timestamp(microseconds: 1_795_000_000_000_000)
            func at(_ seconds: Int64) -> Timestamp { Timestamp(microseconds: t0.microseconds + seconds * 1_000_000) }
            func observation(_ id: String, seconds: Int64, metadata: JSONValue?) -> IngestionEvent {
                var o = ObservationUpsert(id: id, type: id == "span" ? .span : .generation, isUpdate: false)
                o.traceID = "t"
                o.startTime = at(seconds)
                o.metadata = metadata
                if id != "span" { o.usage = ["input": 10, "output": 5] }
                o.cost = id != "span" ? ["total": 0.25] : nil
                return IngestionEvent(eventID: id, timestamp: at(seconds), body: .observation(o))
            }
            var t = TraceUpsert(id: "t")
            t.name = "chat"  // names no tenant or feature
            let events = [
                observation("span", seconds: 0, metadata: nil),
                observation("late", seconds: 2, metadata: ["tenantId": "acme", "feature": "search"]),
                observation("early", seconds: 1, metadata: ["tenantId": "beta"]),
                IngestionEvent(eventID: "trace", timestamp: at(3), body: .trace(t)),
            ]
            // Every order of the four events, in one request or one request each.
            var orders: [[IngestionEvent]] = [[]]
            for _ in events.indices {
                orders = orders.flatMap { prefix in
                    events.filter { e in !prefix.contains { $0.eventID == e.eventID } }.map { prefix + [$0] }
                }
            }
            #expect(orders.count == 24)
            for (n, order) in orders.enumerated() {
                let project = "p\(n)"
                _ = try await db.ensureProject(id: project, name: "p")
                if n.isMultiple(of: 2) {
                    _ = try await db.ingest(projectID: project, events: order)
                } else {
                    for event in order { _ = try await db.ingest(projectID: project, events: [event]) }
                }
                let label = order.map(\.eventID).joined(separator: ",") + (n.isMultiple(of: 2) ? " (one request)" : "")
                let (summary, observations, _) = try #require(try await db.trace(projectID: project, id: "t"))
                // beta is named by the earliest observation that names a tenant; only "late" names a feature.
                #expect(summary.trace.tenant == "beta" && summary.trace.feature == "search", "\(label)")
                #expect(observations.count == 3)
                for o in observations {
                    #expect(o.tenant == "beta" && o.feature == "search", "\(o.id): \(label)")
                }
                if let sqlite = db as? TallyDatabase {
                    try await RollupTests.assertBreakdownsAgree(sqlite, projectID: project)
                }
            }
            if let sqlite = db as? TallyDatabase { try await RollupTests.assertRollupsExact(sqlite) }

            // The trace's own metadata wins over every observation; a later trace event keeps what it took.
            _ = try await db.ensureProject(id: "p", name: "p")
            _ = try await db.ingest(projectID: "p", events: events)
            _ = try await db.ingest(
                projectID: "p", events: [IngestionEvent(eventID: "again", timestamp: at(9), body: .trace(t))])
            #expect(try await db.trace(projectID: "p", id: "t")?.0.trace.tenant == "beta")
            var owned = t
            owned.metadata = ["tenantId": "initech"]
            _ = try await db.ingest(
                projectID: "p", events: [IngestionEvent(eventID: "own", timestamp: at(10), body: .trace(owned))])
            let (summary, observations, _) = try #require(try await db.trace(projectID: "p", id: "t"))
            #expect(summary.trace.tenant == "initech" && summary.trace.feature == "search")
            #expect(observations.allSatisfy { $0.tenant == "initech" })
            if let sqlite = db as? TallyDatabase { try await RollupTests.assertRollupsExact(sqlite) }
        }
    }

    @Test(
        "trace list filters: tags (all), user, environment, time range, ordering and paging",
        arguments: Backend.available)
    func traceFilters(_ backend: Backend) async throws {
        try await backend.withStore { db in
            try await Self.seed(db)
            var q = TraceQuery()
            q.tags = ["copilot", "tenant:acme"]
            #expect(try await db.traces(projectID: "p1", query: q).items.map(\.trace.id) == [acmeTrace])
            q.tags = ["copilot"]
            #expect(try await db.traces(projectID: "p1", query: q).totalItems == 2)
            q.userID = "user-7"
            #expect(try await db.traces(projectID: "p1", query: q).items.map(\.trace.userID) == ["user-7"])
            q = TraceQuery()
            q.environments = ["staging"]
            #expect(try await db.traces(projectID: "p1", query: q).totalItems == 0)
            q = TraceQuery()
            q.to = Timestamp(iso8601: "2026-11-23T12:44:00Z")
            #expect(try await db.traces(projectID: "p1", query: q).items.map(\.trace.id) == [acmeTrace])
            q = TraceQuery()
            q.orderDirection = .asc
            q.page = PageRequest(page: 2, limit: 1)
            let page = try await db.traces(projectID: "p1", query: q)
            #expect(page.items.map(\.trace.id) == ["24bee3c5-433d-53c1-8356-c0cb92c03fa6"])
            #expect(page.totalPages == 2)
            q = TraceQuery()
            q.tags = ["x' OR 1=1 --"]
            #expect(try await db.traces(projectID: "p1", query: q).totalItems == 0)
        }
    }

    @Test(
        "a tag-filtered list follows the trace timestamp, also after a placeholder's root arrives earlier",
        arguments: Backend.available)
    func tagListOrder(_ backend: Backend) async throws {
        try await backend.withStore { db in
            _ = try await db.ensureProject(id: "p", name: "p")
            func upsert(_ id: String, at seconds: Int64, partial: Bool) -> IngestionEvent {
                var t = TraceUpsert(id: id)
                t.timestamp = Timestamp(microseconds: seconds * 1_000_000)
                t.tags = ["tenant:acme"]
                t.isPartial = partial
                return IngestionEvent(eventID: "\(id)-\(seconds)", timestamp: t.timestamp!, body: .trace(t))
            }
            _ = try await db.ingest(
                projectID: "p",
                events: [upsert("late-root", at: 20, partial: true), upsert("middle", at: 15, partial: false)])
            var q = TraceQuery()
            q.tags = ["tenant:acme"]
            #expect(try await db.traces(projectID: "p", query: q).items.map(\.trace.id) == ["late-root", "middle"])
            _ = try await db.ingest(projectID: "p", events: [upsert("late-root", at: 10, partial: false)])
            #expect(try await db.traces(projectID: "p", query: q).items.map(\.trace.id) == ["middle", "late-root"])
            q.orderDirection = .asc
            #expect(try await db.traces(projectID: "p", query: q).items.map(\.trace.id) == ["late-root", "middle"])
            q.tags = ["tenant:acme", "absent"]
            #expect(try await db.traces(projectID: "p", query: q).totalItems == 0)
        }
    }

    @Test("deleting a trace removes its observations and scores at once", arguments: Backend.available)
    func delete(_ backend: Backend) async throws {
        try await backend.withStore { db in
            try await Self.seed(db)
            #expect(try await db.deleteTraces(projectID: "p1", ids: [acmeTrace]) == 1)
            #expect(try await db.trace(projectID: "p1", id: acmeTrace) == nil)
            let counts = try await Backend.rowCounts(db)
            #expect(counts["observation"] == 1)
            #expect(counts["score"] == 0)
            #expect(counts["trace_tag"] == 2)
        }
    }

    @Test(
        "scores list joins the trace's user, tags and environment, and filters by value", arguments: Backend.available)
    func scores(_ backend: Backend) async throws {
        try await backend.withStore { db in
            try await Self.seed(db)
            var q = ScoreQuery()
            q.names = ["helpfulness"]
            let page = try await db.scores(projectID: "p1", query: q)
            #expect(page.items.count == 1)
            #expect(page.items[0].score.value == 0.9)
            #expect(page.items[0].traceUserID == "user-42")
            #expect(page.items[0].traceTags == ["copilot", "resolved", "tenant:acme"])
            q = ScoreQuery()
            q.value = 0.5
            q.comparison = .gt
            #expect(
                Set(try await db.scores(projectID: "p1", query: q).items.map(\.score.name)) == [
                    "helpfulness", "user-feedback",
                ])
        }
    }

    @Test("keys: secrets are hashed, checked in constant time, revocable; bootstrap keys are not rotated")
    func keys() async throws {
        let (db, path) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        let key = try #require(try db.createKey(projectID: "p"))
        #expect(key.publicKey.hasPrefix("pk-lf-"))
        #expect(try await db.authenticate(publicKey: key.publicKey, secretKey: key.secretKey)?.id == "p")
        #expect(try await db.authenticate(publicKey: key.publicKey, secretKey: key.secretKey + "x") == nil)
        #expect(try await db.authenticate(publicKey: "pk-nope", secretKey: key.secretKey) == nil)
        let stored = try TallyDatabase(path: path).rawSecretColumns()
        #expect(!stored.contains { $0.contains(key.secretKey) })
        #expect(try db.createKey(projectID: "p", publicKey: "pk-fixed", secretKey: "sk-1") != nil)
        #expect(try db.createKey(projectID: "p", publicKey: "pk-fixed", secretKey: "sk-2") == nil)
        #expect(try await db.authenticate(publicKey: "pk-fixed", secretKey: "sk-1")?.id == "p")
        try db.revokeKey(publicKey: key.publicKey)
        #expect(try await db.authenticate(publicKey: key.publicKey, secretKey: key.secretKey) == nil)
        #expect(throws: KeyError.self) { try db.revokeKey(publicKey: "pk-nope") }
    }
}
