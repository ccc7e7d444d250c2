import Foundation

/// The decision of each alert rule type over numbers the store has summed (nothing here reads a database): which
/// subjects the rule holds for now. A subject found in one evaluation and not the next is resolved; `subjectKey`
/// carries the period for rules that fire once per period (it then resolves when the period ends).
public enum AlertEvaluator {
    static func usd(_ nanos: Int64) -> Double { Money.usd(nanos: nanos) }
    /// Cents from $1 up, else 4 significant digits ($0.00518), as the UI shows money.
    static func money(_ usd: Double) -> String {
        if abs(usd) >= 1 || usd == 0 { return String(format: "$%.2f", usd) }
        let digits = max(2, 3 - Int(Foundation.floor(Foundation.log10(abs(usd)))))
        var text = String(format: "%.\(digits)f", usd)
        while text.hasSuffix("0") { text.removeLast() }
        return "$" + text
    }

    /// `tenant_spike`: `today` is each tenant's spend so far today; `baseline` its spend on each of the previous
    /// `baselineDays` full days (a missing day is 0), nano-USD.
    public static func tenantSpike(
        _ rule: AlertRule, today: [String: Int64], baseline: [String: [Int64]], day: String
    ) -> [AlertFinding] {
        let days = max(1, Int(rule.integer("baselineDays")))
        let factor = rule.number("factor")
        let minUSD = rule.number("minUsd")
        return today.keys.sorted().compactMap { tenant in
            guard !tenant.isEmpty, let spent = today[tenant] else { return nil }
            let mean = usd(baseline[tenant, default: []].saturatingSum()) / Double(days)
            let value = usd(spent)
            let threshold = factor * mean
            guard value > threshold, value >= minUSD else { return nil }
            return AlertFinding(
                subjectKey: "tenant=\(tenant);day=\(day)", tenant: tenant, value: value, threshold: threshold,
                message: "Tenant \(tenant) has spent \(money(value)) today, more than \(factor.formatted())× its "
                    + "\(days)-day mean of \(money(mean))")
        }
    }

    /// Per feature over one window: traces, successful ones, and tokens of all its traces.
    public struct FeatureWindow: Sendable, Equatable {
        public var traces: Int64
        public var successes: Int64
        public var tokens: Int64
        public init(traces: Int64, successes: Int64, tokens: Int64) {
            self.traces = traces
            self.successes = successes
            self.tokens = tokens
        }
        var tokensPerSuccess: Double? { successes > 0 ? Double(tokens) / Double(successes) : nil }
    }

    /// A prompt version seen in a window.
    public struct PromptVersion: Sendable, Hashable, Comparable {
        public var name: String
        public var version: Int
        public init(name: String, version: Int) {
            self.name = name
            self.version = version
        }
        public static func < (a: Self, b: Self) -> Bool { (a.name, a.version) < (b.name, b.version) }
        var label: String { "\(name) v\(version)" }
    }

    /// `feature_regression`: tokens per successful trace in the last 7 days vs the 7 days before. `versions` are the
    /// prompt versions seen per feature in each week; the payload names them and links the prompt comparison of the
    /// newest version of the week before (A) with the newest of the last week (B), as `#/prompts?...` (the store
    /// prefixes the UI's address).
    public static func featureRegression(
        _ rule: AlertRule, current: [String: FeatureWindow], previous: [String: FeatureWindow],
        versions: (current: [String: [PromptVersion]], previous: [String: [PromptVersion]])
    ) -> [AlertFinding] {
        let increase = rule.number("increase")
        let minTraces = rule.integer("minTraces")
        return current.keys.sorted().compactMap { feature in
            guard !feature.isEmpty, let now = current[feature], let before = previous[feature],
                now.traces >= minTraces, before.traces >= minTraces,
                let value = now.tokensPerSuccess, let base = before.tokensPerSuccess
            else { return nil }
            let threshold = base * (1 + increase)
            guard value >= threshold, value > base else { return nil }
            let change = (value / base - 1) * 100
            let last = (versions.current[feature] ?? []).sorted()
            let earlier = (versions.previous[feature] ?? []).sorted()
            var details: [String: JSONValue] = [
                "promptVersions": [
                    "lastWeek": .array(last.map { .string($0.label) }),
                    "weekBefore": .array(earlier.map { .string($0.label) }),
                ]
            ]
            if let b = last.last, let a = earlier.last(where: { $0.name == b.name }) {
                let name = b.name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? b.name
                details["promptComparison"] = .string("#/prompts?name=\(name)&a=\(a.version)&b=\(b.version)")
            }
            return AlertFinding(
                subjectKey: "feature=\(feature)", feature: feature, value: value, threshold: threshold,
                message: "Feature \(feature) uses \(Int(value.rounded())) tokens per successful trace, "
                    + "\(Int(change.rounded()))% more than the week before (\(Int(base.rounded())))",
                details: details)
        }
    }

