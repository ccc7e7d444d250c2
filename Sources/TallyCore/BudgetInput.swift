/// The budget API's request bodies, read and checked; every refusal is an `IngestionError.invalid` that names the
/// field (`body.dailyUsd: expected a number of USD from 0 to …, got -1`). Unknown fields are refused too (a misspelt
/// limit must not silently mean "no limit").
public enum BudgetInput {
    /// Longest tenant id, feature, plan name or hold id.
    public static let maxNameLength = 200
    /// Largest money amount accepted, USD.
    public static let maxUSD: Double = 1_000_000_000

    /// `{"dailyUsd", "monthlyUsd", "requestsPerMinute"}`, each optional (absent or null: none).
    public static func limits(_ body: JSONValue) throws -> BudgetLimits {
        let o = try FieldReader.body(body, allowed: ["dailyUsd", "monthlyUsd", "requestsPerMinute"])
        return try limits(FieldReader(o, path: "body"))
    }

    /// `{"plan", "dailyUsd", "monthlyUsd", "requestsPerMinute"}`: the plan (absent: the default plan) and overrides.
    public static func tenantBudget(tenant: String, _ body: JSONValue) throws -> TenantBudget {
        let o = try FieldReader.body(body, allowed: ["plan", "dailyUsd", "monthlyUsd", "requestsPerMinute"])
        let r = FieldReader(o, path: "body")
        return TenantBudget(
            tenant: try name(tenant, field: "tenantId"),
            plan: try r.string("plan").map { try name($0, field: "body.plan") },
            overrides: try limits(r))
    }

    /// `{"defaultPlan", "projectMonthlyUsd"}`.
    public static func settings(_ body: JSONValue) throws -> (
        defaultPlan: String?, projectMonthlyNanos: Int64?
    ) {
        let r = FieldReader(try FieldReader.body(body, allowed: ["defaultPlan", "projectMonthlyUsd"]), path: "body")
        return (
            try r.string("defaultPlan").map { try name($0, field: "body.defaultPlan") },
            try nanos(r, "projectMonthlyUsd")
        )
    }

    /// A check: `{"tenantId" (required), "feature", "estimateUsd", "holdId"}`.
    public struct Check: Sendable, Equatable {
        public var tenant: String
        public var feature: String?
        public var estimateNanos: Int64
        public var holdID: String?
    }

    public static func check(_ body: JSONValue) throws -> Check {
        let r = FieldReader(
            try FieldReader.body(body, allowed: ["tenantId", "feature", "estimateUsd", "holdId"]), path: "body")
        guard let tenant = try r.string("tenantId") else { throw IngestionError.invalid("body.tenantId: required") }
        return Check(
            tenant: try name(tenant, field: "tenantId"),
            feature: try r.string("feature").map { try name($0, field: "body.feature") },
            estimateNanos: try nanos(r, "estimateUsd") ?? 0,
            holdID: try r.string("holdId").map { try name($0, field: "body.holdId") })
    }

    /// `{"enabled" (required), "tenantId", "reason", "until"}`.
    public static func featureSwitch(feature: String, _ body: JSONValue) throws -> FeatureSwitch {
        let r = FieldReader(
            try FieldReader.body(body, allowed: ["enabled", "tenantId", "reason", "until"]), path: "body")
        guard let enabled = try r.bool("enabled") else { throw IngestionError.invalid("body.enabled: required") }
        return FeatureSwitch(
            feature: try name(feature, field: "feature"),
            tenant: try r.string("tenantId").map { t in try name(t, field: "tenantId") },
            enabled: enabled, reason: try r.string("reason", maxLength: 1000), until: try r.timestamp("until"))
    }

    /// `{"until", "reason"}`.
    public static func throttle(tenant: String, _ body: JSONValue) throws -> TenantThrottle {
        let r = FieldReader(try FieldReader.body(body, allowed: ["until", "reason"]), path: "body")
        return TenantThrottle(
            tenant: try name(tenant, field: "tenantId"), reason: try r.string("reason", maxLength: 1000),
            until: try r.timestamp("until"))
    }

    /// A tenant id, feature or plan name from a path or body: 1…200 characters, no control characters (the rules of
    /// `EntityID`).
    public static func name(_ s: String, field: String) throws -> String {
        guard !s.isEmpty else { throw IngestionError.invalid("\(field): must not be empty") }
        guard s.count <= maxNameLength else {
            throw IngestionError.invalid("\(field): longer than \(maxNameLength) characters")
        }
        if let problem = EntityID.problem(s) { throw IngestionError.invalid("\(field): \(problem)") }
        return s
    }

    /// USD (a JSON number ≥ 0, at most `maxUSD`) as nano-USD, rounded to the nearest.
    public static func usdToNanos(_ usd: Double) -> Int64 { Money.nanos(usd: usd) }

    private static func limits(_ r: FieldReader) throws -> BudgetLimits {
        var perMinute: Int?
        if let v = try r.int("requestsPerMinute") {
            guard (0...1_000_000).contains(v) else {
                throw IngestionError.invalid("body.requestsPerMinute: expected 0…1000000, got \(v)")
            }
            perMinute = v
        }
        return BudgetLimits(
            dailyNanos: try nanos(r, "dailyUsd"), monthlyNanos: try nanos(r, "monthlyUsd"), requestsPerMinute: perMinute
        )
    }

    private static func nanos(_ r: FieldReader, _ key: String) throws -> Int64? {
        guard let v = r.raw(key) else { return nil }
        guard let usd = v.doubleValue, usd.isFinite, usd >= 0, usd <= maxUSD else {
            throw r.fail(key, "a number of USD from 0 to \(Int(maxUSD))", v)
        }
        return usdToNanos(usd)
    }
}
