import Foundation
import Testing

@testable import TallyCore

@Suite("Alert rules: parameters and each type's decision")
struct AlertEvaluatorTests {
    func rule(_ type: AlertRuleType, _ params: [String: JSONValue] = [:]) throws -> AlertRule {
        AlertRule(
            id: "r", name: "r", type: type, params: try AlertInput.params(type, params), channels: [], actions: [],
            enabled: true)
    }

    @Test("defaults are the guide's numbers; unknown, out-of-range and missing required params are refused by name")
    func params() throws {
        #expect(try AlertInput.params(.tenantSpike, [:]) == ["factor": 2, "baselineDays": 7, "minUsd": 1])
        #expect(try AlertInput.params(.budgetThreshold, [:]) == ["thresholds": [0.8, 1.0], "pace": true])
        #expect(try AlertInput.params(.errorBurn, [:]) == ["errorRate": 0.05, "windowMinutes": 15, "minCalls": 20])
        #expect(refusal { _ = try AlertInput.params(.tenantSpike, ["factr": 2]) }.hasPrefix("body.params.factr: unknown"))
        #expect(refusal { _ = try AlertInput.params(.errorBurn, ["errorRate": 1.5]) }.hasPrefix("body.params.errorRate"))
        #expect(refusal { _ = try AlertInput.params(.errorBurn, ["windowMinutes": 2.5]) }.hasPrefix("body.params.windowMinutes"))
        #expect(refusal { _ = try AlertInput.params(.threshold, ["groupBy": "tenant", "value": 5]) }
            == "body.params.metric: required for threshold")
        #expect(refusal { _ = try AlertInput.params(.threshold, ["metric": "totalCost", "groupBy": "tenant", "value": 5, "filters": ["x": "y"]]) }
            .hasPrefix("body.params.filters.x"))
        #expect(refusal { _ = try AlertInput.params(.threshold, ["metric": "totalCost", "groupBy": "feature", "value": 5, "exceptPlans": ["ent"]]) }
            == "body.params.exceptPlans: only with groupBy tenant")
        #expect(refusal { _ = try AlertInput.rule(id: "1", ["name": "x", "type": "nope"]) }.hasPrefix("body.type"))
        #expect(refusal { _ = try AlertInput.channel(["name": "c", "type": "webhook", "url": "javascript:alert(1)"]) }
            == "body.url: expected an http:// or https:// URL")
        #expect(try AlertInput.channel(["name": "c", "type": "slack", "url": "https://hooks.slack.com/x"]).type == "slack")
        let many = JSONValue.array((0...AlertInput.maxChannels).map { .string("c\($0)") })
        #expect(refusal { _ = try AlertInput.rule(id: "1", ["name": "x", "type": "error_burn", "channels": many]) }
            == "body.channels: at most 20 channels")
        #expect(refusal { _ = try AlertInput.params(.threshold, ["metric": "totalCost", "groupBy": "tenant", "value": 5, "filters": ["tenantId": "a\u{0}b"]]) }
            .hasPrefix("body.params.filters.tenantId: an id must not contain control characters"))
        #expect(refusal { _ = try AlertInput.params(.featureRegression, ["successScore": "ok\u{7}"]) }
            .hasPrefix("body.params.successScore: an id must not contain control characters"))
    }

    @Test("tenant_spike: today over factor × the baseline mean and at least minUsd; a quiet new tenant does not fire")
    func tenantSpike() throws {
        let findings = AlertEvaluator.tenantSpike(
            try rule(.tenantSpike),
            today: ["spiky": 5_000_000_000, "steady": 1_500_000_000, "new-small": 500_000_000, "": 9_000_000_000],
            baseline: ["spiky": [7_000_000_000], "steady": [7_000_000_000]], day: "2026-11-30")
        #expect(findings.map(\.tenant) == ["spiky"])
        #expect(findings[0].threshold == 2)
        #expect(findings[0].subjectKey == "tenant=spiky;day=2026-11-30")
    }

    @Test("feature_regression: needs minTraces in both weeks and a rise of at least `increase`")
    func featureRegression() throws {
        let w = AlertEvaluator.FeatureWindow.init
        let findings = AlertEvaluator.featureRegression(
            try rule(.featureRegression),
            current: ["up": w(30, 20, 4_000), "flat": w(30, 20, 2_100), "few": w(5, 5, 9_000)],
            previous: ["up": w(30, 20, 2_000), "flat": w(30, 20, 2_000), "few": w(5, 5, 100)],
            versions: (
                ["up": [.init(name: "answer", version: 3), .init(name: "answer", version: 2)]],
                ["up": [.init(name: "answer", version: 2)]]
            ))
        #expect(findings.map(\.feature) == ["up"])
        #expect(
            findings[0].details["promptVersions"] == ["lastWeek": ["answer v2", "answer v3"], "weekBefore": ["answer v2"]])
        #expect(findings[0].details["promptComparison"] == "#/prompts?name=answer&a=2&b=3")
    }

    @Test("error_burn: the error rate over the limit with at least minCalls, while tokens grow")
    func errorBurn() throws {
        let c = AlertEvaluator.CallWindow.init
        let findings = AlertEvaluator.errorBurn(
            try rule(.errorBurn),
            current: ["burn": c(30, 5, 3_000), "shrinking": c(30, 5, 1_000), "rare": c(10, 5, 9_000), "ok": c(30, 1, 9_000)],
            previous: ["burn": c(10, 0, 1_000), "shrinking": c(40, 0, 4_000)])
        #expect(findings.map(\.feature) == ["burn"])
    }

    @Test("budget_threshold: each threshold once per period, the project budget, and the first-quarter pace")
    func budgetThreshold() throws {
        let now = Timestamp(iso8601: "2026-11-05T12:00:00Z")!
        let uses = [
            AlertEvaluator.BudgetUse(
                tenant: "a", dayNanos: 10_000_000_000, monthNanos: 85_000_000_000,
                limits: BudgetLimits(dailyNanos: 10_000_000_000, monthlyNanos: 100_000_000_000)),
            AlertEvaluator.BudgetUse(tenant: "b", dayNanos: 1, monthNanos: 1, limits: BudgetLimits(dailyNanos: 10)),
            AlertEvaluator.BudgetUse(tenant: "c", dayNanos: 9, monthNanos: 9, limits: BudgetLimits()),
        ]
        let findings = AlertEvaluator.budgetThreshold(
            try rule(.budgetThreshold), tenants: uses, projectMonthNanos: 4_000, projectMonthlyLimit: 5_000, now: now)
        let keys = findings.map(\.subjectKey)
        #expect(findings[0].message == "Tenant a passed 80% of its daily budget: $10.00 of $10.00 (100%)")
        #expect(findings.last?.message == "The project passed 80% of its monthly budget: $0.000004 of $0.000005 (80%)")
        #expect(AlertEvaluator.money(0.00518) == "$0.00518" && AlertEvaluator.money(0.004) == "$0.004")
        #expect(AlertEvaluator.money(0.5) == "$0.5" && AlertEvaluator.money(12.345) == "$12.35")
        #expect(
            keys == [
                "tenant=a;day=2026-11-05;at=0.8", "tenant=a;day=2026-11-05;at=1.0", "tenant=a;month=2026-11;at=0.8",
                "tenant=a;pace;month=2026-11", "project;month=2026-11;at=0.8",
            ])
    }

    @Test("embed_surge and threshold: the right subjects, exceptPlans skipped")
    func embedAndThreshold() throws {
        let surge = AlertEvaluator.embedSurge(
            try rule(.embedSurge), embedding: ["e": 20_000, "small": 9_000, "bal": 15_000], generation: ["e": 100, "bal": 50_000])
        #expect(surge.map(\.tenant) == ["e"])
        let t = try rule(.threshold, ["metric": "totalCost", "groupBy": "tenant", "value": 5, "exceptPlans": ["enterprise"]])
        let found = AlertEvaluator.threshold(
            t, values: [("a", 9), ("big", 50), ("b", 5), (nil, 100)], planOf: { $0 == "big" ? "enterprise" : nil })
        #expect(found.map(\.subjectKey) == ["tenant=a"])
    }
}
