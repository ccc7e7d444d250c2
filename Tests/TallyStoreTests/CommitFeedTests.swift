import Foundation
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

@Suite("Commit feed (the call log's source)")
struct CommitFeedTests {
    final class Received: @unchecked Sendable {
        let lock = NSLock()
        var ids: [[String]] = []
        func add(_ x: [String]) { lock.withLock { ids.append(x) } }
        var all: [[String]] { lock.withLock { ids } }
    }

    @Test(
        "publishes the ids of observations whose events committed, never a refused one; model calls read back",
        arguments: Backend.available)
    func publishesCommitted(_ backend: Backend) async throws {
        try await backend.withStore { db in try await publishesCommitted(db) }
    }

    func publishesCommitted(_ db: any StoreUnderTest) async throws {
        _ = try await db.ensureProject(id: "p", name: "p")
        let received = Received()
        db.commitFeed.subscribe { project, ids in
            #expect(project == "p")
            received.add(ids)
        }
        func generation(_ id: String, input: Int64) -> IngestionEvent {
            var o = ObservationUpsert(id: id, type: .generation, isUpdate: false)
            o.traceID = "t"
            o.model = "gpt-4o-mini"
            o.usage = ["input": input, "output": 10, "input_cached_tokens": 5]
            return IngestionEvent(
                eventID: id, timestamp: Timestamp(microseconds: 1_795_000_000_000_000), body: .observation(o))
        }
        var span = ObservationUpsert(id: "s1", type: .span, isUpdate: false)
        span.traceID = "t"
        let spanEvent = IngestionEvent(eventID: "s1", timestamp: .now(), body: .observation(span))
        _ = try await db.ingest(
            projectID: "p", events: [generation("g1", input: 100), spanEvent, generation("bad", input: Int64.max)])
        #expect(received.all == [["g1", "s1"]])
        // Only model calls come back, once each, with whether the write changed an existing row.
        let calls = try await db.modelCalls(projectID: "p", ids: ["g1", "s1", "g1", "missing"])
        #expect(calls.map(\.observation.id) == ["g1"] && calls[0].update == false)
        _ = try await db.ingest(projectID: "p", events: [generation("g1", input: 200)])
        #expect(received.all.last == ["g1"])
        let again = try await db.modelCalls(projectID: "p", ids: ["g1"])
        #expect(again[0].update == true && again[0].observation.usage["input"] == 200)
        let line = CallLog.line(again[0], projectID: "p")
        let json = try JSONValue.parse(Data(line.utf8)).objectValue ?? [:]
        #expect(json["update"] == true && json["input_tokens"] == 205 && json["cache_read_tokens"] == 5)
        #expect(json["provider"] == "openai" && json["outcome"] == "success" && json["cost_source"] == "inferred")
        #expect(json["tenant_id"] == .null && json.count == 22)
    }
}
