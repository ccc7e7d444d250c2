import Foundation
import GRDB
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyStore

/// The budget check reads spend from memory only; it must equal a scan of the observations after any write.
@Suite("Spend ledger")
struct SpendLedgerTests {
    static let day: Int64 = 86_400_000_000

    /// 80 traces over the first 3 days of the current UTC month and 10 in the last day of the previous month (which
    /// must not count); half name their tenant on the trace, generations priced from the built-in table.
    static func workload(_ rng: inout RollupTests.RNG, monthStart: Int64) -> [IngestionEvent] {
        let models = ["gpt-4.1-mini", "gpt-4o", "claude-sonnet-4-5"]
        var events: [IngestionEvent] = []
        for t in 0..<90 {
            let start =
                t < 80
                ? monthStart + Int64(rng.int(3 * 86_400)) * 1_000_000
                : monthStart - Int64(1 + rng.int(86_000)) * 1_000_000
            var trace = TraceUpsert(id: "t\(t)")
            trace.timestamp = Timestamp(microseconds: start)
            if t % 2 == 0 { trace.metadata = ["tenantId": .string("tenant-\(rng.int(4))")] }
            events.append(IngestionEvent(eventID: "te\(t)", timestamp: trace.timestamp!, body: .trace(trace)))
            for k in 0..<(1 + rng.int(3)) {
                var o = ObservationUpsert(id: "t\(t)-o\(k)", type: .generation, isUpdate: false)
                o.traceID = "t\(t)"
                o.startTime = Timestamp(microseconds: start + Int64(k) * 1_000)
                o.model = models[rng.int(models.count)]
                if rng.int(3) == 0 { o.responseModel = models[rng.int(models.count)] }
                o.usage = ["input": Int64(rng.int(50_000)), "output": Int64(rng.int(9_000))]
                events.append(IngestionEvent(eventID: "oe\(t)-\(k)", timestamp: o.startTime!, body: .observation(o)))
            }
        }
        return events
    }

