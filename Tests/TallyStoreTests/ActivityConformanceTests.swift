import Foundation
import TallyCore
import TallyStoreAPI
import Testing

/// The Users and Sessions views on each backend: the per-user rollup stays exact through re-attributed, grown,
/// moved and deleted traces, and agrees with a read of the traces themselves (a range inside one day skips it).
@Suite("Store conformance: users and sessions")
struct ActivityConformanceTests {
    static let day0: Int64 = 1_790_812_800_000_000  // 2026-10-01T00:00:00Z
    static let day: Int64 = 86_400_000_000
    static let minute: Int64 = 60_000_000

    /// A trace with one gpt-4.1-mini generation of `input` tokens (0.4 µUSD each, no output).
    static func trace(
        _ id: String, user: String?, tenant: String?, session: String?, at time: Int64, input: Int64,
        error: Bool = false
    ) -> [IngestionEvent] {
        var t = TraceUpsert(id: id)
        t.timestamp = Timestamp(microseconds: time)
        t.userID = user
        t.sessionID = session
        if let tenant { t.metadata = ["tenantId": .string(tenant)] }
        var o = ObservationUpsert(id: "\(id)-g", type: .generation, isUpdate: false)
        o.traceID = id
        o.startTime = Timestamp(microseconds: time)
        o.model = "gpt-4.1-mini"
        o.usage = ["input": input]
        if error { o.level = .error }
        return [
            IngestionEvent(eventID: "e-\(id)", timestamp: t.timestamp!, body: .trace(t)),
            IngestionEvent(eventID: "e-\(id)-g", timestamp: o.startTime!, body: .observation(o)),
        ]
    }

    static func seed(_ store: any StoreUnderTest) async throws {
        _ = try await store.ensureProject(id: "p", name: "p")
        var events: [IngestionEvent] = []
        events += trace("a1", user: "alice", tenant: "acme", session: "s1", at: day0 + 10 * minute, input: 1_000)
        events += trace(
            "a2", user: "alice", tenant: "acme", session: "s1", at: day0 + 12 * minute, input: 2_000, error: true)
        events += trace("a3", user: "alice", tenant: "acme", session: "s2", at: day0 + day + 5 * minute, input: 3_000)
        events += trace("b1", user: "bob", tenant: "globex", session: "s3", at: day0 + 20 * minute, input: 4_000)
        events += trace("b2", user: "bob", tenant: "globex", session: "s3", at: day0 + 2 * day, input: 5_000)
        // c1's call arrives before its trace: a placeholder trace without a user until the trace comes.
        events += trace("c1", user: "carol", tenant: nil, session: nil, at: day0 + day + 30 * minute, input: 6_000)
            .filter { if case .observation = $0.body { true } else { false } }
        events += trace("n1", user: nil, tenant: "acme", session: "s4", at: day0 + 3 * day, input: 7_000)
        _ = try await store.ingest(projectID: "p", events: events)
        // Later: a3 turns out to be bob's, a1 grows a second call of 500 tokens, c1's trace arrives (carol's, a day
        // after its call), b2 is deleted.
        var moved = TraceUpsert(id: "a3")
        moved.userID = "bob"
        var later = TraceUpsert(id: "c1")
        later.userID = "carol"
        later.timestamp = Timestamp(microseconds: day0 + 2 * day + 30 * minute)
        var grown = ObservationUpsert(id: "a1-g2", type: .generation, isUpdate: false)
        grown.traceID = "a1"
        grown.startTime = Timestamp(microseconds: day0 + 11 * minute)
        grown.model = "gpt-4.1-mini"
        grown.usage = ["input": 500]
        let at = Timestamp(microseconds: day0 + 4 * day)
        _ = try await store.ingest(
            projectID: "p",
            events: [
                IngestionEvent(eventID: "m-a3", timestamp: at, body: .trace(moved)),
                IngestionEvent(eventID: "m-c1", timestamp: at, body: .trace(later)),
                IngestionEvent(eventID: "m-a1", timestamp: at, body: .observation(grown)),
            ])
        _ = try await store.deleteTraces(projectID: "p", ids: ["b2"])
    }

