import Foundation
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

@Suite("Store conformance: budgets")
struct BudgetConformanceTests {
    /// A gpt-4o call of `inputTokens` input tokens ($2.50 per million: 2,500 nano-USD a token) for `tenant`, now.
    static func call(_ id: String, trace: String, tenant: String, inputTokens: Int64, at now: Timestamp)
        -> IngestionEvent
    {
        var o = ObservationUpsert(id: id, type: .generation, isUpdate: false)
        o.traceID = trace
        o.startTime = now
        o.model = "gpt-4o"
        o.usage = ["input": inputTokens, "output": 0]
        o.metadata = ["tenantId": .string(tenant)]
        return IngestionEvent(eventID: id, timestamp: now, body: .observation(o))
    }

    @Test(
        "plans, tenant budgets, settings, switches and throttles round-trip; a plan in use cannot go",
        arguments: Backend.available)
    func policies(_ backend: Backend) async throws {
        try await backend.withStore { store in
            _ = try await store.ensureProject(id: "p", name: "p")
            let starter = BudgetLimits(dailyNanos: 1_000, monthlyNanos: 10_000, requestsPerMinute: 5)
            try await store.putPlan(projectID: "p", BudgetPlan(name: "starter", limits: starter))
            try await store.putTenantBudget(
                projectID: "p",
                TenantBudget(tenant: "acme", plan: "starter", overrides: BudgetLimits(monthlyNanos: 5_000)))
            try await store.setBudgetSettings(projectID: "p", defaultPlan: "starter", projectMonthlyNanos: 1_000_000)
            try await store.putSwitch(
                projectID: "p",
                FeatureSwitch(feature: "chat", tenant: nil, enabled: false, reason: "incident", until: nil))
            let until = Timestamp(microseconds: 4_102_444_800_000_000)
            try await store.putThrottle(projectID: "p", TenantThrottle(tenant: "bad", reason: "abuse", until: until))

            let policy = try await store.budgetPolicy(projectID: "p")
            #expect(policy.plans["starter"]?.limits == starter)
            #expect(
                policy.tenants["acme"]?.plan == "starter" && policy.tenants["acme"]?.overrides.monthlyNanos == 5_000)
            #expect(
                policy.limits(of: "acme") == BudgetLimits(dailyNanos: 1_000, monthlyNanos: 5_000, requestsPerMinute: 5))
            #expect(policy.defaultPlan == "starter" && policy.projectMonthlyNanos == 1_000_000)
            #expect(
                policy.switches["chat"]?[""]?.enabled == false && policy.switches["chat"]?[""]?.reason == "incident")
            #expect(policy.throttles["bad"]?.until == until)
            #expect(try await store.budgetPolicy(projectID: "other") == BudgetPolicy())

            await #expect(throws: BudgetWriteError.planInUse("starter", tenants: 1, isDefault: true)) {
                try await store.deletePlan(projectID: "p", name: "starter")
            }
            await #expect(throws: BudgetWriteError.unknownPlan("nope")) {
                try await store.putTenantBudget(projectID: "p", TenantBudget(tenant: "x", plan: "nope"))
            }
            await #expect(throws: BudgetWriteError.unknownPlan("nope")) {
                try await store.setBudgetSettings(projectID: "p", defaultPlan: "nope", projectMonthlyNanos: nil)
            }
            #expect(try await store.deleteTenantBudget(projectID: "p", tenant: "acme"))
            #expect(try await !store.deleteTenantBudget(projectID: "p", tenant: "acme"))
            #expect(try await store.deleteSwitch(projectID: "p", feature: "chat", tenant: nil))
            #expect(try await !store.deleteSwitch(projectID: "p", feature: "chat", tenant: nil))
            #expect(try await store.deleteThrottle(projectID: "p", tenant: "bad"))
            #expect(try await !store.deleteThrottle(projectID: "p", tenant: "bad"))
            try await store.setBudgetSettings(projectID: "p", defaultPlan: nil, projectMonthlyNanos: nil)
            #expect(try await store.deletePlan(projectID: "p", name: "starter"))
            #expect(try await !store.deletePlan(projectID: "p", name: "starter"))
            #expect(try await store.budgetPolicy(projectID: "p") == BudgetPolicy())
        }
    }

    @Test(
        "committed spend, holds and their release by the call's cost, throttles and switches decide checks",
        arguments: Backend.available)
    func spendAndHolds(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let now = Timestamp.now()
            _ = try await store.ensureProject(id: "p", name: "p")
            try await store.putPlan(
                projectID: "p", BudgetPlan(name: "p1", limits: BudgetLimits(monthlyNanos: 3_000_000_000)))
            try await store.putTenantBudget(projectID: "p", TenantBudget(tenant: "acme", plan: "p1"))
            _ = try await store.ingest(
                projectID: "p", events: [Self.call("g1", trace: "t1", tenant: "acme", inputTokens: 1_000_000, at: now)])
            _ = try await store.ingest(
                projectID: "p", events: [Self.call("g0", trace: "t0", tenant: "other", inputTokens: 1_000, at: now)])

            var status = try await store.budgetStatus(projectID: "p", tenant: "acme", now: now)
            #expect(status.spend == TenantSpend(dayNanos: 2_500_000_000, monthNanos: 2_500_000_000))
            #expect(status.plan == "p1" && status.limits.monthlyNanos == 3_000_000_000)
            #expect(try await store.projectMonthSpend(projectID: "p", now: now) == 2_502_500_000)
            // "other" has no limit: not listed.
            #expect(try await store.budgetStatuses(projectID: "p", now: now).map(\.tenant) == ["acme"])

            // A check holds its estimate until the call's cost commits.
            var (verdict, checked) = try await store.checkBudget(
                projectID: "p", tenant: "acme", feature: nil, estimateNanos: 400_000_000, holdID: "t2", now: now)
            #expect(verdict.allowed && checked.spend.heldNanos == 0)
            status = try await store.budgetStatus(projectID: "p", tenant: "acme", now: now)
            #expect(status.spend.heldNanos == 400_000_000)
            (verdict, _) = try await store.checkBudget(
                projectID: "p", tenant: "acme", feature: nil, estimateNanos: 200_000_000, holdID: "t3", now: now)
            #expect(verdict.refusal == .monthlyBudget)
            _ = try await store.ingest(
                projectID: "p", events: [Self.call("g2", trace: "t2", tenant: "acme", inputTokens: 10_000, at: now)])
            status = try await store.budgetStatus(projectID: "p", tenant: "acme", now: now)
            #expect(status.spend == TenantSpend(dayNanos: 2_525_000_000, monthNanos: 2_525_000_000))
            (verdict, checked) = try await store.checkBudget(
                projectID: "p", tenant: "acme", feature: nil, estimateNanos: 200_000_000, holdID: "t3", now: now)
            #expect(verdict.allowed)
            // A hold lapses after its lifetime.
            let later = Timestamp(microseconds: now.microseconds + SpendHold.lifetimeMicros + 1)
            #expect(try await store.budgetStatus(projectID: "p", tenant: "acme", now: later).spend.heldNanos == 0)

            try await store.putThrottle(projectID: "p", TenantThrottle(tenant: "acme", reason: "abuse", until: nil))
            (verdict, checked) = try await store.checkBudget(
                projectID: "p", tenant: "acme", feature: nil, estimateNanos: 0, holdID: nil, now: later)
            #expect(verdict.refusal == .throttled && checked.throttle?.reason == "abuse")
            #expect(try await store.deleteThrottle(projectID: "p", tenant: "acme"))
            try await store.putSwitch(
                projectID: "p", FeatureSwitch(feature: "chat", tenant: "acme", enabled: false, reason: nil, until: nil))
            (verdict, checked) = try await store.checkBudget(
                projectID: "p", tenant: "acme", feature: "chat", estimateNanos: 0, holdID: nil, now: later)
            #expect(verdict.refusal == .featureDisabled && checked.switches.map(\.feature) == ["chat"])
            (verdict, _) = try await store.checkBudget(
                projectID: "p", tenant: "acme", feature: "search", estimateNanos: 0, holdID: nil, now: later)
            #expect(verdict.allowed)
        }
    }

    @Test("requests per minute: a sliding minute of allowed checks", arguments: Backend.available)
    func rateLimit(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let now = Timestamp.now()
            _ = try await store.ensureProject(id: "p", name: "p")
            try await store.putPlan(
                projectID: "p", BudgetPlan(name: "slow", limits: BudgetLimits(requestsPerMinute: 2)))
            try await store.putTenantBudget(projectID: "p", TenantBudget(tenant: "acme", plan: "slow"))
            func check(_ seconds: Int64) async throws -> (BudgetVerdict, BudgetStatus) {
                try await store.checkBudget(
                    projectID: "p", tenant: "acme", feature: nil, estimateNanos: 0, holdID: nil,
                    now: Timestamp(microseconds: now.microseconds + seconds * 1_000_000))
            }
            #expect(try await check(0).1.requestsInLastMinute == 1)
            #expect(try await check(10).1.requestsInLastMinute == 2)
            let (refused, status) = try await check(20)
            #expect(
                refused.refusal == .rateLimit && refused.retryAfterSeconds == 40 && status.requestsInLastMinute == 2)
            #expect(try await check(61).0.allowed)
            #expect(try await check(65).0.refusal == .rateLimit)
            #expect(try await check(71).0.allowed)
        }
    }
}