    /// Per tenant and day from `monthStart` on, by a scan of `observation`, without zero sums.
    static func scan(_ db: TallyDatabase, monthStart: Int64) async throws -> [String: [Int64: Int64]] {
        try await db.writer.read { db in
            var out: [String: [Int64: Int64]] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT coalesce(tenant, ''), start_time / 86400000000 * 86400000000 AS day,
                        sum(coalesce(total_cost_nanos, 0)) FROM observation
                    WHERE project_id = 'p' AND start_time >= ? GROUP BY 1, 2
                    """, arguments: [monthStart])
            where (row[2] as Int64) != 0 {
                out[row[0], default: [:]][row[1]] = row[2]
            }
            return out
        }
    }

    static func ledger(_ db: TallyDatabase) -> [String: [Int64: Int64]] {
        db.spendLedger.daily(projectID: "p").compactMapValues { byDay in
            let kept = byDay.filter { $0.value != 0 }
            return kept.isEmpty ? nil : kept
        }
    }

    @Test("equals a scan after ingest, a re-send, late tenants, updates, re-pricing, deletes, retention and a reopen")
    func exactThroughEveryWrite() async throws {
        let (db, path) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        let monthStart = BudgetPeriod.monthStart(.now())
        var rng = RollupTests.RNG(state: 11)
        let events = Self.workload(&rng, monthStart: monthStart)
        _ = try await db.ingest(projectID: "p", events: events)
        let first = try await Self.scan(db, monthStart: monthStart)
        #expect(first.values.flatMap(\.values).count > 10)
        #expect(Self.ledger(db) == first)

        _ = try await db.ingest(projectID: "p", events: events)  // a re-send is an upsert
        #expect(Self.ledger(db) == first)

        // Late tenants move spend between tenants; usage changes move amounts; a start moves to another day.
        var late: [IngestionEvent] = []
        let now = Timestamp.now()
        for t in stride(from: 1, to: 80, by: 2) {
            var trace = TraceUpsert(id: "t\(t)")
            trace.metadata = ["tenantId": .string("late-\(t % 3)")]
            late.append(IngestionEvent(eventID: "late\(t)", timestamp: now, body: .trace(trace)))
        }
        for t in stride(from: 0, to: 80, by: 7) {
            var o = ObservationUpsert(id: "t\(t)-o0", type: .generation, isUpdate: true)
            o.traceID = "t\(t)"
            if t % 2 == 0 {
                o.usage = ["input": 123_456, "output": 7]
            } else {
                o.startTime = Timestamp(microseconds: monthStart + 2 * Self.day + 5_000_000)
            }
            late.append(IngestionEvent(eventID: "up\(t)", timestamp: now, body: .observation(o)))
        }
        _ = try await db.ingest(projectID: "p", events: late)
        let moved = try await Self.scan(db, monthStart: monthStart)
        #expect(moved != first)
        #expect(Self.ledger(db) == moved)

        // Writers other than ingest: re-pricing by the response model, deleting traces, retention.
        try await db.setPricingSettings(projectID: "p", PricingSettings(builtinPrices: true, priceBy: .response))
        #expect(try await db.recomputeCosts(projectID: "p", from: nil, to: nil) > 0)
        let repriced = try await Self.scan(db, monthStart: monthStart)
        #expect(Self.ledger(db) == repriced, "\(Self.ledger(db)) vs \(repriced) before \(moved)")
        #expect(try await db.deleteTraces(projectID: "p", ids: (0..<20).map { "t\($0)" }) == 20)
        #expect(Self.ledger(db) == (try await Self.scan(db, monthStart: monthStart)))
        _ = try await db.deleteTraces(
            projectID: "p", olderThan: Timestamp(microseconds: monthStart + Self.day), limit: 1_000)
        let final = try await Self.scan(db, monthStart: monthStart)
        #expect(Self.ledger(db) == final)

        // A server starting on the file loads the same numbers.
        let reopened = try TallyDatabase(path: path)
        #expect(Self.ledger(reopened) == final)
    }

    @Test("a hold counts until its trace's costed observation commits, or for 120 s")
    func holds() async throws {
        let (db, _) = try temporaryDatabase()
        try db.ensureProject(id: "p", name: "p")
        let now = Timestamp.now()
        _ = db.checkBudget(projectID: "p", tenant: "a", feature: nil, estimateNanos: 300, holdID: "run-1", now: now)
        _ = db.checkBudget(projectID: "p", tenant: "a", feature: nil, estimateNanos: 200, holdID: "run-1", now: now)
        _ = db.checkBudget(projectID: "p", tenant: "a", feature: nil, estimateNanos: 50, holdID: "run-2", now: now)
        _ = db.checkBudget(projectID: "p", tenant: "b", feature: nil, estimateNanos: 70, holdID: "run-3", now: now)
        #expect(db.budgetStatus(projectID: "p", tenant: "a", now: now).spend.heldNanos == 550)
        #expect(db.budgetStatus(projectID: "p", tenant: "b", now: now).spend.heldNanos == 70)

        // An observation of trace run-1 without a cost does not end the hold; one with a cost does.
        var span = ObservationUpsert(id: "s1", type: .span, isUpdate: false)
        span.traceID = "run-1"
        span.startTime = now
        _ = try await db.ingest(
            projectID: "p", events: [IngestionEvent(eventID: "e1", timestamp: now, body: .observation(span))])
        #expect(db.budgetStatus(projectID: "p", tenant: "a", now: now).spend.heldNanos == 550)
        var generation = ObservationUpsert(id: "g1", type: .generation, isUpdate: false)
        generation.traceID = "run-1"
        generation.startTime = now
        generation.model = "gpt-4o"
        generation.usage = ["input": 100, "output": 10]
        _ = try await db.ingest(
            projectID: "p", events: [IngestionEvent(eventID: "e2", timestamp: now, body: .observation(generation))])
        #expect(db.budgetStatus(projectID: "p", tenant: "a", now: now).spend.heldNanos == 50)

        let later = Timestamp(microseconds: now.microseconds + SpendHold.lifetimeMicros + 1)
        #expect(db.budgetStatus(projectID: "p", tenant: "a", now: later).spend.heldNanos == 0)
        #expect(db.budgetStatus(projectID: "p", tenant: "b", now: later).spend.heldNanos == 0)
        #expect(!db.spendLedger.hasHolds)
    }

    @Test("another process's budget and cost writes reach a running server's memory through the two revisions")
    func otherProcess() async throws {
        let (server, path) = try temporaryDatabase()
        try server.ensureProject(id: "p", name: "p")
        let now = Timestamp.now()
        var o = ObservationUpsert(id: "g1", type: .generation, isUpdate: false)
        o.traceID = "t1"
        o.startTime = now
        o.model = "gpt-4o"
        o.usage = ["input": 1_000_000, "output": 0]
        o.metadata = ["tenantId": "acme"]
        _ = try await server.ingest(
            projectID: "p", events: [IngestionEvent(eventID: "e1", timestamp: now, body: .observation(o))])
        let before = try await server.budgetStatus(projectID: "p", tenant: "acme").spend.monthNanos
        #expect(before > 0)

        // `tally budgets …` and `tally costs recompute` run as another process on the same file.
        let cli = try TallyDatabase(path: path)
        try await cli.putPlan(projectID: "p", BudgetPlan(name: "starter", limits: BudgetLimits(dailyNanos: 1)))
        try await cli.putTenantBudget(projectID: "p", TenantBudget(tenant: "acme", plan: "starter"))
        try await cli.setPricingSettings(projectID: "p", PricingSettings(builtinPrices: false, priceBy: .requested))
        #expect(try await cli.recomputeCosts(projectID: "p", from: nil, to: nil) == 1)
        #expect(try await server.budgetPolicy(projectID: "p").plans.isEmpty)
        #expect(try await server.budgetStatus(projectID: "p", tenant: "acme").spend.monthNanos == before)

        // What BudgetService does every second.
        try await server.reloadBudgetPolicies()
        try await server.resyncSpend()
        #expect(try await server.budgetStatus(projectID: "p", tenant: "acme").plan == "starter")
        #expect(try await server.budgetStatus(projectID: "p", tenant: "acme").spend.monthNanos == 0)
    }

    @Test("at a new month the previous month's days stop counting")
    func monthRollover() {
        let ledger = SpendLedger()
        let june30 = Timestamp(iso8601: "2026-06-30T12:00:00Z")!
        let july1 = Timestamp(iso8601: "2026-07-01T00:00:01Z")!
        ledger.replace(with: [], monthStart: BudgetPeriod.monthStart(june30))
        ledger.apply([SpendLedger.Delta(projectID: "p", tenant: "a", day: BudgetPeriod.dayStart(june30), nanos: 5)])
        #expect(ledger.spend(projectID: "p", tenant: "a", now: june30) == TenantSpend(dayNanos: 5, monthNanos: 5))
        ledger.apply([SpendLedger.Delta(projectID: "p", tenant: "a", day: BudgetPeriod.dayStart(july1), nanos: 7)])
        #expect(ledger.spend(projectID: "p", tenant: "a", now: july1) == TenantSpend(dayNanos: 7, monthNanos: 7))
        // A late June observation after the roll-over is not this month's.
        ledger.apply([SpendLedger.Delta(projectID: "p", tenant: "a", day: BudgetPeriod.dayStart(june30), nanos: 9)])
        #expect(ledger.spend(projectID: "p", tenant: "a", now: july1) == TenantSpend(dayNanos: 7, monthNanos: 7))
    }
}