    @Test(
        "users: traces, errors, tokens, exact cost, first and last seen; sorted, paged, by tenant",
        arguments: Backend.available)
    func users(_ backend: Backend) async throws {
        try await backend.withStore { store in
            try await Self.seed(store)
            var q = UserListQuery()
            let (rows, total) = try await store.users(projectID: "p", query: q)
            // alice: a1 (1,500 tokens) + a2 (2,000, error); bob: b1 (4,000) + a3 (3,000); carol: c1 (6,000).
            #expect(total == 3)
            #expect(rows.map(\.userID) == ["bob", "carol", "alice"])
            #expect(rows.map(\.costNanos) == [2_800_000, 2_400_000, 1_400_000])
            #expect(rows.map(\.tokens) == [7_000, 6_000, 3_500])
            #expect(rows.map(\.traces) == [2, 1, 2] && rows.map(\.errors) == [0, 0, 1])
            let bob = rows[0]
            #expect(bob.firstSeen.microseconds == Self.day0 + 20 * Self.minute)
            #expect(bob.lastSeen.microseconds == Self.day0 + Self.day + 5 * Self.minute)
            #expect(bob.severalTenants && bob.tenant == nil)  // b1 is globex's, a3 acme's
            #expect(rows[1].firstSeen.microseconds == Self.day0 + 2 * Self.day + 30 * Self.minute)  // c1 moved
            #expect(rows[2].tenant == "acme" && abs(rows[2].errorRate - 0.5) < 1e-12)

            q.sort = .errorRate
            #expect(try await store.users(projectID: "p", query: q).rows.first?.userID == "alice")
            q.sort = .lastSeen
            q.ascending = true
            q.limit = 1
            q.offset = 1
            #expect(try await store.users(projectID: "p", query: q).rows.map(\.userID) == ["bob"])
            var acme = UserListQuery()
            acme.tenants = ["acme"]
            let theirs = try await store.users(projectID: "p", query: acme).rows
            #expect(theirs.map(\.userID) == ["alice", "bob"] && theirs.map(\.costNanos) == [1_400_000, 1_200_000])

            // Partial days at the edges are read from the traces, whole days from the rollup; a range inside one day
            // from the traces alone. In both: a2 (alice, 12 min), b1 (bob, 20 min), a3 (bob, day 1 + 5 min).
            var ranged = UserListQuery()
            ranged.from = Timestamp(microseconds: Self.day0 + 11 * Self.minute)
            for end in [Self.day0 + 2 * Self.day + 10 * Self.minute, Self.day0 + Self.day + 10 * Self.minute] {
                ranged.to = Timestamp(microseconds: end)
                let partial = try await store.users(projectID: "p", query: ranged).rows
                #expect(partial.map(\.userID) == ["bob", "alice"] && partial.map(\.costNanos) == [2_800_000, 800_000])
            }
            ranged.from = Timestamp(microseconds: Self.day0)
            ranged.to = Timestamp(microseconds: Self.day0 + 3 * Self.day)
            let whole = try await store.users(projectID: "p", query: ranged).rows
            #expect(whole.map(\.costNanos) == rows.map(\.costNanos))
        }
    }

    @Test(
        "sessions: newest first with totals over all their traces; a tenant's or a user's", arguments: Backend.available
    )
    func sessions(_ backend: Backend) async throws {
        try await backend.withStore { store in
            try await Self.seed(store)
            var q = SessionListQuery()
            let all = try await store.sessionList(projectID: "p", query: q)
            #expect(all.map(\.sessionID) == ["s4", "s2", "s3", "s1"])
            let s1 = try #require(all.last)
            #expect(s1.traces == 2 && s1.errors == 1 && s1.tokens == 3_500 && s1.costNanos == 1_400_000)
            #expect(
                s1.start.microseconds == Self.day0 + 10 * Self.minute && s1.userID == "alice" && s1.tenant == "acme")
            let s3 = all[2]
            #expect(s3.traces == 1 && s3.costNanos == 1_600_000)  // b2 deleted
            #expect(all[1].userID == "bob")  // a3 re-attributed
            q.userID = "alice"
            #expect(try await store.sessionList(projectID: "p", query: q).map(\.sessionID) == ["s1"])
            q.userID = nil
            q.tenants = ["globex"]
            #expect(try await store.sessionList(projectID: "p", query: q).map(\.sessionID) == ["s3"])
            q.tenants = []
            q.limit = 2
            q.offset = 1
            #expect(try await store.sessionList(projectID: "p", query: q).map(\.sessionID) == ["s2", "s3"])
            q.offset = 0
            q.from = Timestamp(microseconds: Self.day0 + Self.day)
            q.to = Timestamp(microseconds: Self.day0 + 2 * Self.day)
            #expect(try await store.sessionList(projectID: "p", query: q).map(\.sessionID) == ["s2"])
        }
    }
}
