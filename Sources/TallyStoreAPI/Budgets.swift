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