@Suite("PostgreSQL: budget checks on many collectors", .enabled(if: Backend.postgresURL != nil))
struct PostgresBudgetTests {
    @Test("concurrent checks on two collectors are decided one after another: holds and the rate limit stay exact")
    func concurrentChecks() async throws {
        try await PostgresHarness.withDatabase { a, url in
            try await PostgresHarness.running(try PostgresStore(url: url, poolSize: 4)) { b in
                _ = try await a.ensureProject(id: "p", name: "p")
                try await a.putPlan(
                    projectID: "p", BudgetPlan(name: "small", limits: BudgetLimits(monthlyNanos: 100)))
                try await a.putPlan(
                    projectID: "p", BudgetPlan(name: "slow", limits: BudgetLimits(requestsPerMinute: 5)))
                try await a.putTenantBudget(projectID: "p", TenantBudget(tenant: "acme", plan: "small"))
                try await a.putTenantBudget(projectID: "p", TenantBudget(tenant: "busy", plan: "slow"))
                // Written on one collector, in force on the other at once.
                #expect(try await b.budgetPolicy(projectID: "p").tenants.count == 2)

                // 24 checks of 10 against 100: exactly 10 hold their estimate.
                let holds = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for i in 0..<24 {
                        let store = i.isMultiple(of: 2) ? a : b
                        group.addTask {
                            try await store.checkBudget(
                                projectID: "p", tenant: "acme", feature: nil, estimateNanos: 10, holdID: "run-\(i)"
                            ).0.allowed
                        }
                    }
                    return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
                #expect(holds == 10)
                #expect(try await a.budgetStatus(projectID: "p", tenant: "acme").spend.heldNanos == 100)

                // 12 checks against 5 a minute: exactly 5 pass.
                let passed = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for i in 0..<12 {
                        let store = i.isMultiple(of: 2) ? a : b
                        group.addTask {
                            try await store.checkBudget(
                                projectID: "p", tenant: "busy", feature: nil, estimateNanos: 0, holdID: nil
                            ).0.allowed
                        }
                    }
                    return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
                #expect(passed == 5)
                #expect(try await b.budgetStatus(projectID: "p", tenant: "busy").requestsInLastMinute == 5)
            }
        }
    }
}
