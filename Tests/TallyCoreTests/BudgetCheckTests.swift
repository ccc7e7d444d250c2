import Foundation
import Testing

@testable import TallyCore

@Suite("Budget periods, limits and the check rule")
struct BudgetCheckTests {
    func t(_ iso: String) -> Timestamp { Timestamp(iso8601: iso)! }

    @Test("UTC day and month boundaries, across a year end and a leap February")
    func periods() {
        #expect(BudgetPeriod.dayStart(t("2026-11-30T23:59:59.999999Z")) == t("2026-11-30T00:00:00Z").microseconds)
        #expect(BudgetPeriod.nextDayStart(t("2026-12-31T10:00:00Z")) == t("2027-01-01T00:00:00Z").microseconds)
        #expect(BudgetPeriod.monthStart(t("2026-12-31T23:59:59Z")) == t("2026-12-01T00:00:00Z").microseconds)
        #expect(BudgetPeriod.nextMonthStart(t("2026-12-15T00:00:00Z")) == t("2027-01-01T00:00:00Z").microseconds)
        #expect(BudgetPeriod.nextMonthStart(t("2028-02-29T12:00:00Z")) == t("2028-03-01T00:00:00Z").microseconds)
        #expect(BudgetPeriod.monthStart(t("2026-03-01T00:00:00Z")) == t("2026-03-01T00:00:00Z").microseconds)
        #expect(BudgetPeriod.dayStart(Timestamp(microseconds: -1)) == -86_400_000_000)
    }

    func policy() -> BudgetPolicy {
        var p = BudgetPolicy()
        p.plans["starter"] = BudgetPlan(
            name: "starter", limits: BudgetLimits(dailyNanos: 5_000_000_000, monthlyNanos: 100_000_000_000, requestsPerMinute: 2))
        p.defaultPlan = "starter"
        p.tenants["big"] = TenantBudget(tenant: "big", plan: "starter", overrides: BudgetLimits(dailyNanos: 50_000_000_000))
        return p
    }

    func evaluate(
        _ p: BudgetPolicy, tenant: String = "acme", feature: String? = nil, estimate: Int64 = 0,
        spend: TenantSpend = TenantSpend(), requests: Int = 0, oldest: Timestamp? = nil,
        now: Timestamp = Timestamp(iso8601: "2026-11-30T23:00:00Z")!
    ) -> BudgetVerdict {
        BudgetCheck.evaluate(
            policy: p, tenant: tenant, feature: feature, estimateNanos: estimate, spend: spend,
            requestsInLastMinute: requests, oldestRequestInMinute: oldest, now: now)
    }

    @Test("limits: a tenant's overrides win over its plan; no plan and no default is unlimited")
    func limits() {
        let p = policy()
        #expect(p.limits(of: "big").dailyNanos == 50_000_000_000)
        #expect(p.limits(of: "big").monthlyNanos == 100_000_000_000)
        #expect(p.limits(of: "anyone").dailyNanos == 5_000_000_000)
        #expect(BudgetPolicy().limits(of: "anyone").isUnlimited)
        var dangling = BudgetPolicy()
        dangling.defaultPlan = "deleted"
        #expect(dangling.planName(of: "x") == nil)
    }

    @Test("a budget refuses at the limit, or when the estimate would pass it; held estimates count as used")
    func budgets() {
        let p = policy()
        #expect(evaluate(p, spend: TenantSpend(dayNanos: 4_999_999_999, monthNanos: 4_999_999_999)).allowed)
        let atLimit = evaluate(p, spend: TenantSpend(dayNanos: 5_000_000_000, monthNanos: 5_000_000_000))
        #expect(atLimit.refusal == .dailyBudget)
        #expect(atLimit.retryAfterSeconds == 3600)  // 23:00 → midnight
        #expect(evaluate(p, estimate: 2_000_000_000, spend: TenantSpend(dayNanos: 3_000_000_001)).refusal == .dailyBudget)
        #expect(evaluate(p, estimate: 2_000_000_000, spend: TenantSpend(dayNanos: 3_000_000_000)).allowed)
        #expect(evaluate(p, spend: TenantSpend(dayNanos: 1, heldNanos: 4_999_999_999)).refusal == .dailyBudget)
        let month = evaluate(p, spend: TenantSpend(dayNanos: 0, monthNanos: 100_000_000_000))
        #expect(month.refusal == .monthlyBudget)
        #expect(month.retryAfterSeconds == 3600)  // Nov 30 23:00 → Dec 1
        // Saturating: absurd inputs never overflow.
        #expect(evaluate(p, estimate: .max, spend: TenantSpend(dayNanos: .max, heldNanos: .max)).refusal == .monthlyBudget)
    }