    /// Generations of a feature in one window.
    public struct CallWindow: Sendable, Equatable {
        public var calls: Int64
        public var errors: Int64
        public var tokens: Int64
        public init(calls: Int64, errors: Int64, tokens: Int64) {
            self.calls = calls
            self.errors = errors
            self.tokens = tokens
        }
    }

    /// `error_burn`: the last `windowMinutes` against the window before it.
    public static func errorBurn(
        _ rule: AlertRule, current: [String: CallWindow], previous: [String: CallWindow]
    ) -> [AlertFinding] {
        let limit = rule.number("errorRate")
        let minCalls = rule.integer("minCalls")
        let minutes = rule.integer("windowMinutes")
        return current.keys.sorted().compactMap { feature in
            guard !feature.isEmpty, let now = current[feature], now.calls >= minCalls else { return nil }
            let rate = Double(now.errors) / Double(now.calls)
            let before = previous[feature]?.tokens ?? 0
            guard rate > limit, now.tokens > before else { return nil }
            return AlertFinding(
                subjectKey: "feature=\(feature)", feature: feature, value: rate, threshold: limit,
                message: "Feature \(feature): \(Int((rate * 100).rounded()))% of \(now.calls) generations failed in "
                    + "the last \(minutes) min while its tokens grew (\(before) → \(now.tokens))")
        }
    }

    /// One tenant's use against its limits (committed spend only: holds are not spend).
    public struct BudgetUse: Sendable, Equatable {
        public var tenant: String
        public var dayNanos: Int64
        public var monthNanos: Int64
        public var limits: BudgetLimits
        public init(tenant: String, dayNanos: Int64, monthNanos: Int64, limits: BudgetLimits) {
            self.tenant = tenant
            self.dayNanos = dayNanos
            self.monthNanos = monthNanos
            self.limits = limits
        }
    }

