import Foundation
import GRDB
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

/// The change log export sinks read (schema 0018): written only while the project has a sink, only for model calls
/// and only when a billed column changed; `from` backfills; pushed changes are trimmed.
@Suite("Export change log")
struct ExportChangeLogTests {
    static func generation(_ id: String, trace: String = "t", input: Int64, level: ObservationLevel = .default)
        -> IngestionEvent
    {
        var o = ObservationUpsert(id: id, type: .generation, isUpdate: false)
        o.traceID = trace
        o.model = "gpt-4o-mini"
        o.usage = ["input": input, "output": 10]
        o.level = level
        return IngestionEvent(eventID: "\(id)-\(input)-\(level.rawValue)", timestamp: .now(), body: .observation(o))
    }

    static func span(_ id: String) -> IngestionEvent {
        var s = ObservationUpsert(id: id, type: .span, isUpdate: false)
        s.traceID = "t"
        return IngestionEvent(eventID: id, timestamp: .now(), body: .observation(s))
    }

    /// The change log in order (PostgreSQL: the rows not yet numbered last, in insert order).
    func changes(_ store: any StoreUnderTest) async throws -> [String] {
        if let db = store as? TallyDatabase {
            return try await db.writer.read { db in
                try String.fetchAll(db, sql: "SELECT observation_id FROM export_change ORDER BY seq")
            }
        }
        let pg = try #require(store as? PostgresStore)
        var out: [String] = []
        for try await id in try await pg.client.query(
            "SELECT observation_id FROM export_change ORDER BY seq NULLS LAST, id"
        ).decode(String.self) {
            out.append(id)
        }
        return out
    }

    /// SQLite installs the change-log triggers only while a sink exists; PostgreSQL keeps them (idle, each costs a
    /// probe per statement) and answers what SQLite would.
    func triggers(_ store: any StoreUnderTest, whileSinks expected: [String]) async throws -> [String] {
        guard let db = store as? TallyDatabase else { return expected }
        return try await db.writer.read { db in
            try String.fetchAll(
                db,
                sql:
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'observation_export%' ORDER BY name"
            )
        }
    }

    @Test(
        "no sink: nothing is logged; a sink: model calls and their billed changes only; trimmed once pushed",
        arguments: Backend.available)
    func logsOnlyWhatSinksNeed(_ backend: Backend) async throws {
        try await backend.withStore { db in try await logsOnlyWhatSinksNeed(db) }
    }

    func logsOnlyWhatSinksNeed(_ db: any StoreUnderTest) async throws {
        let installed = ["observation_export_insert", "observation_export_share", "observation_export_update"]
        _ = try await db.ensureProject(id: "p", name: "p")
        _ = try await db.ensureProject(id: "q", name: "q")
        _ = try await db.ingest(projectID: "p", events: [Self.generation("before", input: 1)])
        #expect(try await changes(db).isEmpty)
        // No insert pays for a trigger while no project has a sink.
        #expect(try await triggers(db, whileSinks: []).isEmpty)

        let config = ExportSinkConfig(type: .lago, url: "http://127.0.0.1:9")
        #expect(try await db.putExportSink(projectID: "p", name: "s", config: config, apiKey: nil, from: nil))
        _ = try await db.ingest(projectID: "p", events: [Self.generation("g1", input: 5), Self.span("s1")])
        _ = try await db.ingest(projectID: "q", events: [Self.generation("other-project", input: 5)])
        #expect(try await changes(db) == ["g1"])
        // A re-send that changes nothing billed logs nothing; a usage change or an ERROR does.
        _ = try await db.ingest(projectID: "p", events: [Self.generation("g1", input: 5)])
        #expect(try await changes(db) == ["g1"])
        _ = try await db.ingest(projectID: "p", events: [Self.generation("g1", input: 6)])
        _ = try await db.ingest(projectID: "p", events: [Self.generation("g1", input: 6, level: .error)])
        #expect(try await changes(db) == ["g1", "g1", "g1"])

        // A pass takes every change (settle 0), each call once, as it is now.
        var sink = try #require(try await db.dueExportSinks().first)
        sink.config.settleSeconds = 0
        let work = try #require(try await db.exportWork(sink))
        #expect(work.calls.map(\.observationID) == ["g1"] && work.calls[0].isError && work.complete)
        try await db.recordExportPass(sink, through: work.lastSeq, issues: [], more: false)
        #expect(try await changes(db).isEmpty)
        #expect(try await db.exportWork(sink) == nil)

        // `from` backfills the calls already stored (for every sink of the project: ledgers drop what is held).
        let replaced = try await db.putExportSink(
            projectID: "p", name: "s", config: config, apiKey: nil, from: Timestamp(microseconds: 0))
        #expect(!replaced)
        #expect(Set(try await changes(db)) == ["before", "g1"])
        #expect(try await triggers(db, whileSinks: installed) == installed)
        #expect(try await db.deleteExportSink(projectID: "p", name: "s"))
        #expect(try await changes(db).isEmpty)
        #expect(try await triggers(db, whileSinks: []).isEmpty)
    }
}