    @Test("order: switch, throttle, month, day, rate; retry-after from what ends the refusal")
    func order() {
        var p = policy()
        let now = Timestamp(iso8601: "2026-11-30T12:00:00Z")!
        p.switches["copilot"] = [
            "": FeatureSwitch(feature: "copilot", tenant: nil, enabled: false, reason: "cost spike", until: nil),
            "vip": FeatureSwitch(feature: "copilot", tenant: "vip", enabled: true, reason: nil, until: nil),
        ]
        p.throttles["acme"] = TenantThrottle(
            tenant: "acme", reason: nil, until: Timestamp(microseconds: now.microseconds + 90_000_000))
        let over = TenantSpend(dayNanos: 6_000_000_000, monthNanos: 200_000_000_000)
        #expect(evaluate(p, feature: "copilot", spend: over, now: now).refusal == .featureDisabled)
        #expect(evaluate(p, feature: "copilot", spend: over, now: now).retryAfterSeconds == nil)
        let throttled = evaluate(p, feature: "search", spend: over, now: now)
        #expect(throttled.refusal == .throttled)
        #expect(throttled.retryAfterSeconds == 90)
        #expect(evaluate(p, tenant: "vip", feature: "copilot", now: now).allowed)
        let later = Timestamp(microseconds: now.microseconds + 91_000_000)
        #expect(evaluate(p, spend: over, now: later).refusal == .monthlyBudget)
        #expect(evaluate(p, tenant: "x", requests: 2, oldest: Timestamp(microseconds: now.microseconds - 45_500_000), now: now)
            == BudgetVerdict(refusal: .rateLimit, retryAfterSeconds: 15, message: "tenant x made 2 requests in the last minute (limit 2)"))
        #expect(evaluate(p, tenant: "x", requests: 1, now: now).allowed)
    }

    @Test("the sliding minute forgets requests older than 60 s and keeps at most the limit")
    func slidingMinute() {
        var w = SlidingMinute()
        let start = Timestamp(iso8601: "2026-11-30T12:00:00Z")!
        for s in 0..<5 { w.record(at: Timestamp(microseconds: start.microseconds + Int64(s) * 10_000_000), capacity: 3) }
        #expect(w.count == 3)
        #expect(w.oldest == Timestamp(microseconds: start.microseconds + 20_000_000))
        w.expire(at: Timestamp(microseconds: start.microseconds + 80_000_000))
        #expect(w.count == 2)
        w.expire(at: Timestamp(microseconds: start.microseconds + 200_000_000))
        #expect(w.count == 0)
        #expect(w.oldest == nil)
    }

    @Test("request bodies: each refusal names its field; USD becomes exact nano-USD")
    func input() throws {
        #expect(BudgetInput.usdToNanos(0.1) == 100_000_000)
        #expect(BudgetInput.usdToNanos(5) == 5_000_000_000)
        #expect(try BudgetInput.limits(["dailyUsd": 5, "monthlyUsd": 100.5, "requestsPerMinute": 60])
            == BudgetLimits(dailyNanos: 5_000_000_000, monthlyNanos: 100_500_000_000, requestsPerMinute: 60))
        #expect(try BudgetInput.limits(["dailyUsd": nil]) == BudgetLimits())
        #expect(refusal { _ = try BudgetInput.limits(["dailyUsd": -0.01]) }.hasPrefix("body.dailyUsd:"))
        #expect(refusal { _ = try BudgetInput.limits(["dailyUsd": 2e9]) }.hasPrefix("body.dailyUsd:"))
        #expect(refusal { _ = try BudgetInput.limits(["requestsPerMinute": -1]) }.hasPrefix("body.requestsPerMinute:"))
        #expect(refusal { _ = try BudgetInput.limits(["weeklyUsd": 1]) }.hasPrefix("body.weeklyUsd: unknown field"))
        #expect(refusal { _ = try BudgetInput.check(["feature": "x"]) } == "body.tenantId: required")
        #expect(refusal { _ = try BudgetInput.check(["tenantId": ""]) } == "tenantId: must not be empty")
        #expect(refusal { _ = try BudgetInput.check(["tenantId": .string(String(repeating: "x", count: 201))]) }
            == "tenantId: longer than 200 characters")
        #expect(refusal { _ = try BudgetInput.check(["tenantId": "ac\nme"]) }.hasPrefix("tenantId: an id must not contain control characters"))
        #expect(refusal { _ = try BudgetInput.check(["tenantId": "a", "feature": .string(String(repeating: "f", count: 201))]) }
            == "body.feature: longer than 200 characters")
        #expect(refusal { _ = try BudgetInput.featureSwitch(feature: "f", ["enabled": "no"]) }.hasPrefix("body.enabled:"))
        #expect(refusal { _ = try BudgetInput.throttle(tenant: "a", ["until": "tomorrow"]) }.hasPrefix("body.until:"))
        let check = try BudgetInput.check(["tenantId": "acme", "feature": "copilot", "estimateUsd": 0.02, "holdId": "t-1"])
        #expect(check == BudgetInput.Check(tenant: "acme", feature: "copilot", estimateNanos: 20_000_000, holdID: "t-1"))
    }
}