    /// `budget_threshold`: each tenant's daily and monthly spend, and the project's monthly spend against the
    /// project budget, crossing each threshold (a fraction of the limit) once per period; with `pace`, ≥ 80 % of a
    /// monthly limit spent in the first quarter of the month.
    public static func budgetThreshold(
        _ rule: AlertRule, tenants: [BudgetUse], projectMonthNanos: Int64, projectMonthlyLimit: Int64?,
        now: Timestamp
    ) -> [AlertFinding] {
        let thresholds = (rule.params["thresholds"]?.arrayValue ?? []).compactMap(\.doubleValue).sorted()
        let day = Timestamp(microseconds: BudgetPeriod.dayStart(now)).isoDate
        let monthStart = BudgetPeriod.monthStart(now)
        let month = String(Timestamp(microseconds: monthStart).isoDate.prefix(7))
        let inFirstQuarter = now.microseconds < monthStart + (BudgetPeriod.nextMonthStart(now) - monthStart) / 4
        var out: [AlertFinding] = []
        func check(_ who: String, tenant: String?, period: String, label: String, used: Int64, limit: Int64?) {
            guard let limit, limit > 0 else { return }
            let share = Double(used) / Double(limit)
            for t in thresholds where share >= t {
                out.append(
                    AlertFinding(
                        subjectKey: "\(who);\(period);at=\(t)", tenant: tenant, value: usd(used),
                        threshold: usd(limit) * t,
                        message:
                            "\(tenant.map { "Tenant \($0)" } ?? "The project") passed \(Int((t * 100).rounded()))% "
                            + "of its \(label) budget: \(money(usd(used))) of \(money(usd(limit))) "
                            + "(\(Int((share * 100).rounded(.down)))%)"))
            }
        }
        for u in tenants.sorted(by: { $0.tenant < $1.tenant }) where !u.tenant.isEmpty {
            check(
                "tenant=\(u.tenant)", tenant: u.tenant, period: "day=\(day)", label: "daily", used: u.dayNanos,
                limit: u.limits.dailyNanos)
            check(
                "tenant=\(u.tenant)", tenant: u.tenant, period: "month=\(month)", label: "monthly",
                used: u.monthNanos, limit: u.limits.monthlyNanos)
            if rule.params["pace"] == .bool(true), inFirstQuarter, let limit = u.limits.monthlyNanos, limit > 0,
                Double(u.monthNanos) >= 0.8 * Double(limit)
            {
                out.append(
                    AlertFinding(
                        subjectKey: "tenant=\(u.tenant);pace;month=\(month)", tenant: u.tenant,
                        value: usd(u.monthNanos),
                        threshold: usd(limit) * 0.8,
                        message:
                            "Tenant \(u.tenant) has used 80% of its monthly budget in the first quarter of the month "
                            + "(\(money(usd(u.monthNanos))) of \(money(usd(limit))))"))
            }
        }
        check(
            "project", tenant: nil, period: "month=\(month)", label: "monthly", used: projectMonthNanos,
            limit: projectMonthlyLimit)
        return out
    }

    /// `embed_surge`: per tenant, embedding tokens (EMBEDDING observations or embedding models) and generation
    /// tokens over the window.
    public static func embedSurge(
        _ rule: AlertRule, embedding: [String: Int64], generation: [String: Int64]
    ) -> [AlertFinding] {
        let minTokens = rule.integer("minTokens")
        let hours = rule.integer("windowHours")
        return embedding.keys.sorted().compactMap { tenant in
            guard !tenant.isEmpty, let e = embedding[tenant], e > minTokens else { return nil }
            let g = generation[tenant] ?? 0
            guard e > g else { return nil }
            return AlertFinding(
                subjectKey: "tenant=\(tenant)", tenant: tenant, value: Double(e), threshold: Double(g),
                message:
                    "Tenant \(tenant) used \(e) embedding tokens in \(hours) h, more than its \(g) generation tokens")
        }
    }

    /// `threshold`: `values` per group key (nil key: observations without the dimension, never alerted on).
    /// Tenants whose plan is in `exceptPlans` are skipped (`planOf` gives a tenant's plan).
    public static func threshold(
        _ rule: AlertRule, values: [(key: String?, value: Double)], planOf: (String) -> String?
    ) -> [AlertFinding] {
        let groupBy = rule.string("groupBy") ?? "tenant"
        let metric = rule.string("metric") ?? "totalCost"
        let op = rule.string("op") ?? ">"
        let limit = rule.number("value")
        let window = rule.string("window") ?? "24h"
        let except = Set((rule.params["exceptPlans"]?.arrayValue ?? []).compactMap(\.stringValue))
        return values.compactMap { row in
            guard let key = row.key, !key.isEmpty else { return nil }
            if groupBy == "tenant", !except.isEmpty, let plan = planOf(key), except.contains(plan) { return nil }
            let holds: Bool
            switch op {
            case ">=": holds = row.value >= limit
            case "<": holds = row.value < limit
            case "<=": holds = row.value <= limit
            default: holds = row.value > limit
            }
            guard holds else { return nil }
            let shown = metric.hasSuffix("Cost") ? money(row.value) : row.value.formatted()
            return AlertFinding(
                subjectKey: "\(groupBy)=\(key)", tenant: groupBy == "tenant" ? key : nil,
                feature: groupBy == "feature" ? key : nil, value: row.value, threshold: limit,
                message: "\(groupBy) \(key): \(metric) over \(window) is \(shown) (\(op) \(limit.formatted()))")
        }
    }
}