@Suite("PostgreSQL: the export change log on many collectors", .enabled(if: Backend.postgresURL != nil))
struct PostgresExportTests {
    @Test("a change whose writer commits after a later one's is still pushed: changes are numbered once committed")
    func outOfOrderCommits() async throws {
        try await PostgresHarness.withDatabase { a, url in
            try await PostgresHarness.running(try PostgresStore(url: url, poolSize: 4)) { b in
                _ = try await a.ensureProject(id: "p", name: "p")
                _ = try await a.ingest(projectID: "p", events: [ExportChangeLogTests.generation("late", input: 3)])
                let config = ExportSinkConfig(type: .lago, url: "http://127.0.0.1:9")
                _ = try await a.putExportSink(projectID: "p", name: "s", config: config, apiKey: nil, from: nil)
                // The lease: one collector gets the due sink.
                var sink = try #require(try await a.dueExportSinks().first)
                #expect(try await b.dueExportSinks().isEmpty)
                sink.config.settleSeconds = 0

                // A slow writer logs its change first and commits last.
                let opened = AsyncStream<Void>.makeStream()
                let release = AsyncStream<Void>.makeStream()
                async let slow: Void = a.client.withConnection { connection in
                    try await connection.query("BEGIN")
                    try await connection.query(
                        "INSERT INTO export_change (project_id, observation_id, at) VALUES ('p', 'late', 0)")
                    opened.continuation.yield()
                    for await _ in release.stream { break }
                    try await connection.query("COMMIT")
                }
                for await _ in opened.stream { break }
                _ = try await b.ingest(projectID: "p", events: [ExportChangeLogTests.generation("fast", input: 5)])
                let first = try #require(try await b.exportWork(sink))
                #expect(first.calls.map(\.observationID) == ["fast"])
                try await b.recordExportPass(sink, through: first.lastSeq, issues: [], more: false)
                sink.cursor = first.lastSeq
                release.continuation.yield()
                try await slow
                // A number drawn at insert would sit below the cursor now; numbered at commit, it comes after.
                let second = try #require(try await a.exportWork(sink))
                #expect(second.calls.map(\.observationID) == ["late"] && second.lastSeq > first.lastSeq)
                try await a.recordExportPass(sink, through: second.lastSeq, issues: [], more: false)
                let status = try #require(try await a.exportSinkStatus(projectID: "p", name: "s"))
                #expect(status.pendingChanges == 0 && status.cursor == second.lastSeq)
                // The pass ended the lease; the sink is due again only when asked or at its interval.
                #expect(try await a.dueExportSinks().isEmpty)
                #expect(try await b.requestExportPush(projectID: "p", name: "s"))
                #expect(try await b.dueExportSinks().map(\.name) == ["s"])
            }
        }
    }
}
