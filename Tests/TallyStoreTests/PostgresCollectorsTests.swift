import Foundation
import PostgresNIO
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

/// Several collectors on one PostgreSQL database: what only the PostgreSQL store has to get right.
@Suite("PostgreSQL: many collectors, one truth", .enabled(if: Backend.postgresURL != nil))
struct PostgresCollectorsTests {
    static let t0 = Timestamp(iso8601: "2026-11-20T10:00:00Z")!

    static func at(_ seconds: Int) -> Timestamp {
        Timestamp(microseconds: t0.microseconds + Int64(seconds) * 1_000_000)
    }

    /// Request `i` of one busy trace: a new generation of its own, an update of the trace (a tag, a metadata key,
    /// its name), an update of one generation every request touches, and every fifth a generation naming a tenant.
    /// Event times grow with `i`, so the merge rules give one answer whatever order the requests are applied in.
    static func request(_ i: Int) -> [IngestionEvent] {
        var own = ObservationUpsert(id: "g\(i)", type: .generation, isUpdate: false)
        own.traceID = "t"
        own.startTime = at(i)
        own.endTime = at(i + 1)
        own.model = "gpt-4o"
        own.usage = ["input": 100 + Int64(i), "output": 10]
        if i % 5 == 3 { own.metadata = ["tenantId": .string("tenant-\(i)"), "feature": .string("f\(i % 2)")] }
        var trace = TraceUpsert(id: "t")
        trace.name = "name-\(i)"
        trace.tags = ["tag\(i % 7)"]
        trace.metadata = ["k\(i)": .int(Int64(i)), "last": .int(Int64(i))]
        // Every create names the timestamp: the first create applied fixes it (merge rules).
        trace.timestamp = at(0)
        var shared = ObservationUpsert(id: "shared", type: .span, isUpdate: i > 0)
        shared.traceID = "t"
        if i == 0 { shared.startTime = at(0) }
        shared.name = "step-\(i)"
        shared.output = .string("out-\(i)")
        shared.metadata = .object(["seen-\(i)": true])
        return [
            IngestionEvent(eventID: "o\(i)", timestamp: at(i), body: .observation(own)),
            IngestionEvent(eventID: "t\(i)", timestamp: at(i), body: .trace(trace)),
            IngestionEvent(eventID: "s\(i)", timestamp: at(i), body: .observation(shared)),
        ]
    }

