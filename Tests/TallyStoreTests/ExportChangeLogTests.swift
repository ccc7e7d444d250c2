import Foundation
import GRDB
import TallyCore
import TallyStoreAPI
import Testing

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

    func changes(_ db: TallyDatabase) async throws -> [String] {
        try await db.writer.read { db in
            try String.fetchAll(db, sql: "SELECT observation_id FROM export_change ORDER BY seq")
        }
    }

    func triggers(_ db: TallyDatabase) async throws -> [String] {
        try await db.writer.read { db in
            try String.fetchAll(
                db,
                sql:
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'observation_export%' ORDER BY name"
            )
        }
    }

    @Test("no sink: nothing is logged; a sink: model calls and their billed changes only; trimmed once pushed")
    func logsOnlyWhatSinksNeed() async throws {
        let (db, _) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        try db.ensureProject(id: "q", name: "q")
        _ = try await db.ingest(projectID: "p", events: [Self.generation("before", input: 1)])
        #expect(try await changes(db).isEmpty)
        #expect(try await triggers(db).isEmpty)  // no insert pays for a trigger while no project has a sink

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
        #expect(
            try await triggers(db) == [
                "observation_export_insert", "observation_export_share", "observation_export_update",
            ])
        #expect(try await db.deleteExportSink(projectID: "p", name: "s"))
        #expect(try await changes(db).isEmpty)
        #expect(try await triggers(db).isEmpty)
    }
}
