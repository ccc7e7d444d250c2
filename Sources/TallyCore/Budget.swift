/// Spend limits of a plan or of one tenant's overrides. Money in nano-USD (as every stored cost); nil: no limit
/// (on a plan) or the plan's value (on an override).
public struct BudgetLimits: Sendable, Equatable {
    public var dailyNanos: Int64?
    public var monthlyNanos: Int64?
    public var requestsPerMinute: Int?

    public init(dailyNanos: Int64? = nil, monthlyNanos: Int64? = nil, requestsPerMinute: Int? = nil) {
        self.dailyNanos = dailyNanos
        self.monthlyNanos = monthlyNanos
        self.requestsPerMinute = requestsPerMinute
    }

    /// `overrides` where set, else these.
    public func overridden(by overrides: BudgetLimits) -> BudgetLimits {
        BudgetLimits(
            dailyNanos: overrides.dailyNanos ?? dailyNanos, monthlyNanos: overrides.monthlyNanos ?? monthlyNanos,
            requestsPerMinute: overrides.requestsPerMinute ?? requestsPerMinute)
    }

    public var isUnlimited: Bool { dailyNanos == nil && monthlyNanos == nil && requestsPerMinute == nil }
}

/// A named set of limits tenants are assigned to (e.g. starter $5/day).
public struct BudgetPlan: Sendable, Equatable {
    public var name: String
    public var limits: BudgetLimits

    public init(name: String, limits: BudgetLimits) {
        self.name = name
        self.limits = limits
    }
}

/// One tenant's assignment: its plan (nil: the project's default plan) and its own overrides.
public struct TenantBudget: Sendable, Equatable {
    public var tenant: String
    public var plan: String?
    public var overrides: BudgetLimits

    public init(tenant: String, plan: String?, overrides: BudgetLimits = BudgetLimits()) {
        self.tenant = tenant
        self.plan = plan
        self.overrides = overrides
    }
}

/// A feature turned off (or explicitly on) for every tenant (`tenant` nil) or for one; `until` nil: until deleted.
public struct FeatureSwitch: Sendable, Equatable {
    public var feature: String
    public var tenant: String?
    public var enabled: Bool
    public var reason: String?
    public var until: Timestamp?

    public init(feature: String, tenant: String?, enabled: Bool, reason: String?, until: Timestamp?) {
        self.feature = feature
        self.tenant = tenant
        self.enabled = enabled
        self.reason = reason
        self.until = until
    }

    public func applies(at now: Timestamp) -> Bool { until.map { now < $0 } ?? true }
}

/// Every check of `tenant` is refused until `until` (nil: until deleted).
public struct TenantThrottle: Sendable, Equatable {
    public var tenant: String
    public var reason: String?
    public var until: Timestamp?

    public init(tenant: String, reason: String?, until: Timestamp?) {
        self.tenant = tenant
        self.reason = reason
        self.until = until
    }

    public func applies(at now: Timestamp) -> Bool { until.map { now < $0 } ?? true }
}

/// A project's whole budget configuration.
public struct BudgetPolicy: Sendable, Equatable {
    public var plans: [String: BudgetPlan] = [:]
    public var tenants: [String: TenantBudget] = [:]
    /// The plan of a tenant without one; nil: such tenants are unlimited.
    public var defaultPlan: String?
    /// The project-wide ("org") monthly budget, watched by alerts, not enforced by the check.
    public var projectMonthlyNanos: Int64?
    /// Keyed by feature, then tenant ("" for the project-wide switch).
    public var switches: [String: [String: FeatureSwitch]] = [:]
    public var throttles: [String: TenantThrottle] = [:]

    public init() {}

    /// The plan a tenant is on (its own, else the default; nil when neither names an existing plan).
    public func planName(of tenant: String) -> String? {
        let name = tenants[tenant]?.plan ?? defaultPlan
        return name.flatMap { plans[$0] == nil ? nil : $0 }
    }

    /// The limits in force for a tenant: its plan's, overridden by its own.
    public func limits(of tenant: String) -> BudgetLimits {
        let base = planName(of: tenant).flatMap { plans[$0]?.limits } ?? BudgetLimits()
        return base.overridden(by: tenants[tenant]?.overrides ?? BudgetLimits())
    }

    /// The switch deciding `feature` for `tenant` at `now`: the tenant's own if one applies, else the project-wide.
    public func featureSwitch(_ feature: String, tenant: String, at now: Timestamp) -> FeatureSwitch? {
        guard let byTenant = switches[feature] else { return nil }
        if let own = byTenant[tenant], own.applies(at: now) { return own }
        if let all = byTenant[""], all.applies(at: now) { return all }
        return nil
    }
}