    @Test("the same trace's spans sent to two collectors at once end as one sequence of them ends on SQLite")
    func twoCollectorsMerge() async throws {
        let requests = (0..<40).map(Self.request)
        let (reference, _) = try temporaryDatabase()
        try reference.ensureProject(id: "p", name: "p")
        for r in requests { _ = try await reference.ingest(projectID: "p", events: r) }
        let expected = try #require(try await reference.trace(projectID: "p", id: "t"))

        try await PostgresHarness.withDatabase { a, url in
            try await PostgresHarness.running(try PostgresStore(url: url, poolSize: 4)) { b in
                _ = try await a.ensureProject(id: "p", name: "p")
                // Requests alternate between the collectors, eight in flight at a time per collector.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (i, events) in requests.enumerated() {
                        if i >= 16 { try await group.next() }
                        let store: PostgresStore = i.isMultiple(of: 2) ? a : b
                        group.addTask {
                            let results = try await store.ingest(projectID: "p", events: events)
                            #expect(results.allSatisfy { (try? $0.get()) != nil }, "request \(i)")
                        }
                    }
                    try await group.waitForAll()
                }
                let stored = try #require(try await b.trace(projectID: "p", id: "t"))
                let (t, e) = (stored.0.trace, expected.0.trace)
                #expect(t.name == e.name && t.name == "name-39")
                #expect(t.tags == e.tags && t.tags.count == 7)
                #expect(t.metadata == e.metadata && t.metadata["last"] == 39)
                #expect(t.timestamp == e.timestamp)
                #expect(t.tenant == e.tenant && t.tenant == "tenant-3" && t.feature == "f1")
                #expect(stored.0.totalCost == expected.0.totalCost && stored.0.latency == expected.0.latency)
                #expect(stored.1.map(\.id) == expected.1.map(\.id) && stored.1.count == 41)
                for (o, x) in zip(stored.1, expected.1) {
                    #expect(o.name == x.name && o.output == x.output && o.metadata == x.metadata, "\(o.id)")
                    #expect(o.usage == x.usage && o.cost == x.cost && o.tenant == x.tenant, "\(o.id)")
                    #expect(o.feature == x.feature && o.startTime == x.startTime && o.endTime == x.endTime, "\(o.id)")
                }
                let sharedSpan = try #require(stored.1.first { $0.id == "shared" })
                #expect(sharedSpan.name == "step-39" && sharedSpan.output == "out-39")
                #expect(sharedSpan.metadata.count == 40)
                // The per-trace totals the trace list sorts by count every observation once.
                let listed = try await a.traceList(projectID: "p", query: TraceListQuery())
                #expect(listed.rows.first?.totals?.observations == 41)
                #expect(
                    listed.rows.first?.totals?.inputTokens == (0..<40).reduce(0) { $0 + 100 + Int64($1) })
            }
        }
    }

    @Test(
        "two requests of 8,000 spans each, on two collectors at once, lock every id (more than the server's lock table holds)"
    )
    func manyIDsPerRequest() async throws {
        try await PostgresHarness.withDatabase { a, url in
            try await PostgresHarness.running(try PostgresStore(url: url, poolSize: 2)) { b in
                _ = try await a.ensureProject(id: "p", name: "p")
                func batch(_ prefix: String) -> [IngestionEvent] {
                    (0..<8_000).map { i in
                        var o = ObservationUpsert(id: "\(prefix)-\(i)", type: .span, isUpdate: false)
                        o.traceID = "trace-\(i % 400)"
                        o.startTime = Self.at(i)
                        return IngestionEvent(eventID: "\(prefix)\(i)", timestamp: Self.at(i), body: .observation(o))
                    }
                }
                async let first = a.ingest(projectID: "p", events: batch("a"))
                async let second = b.ingest(projectID: "p", events: batch("b"))
                let (x, y) = try await (first, second)
                #expect((x + y).allSatisfy { (try? $0.get()) != nil })
                let counts = try await Backend.rowCounts(a)
                #expect(counts["observation"] == 16_000 && counts["trace"] == 400)
                let trace = try #require(try await a.trace(projectID: "p", id: "trace-7"))
                #expect(trace.1.count == 40 && trace.0.observationIDs.count == 40)
            }
        }
    }

    @Test("an event the database refuses (text PostgreSQL cannot hold) fails alone; its neighbours commit")
    func refusedEventAlone() async throws {
        try await PostgresHarness.withDatabase { store in
            _ = try await store.ensureProject(id: "p", name: "p")
            var good = TraceUpsert(id: "good")
            good.name = "fine"
            var bad = TraceUpsert(id: "bad")
            bad.name = "nul\u{0}inside"
            var badMetadata = ObservationUpsert(id: "o-bad", type: .span, isUpdate: false)
            badMetadata.traceID = "good"
            badMetadata.metadata = ["k": "nul\u{0}"]
            var span = ObservationUpsert(id: "o-good", type: .span, isUpdate: false)
            span.traceID = "good"
            let results = try await store.ingest(
                projectID: "p",
                events: [
                    IngestionEvent(eventID: "1", timestamp: Self.t0, body: .trace(good)),
                    IngestionEvent(eventID: "2", timestamp: Self.t0, body: .trace(bad)),
                    IngestionEvent(eventID: "3", timestamp: Self.t0, body: .observation(badMetadata)),
                    IngestionEvent(eventID: "4", timestamp: Self.t0, body: .observation(span)),
                ])
            #expect((try? results[0].get()) != nil && (try? results[3].get()) != nil)
            for i in [1, 2] {
                guard case .failure(let error) = results[i] else {
                    Issue.record("event \(i) was stored")
                    continue
                }
                #expect(error.kind == .invalid && error.diagnostic?.hasPrefix("22") == true, "\(error)")
            }
            #expect(try await store.trace(projectID: "p", id: "bad") == nil)
            #expect(try await store.trace(projectID: "p", id: "good")?.1.map(\.id) == ["o-good"])
        }
    }

    @Test("observations land in their month's partition; a start time far outside the window in the default one")
    func monthlyPartitions() async throws {
        try await PostgresHarness.withDatabase { store in
            _ = try await store.ensureProject(id: "p", name: "p")
            let now = Timestamp.now()
            func span(_ id: String, _ start: Timestamp) -> IngestionEvent {
                var o = ObservationUpsert(id: id, type: .span, isUpdate: false)
                o.traceID = "t"
                o.startTime = start
                return IngestionEvent(eventID: id, timestamp: start, body: .observation(o))
            }
            let old = Timestamp(iso8601: "1990-03-04T05:06:07Z")!
            let month = Timestamp(iso8601: "2026-02-28T23:59:59.999999Z")!
            _ = try await store.ingest(
                projectID: "p", events: [span("now", now), span("old", old), span("feb", month)])
            var partitions: [String: String] = [:]
            for try await (id, table) in try await store.client.query(
                "SELECT id, tableoid::regclass::text FROM observation"
            ).decode((String, String).self) {
                partitions[id] = table
            }
            #expect(partitions["old"] == "observation_default")
            #expect(partitions["feb"] == "observation_y2026m02")
            #expect(partitions["now"] == PartitionMonth(micros: now.microseconds).table)
            // A placeholder's start time set by its create moves the row to the new month.
            var update = ObservationUpsert(id: "late", type: .span, isUpdate: true)
            update.traceID = "t"
            _ = try await store.ingest(
                projectID: "p",
                events: [IngestionEvent(eventID: "u", timestamp: month, body: .observation(update))])
            _ = try await store.ingest(projectID: "p", events: [span("late", now)])
            for try await table in try await store.client.query(
                "SELECT tableoid::regclass::text FROM observation WHERE id = 'late'"
            ).decode(String.self) {
                #expect(table == PartitionMonth(micros: now.microseconds).table)
            }
            #expect(try await store.observation(projectID: "p", id: "late")?.startTime == now)
        }
    }

    @Test("month arithmetic: partition bounds are the first µs of each UTC month, before 1970 too")
    func partitionMonths() {
        for (text, table) in [
            ("2026-12-01T00:00:00Z", "observation_y2026m12"), ("2026-11-30T23:59:59.999999Z", "observation_y2026m11"),
            ("2024-02-29T12:00:00Z", "observation_y2024m02"), ("1969-12-31T23:59:59.999999Z", "observation_y1969m12"),
            ("1970-01-01T00:00:00Z", "observation_y1970m01"),
        ] {
            let t = Timestamp(iso8601: text)!
            let month = PartitionMonth(micros: t.microseconds)
            #expect(month.table == table, "\(text)")
            #expect(month.startMicros <= t.microseconds && t.microseconds < month.next.startMicros, "\(text)")
        }
        #expect(
            PartitionMonth(micros: Timestamp(iso8601: "2026-12-01T00:00:00Z")!.microseconds).startMicros
                == Timestamp(iso8601: "2026-12-01T00:00:00Z")!.microseconds)
        #expect(PartitionMonth(index: 2026 * 12 + 11).next.table == "observation_y2027m01")
    }
}
