import TallyCore

/// A tenant's budget as the API shows it: plan, limits in force, use, and what blocks it.
public struct BudgetStatus: Sendable {
    public var tenant: String
    public var plan: String?
    public var limits: BudgetLimits
    public var spend: TenantSpend
    public var requestsInLastMinute: Int
    public var throttle: TenantThrottle?
    /// The switches in force that name this tenant or every tenant.
    public var switches: [FeatureSwitch]

    public init(
        tenant: String, plan: String? = nil, limits: BudgetLimits, spend: TenantSpend, requestsInLastMinute: Int,
        throttle: TenantThrottle? = nil, switches: [FeatureSwitch]
    ) {
        self.tenant = tenant
        self.plan = plan
        self.limits = limits
        self.spend = spend
        self.requestsInLastMinute = requestsInLastMinute
        self.throttle = throttle
        self.switches = switches
    }
}

extension BudgetStatus {
    /// A tenant's status under `policy` at `now`: its plan and limits, `spend`, and the throttle and switches in
    /// force for it.
    public init(_ tenant: String, policy: BudgetPolicy, spend: TenantSpend, requests: Int, now: Timestamp) {
        let switches = policy.switches.values.flatMap { byTenant in
            [byTenant[tenant], byTenant[""]].compactMap { $0 }.filter { $0.applies(at: now) }
        }
        self.init(
            tenant: tenant, plan: policy.planName(of: tenant), limits: policy.limits(of: tenant), spend: spend,
            requestsInLastMinute: requests,
            throttle: policy.throttles[tenant].flatMap { $0.applies(at: now) ? $0 : nil },
            switches: switches.sorted { ($0.feature, $0.tenant ?? "") < ($1.feature, $1.tenant ?? "") })
    }

    /// Whether the budget list shows it: a limit in force or a throttle.
    public var isListed: Bool { !(limits.isUnlimited && throttle == nil) }
}
