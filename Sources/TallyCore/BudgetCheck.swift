/// The UTC periods budgets count over: a budget day runs from 00:00 UTC, a month from the 1st, 00:00 UTC.
public enum BudgetPeriod {
    static let microsPerDay: Int64 = 86_400_000_000

    /// The start of the UTC day holding `t` (µs), as the rollups' `day` key.
    public static func dayStart(_ t: Timestamp) -> Int64 {
        let days = t.microseconds >= 0 ? t.microseconds / microsPerDay : (t.microseconds + 1) / microsPerDay - 1
        return days * microsPerDay
    }

    public static func nextDayStart(_ t: Timestamp) -> Int64 { dayStart(t) + microsPerDay }

    /// The start of the UTC calendar month holding `t` (µs).
    public static func monthStart(_ t: Timestamp) -> Int64 {
        let (y, m, _) = Timestamp.civil(fromDays: Int(dayStart(t) / microsPerDay))
        return Int64(Timestamp.daysFromCivil(year: y, month: m, day: 1)) * microsPerDay
    }

    public static func nextMonthStart(_ t: Timestamp) -> Int64 {
        let (y, m, _) = Timestamp.civil(fromDays: Int(dayStart(t) / microsPerDay))
        let (ny, nm) = m == 12 ? (y + 1, 1) : (y, m + 1)
        return Int64(Timestamp.daysFromCivil(year: ny, month: nm, day: 1)) * microsPerDay
    }
}

/// What a tenant has used, as the check sees it (nano-USD): committed spend of the period plus the estimates of
/// holds not yet replaced by their trace's real cost.
public struct TenantSpend: Sendable, Equatable {
    public var dayNanos: Int64 = 0
    public var monthNanos: Int64 = 0
    public var heldNanos: Int64 = 0

    public init(dayNanos: Int64 = 0, monthNanos: Int64 = 0, heldNanos: Int64 = 0) {
        self.dayNanos = dayNanos
        self.monthNanos = monthNanos
        self.heldNanos = heldNanos
    }
}

/// Why a check was refused; the raw values are the API's `reason`.
public enum BudgetRefusal: String, Sendable {
    case featureDisabled = "feature_disabled"
    case throttled
    case monthlyBudget = "monthly_budget"
    case dailyBudget = "daily_budget"
    case rateLimit = "rate_limit"
}

public struct BudgetVerdict: Sendable, Equatable {
    public var refusal: BudgetRefusal?
    /// Whole seconds until the refusal can end (the period resets, the throttle or switch ends, the oldest request
    /// leaves the minute); nil when nothing scheduled ends it.
    public var retryAfterSeconds: Int?
    public var message: String?

    public var allowed: Bool { refusal == nil }

    public static let allowed = BudgetVerdict(refusal: nil, retryAfterSeconds: nil, message: nil)
}

/// The rule the check endpoint applies, in this order: a switched-off feature, a throttle, the monthly budget, the
/// daily budget, the requests-per-minute limit. A budget refuses when what is used (spent + held) has reached the
/// limit, or when adding `estimateNanos` would pass it.
public enum BudgetCheck {
    public static func evaluate(
        policy: BudgetPolicy, tenant: String, feature: String?, estimateNanos: Int64, spend: TenantSpend,
        requestsInLastMinute: Int, oldestRequestInMinute: Timestamp?, now: Timestamp
    ) -> BudgetVerdict {
        if let feature, let off = policy.featureSwitch(feature, tenant: tenant, at: now), !off.enabled {
            return BudgetVerdict(
                refusal: .featureDisabled, retryAfterSeconds: off.until.map { seconds(from: now, to: $0.microseconds) },
                message: "feature \(feature) is disabled" + (off.reason.map { ": \($0)" } ?? ""))
        }
        if let throttle = policy.throttles[tenant], throttle.applies(at: now) {
            return BudgetVerdict(
                refusal: .throttled, retryAfterSeconds: throttle.until.map { seconds(from: now, to: $0.microseconds) },
                message: "tenant \(tenant) is throttled" + (throttle.reason.map { ": \($0)" } ?? ""))
        }
        let limits = policy.limits(of: tenant)
        if let limit = limits.monthlyNanos, exceeds(spend.monthNanos, spend.heldNanos, estimateNanos, limit) {
            return BudgetVerdict(
                refusal: .monthlyBudget, retryAfterSeconds: seconds(from: now, to: BudgetPeriod.nextMonthStart(now)),
                message: "tenant \(tenant) has used its monthly budget")
        }
        if let limit = limits.dailyNanos, exceeds(spend.dayNanos, spend.heldNanos, estimateNanos, limit) {
            return BudgetVerdict(
                refusal: .dailyBudget, retryAfterSeconds: seconds(from: now, to: BudgetPeriod.nextDayStart(now)),
                message: "tenant \(tenant) has used its daily budget")
        }
        if let perMinute = limits.requestsPerMinute, requestsInLastMinute >= perMinute {
            let frees = (oldestRequestInMinute?.microseconds ?? now.microseconds) + SlidingMinute.windowMicros
            return BudgetVerdict(
                refusal: .rateLimit, retryAfterSeconds: seconds(from: now, to: frees),
                message:
                    "tenant \(tenant) made \(requestsInLastMinute) requests in the last minute (limit \(perMinute))")
        }
        return .allowed
    }

    /// used + held ≥ limit, or used + held + estimate > limit (saturating: no overflow whatever the inputs).
    static func exceeds(_ used: Int64, _ held: Int64, _ estimate: Int64, _ limit: Int64) -> Bool {
        let inUse = used.addingSaturating(held)
        return inUse >= limit || inUse.addingSaturating(estimate) > limit
    }

    /// Whole seconds from `now` to `micros`, rounded up, at least 1.
    static func seconds(from now: Timestamp, to micros: Int64) -> Int {
        let delta = micros.subtractingReportingOverflow(now.microseconds)
        guard !delta.overflow else { return Int.max }
        return Int(max(1, (delta.partialValue + 999_999) / 1_000_000))
    }
}

/// A hold: budget a check sets aside for the call it allowed, until a costed observation of the hold's trace
/// commits or the hold expires.
public enum SpendHold {
    /// How long a hold counts after its last addition when no costed observation of its trace arrives (120 s).
    public static let lifetimeMicros: Int64 = 120_000_000
}

/// The allowed checks of one tenant in the last 60 s (a sliding window), for `requestsPerMinute`. Keeps at most
/// `capacity` timestamps (the limit): more are never needed to decide.
public struct SlidingMinute: Sendable {
    public static let windowMicros: Int64 = 60_000_000
    private var times: [Int64] = []
    private var head = 0

    public init() {}

    /// Forgets requests older than the window.
    public mutating func expire(at now: Timestamp) {
        let cutoff = now.microseconds - Self.windowMicros
        while head < times.count, times[head] <= cutoff { head += 1 }
        if head > 64, head * 2 > times.count {
            times.removeFirst(head)
            head = 0
        }
    }

    public var count: Int { times.count - head }
    public var oldest: Timestamp? { head < times.count ? Timestamp(microseconds: times[head]) : nil }

    /// Records one request; keeps at most `capacity` (the newest).
    public mutating func record(at now: Timestamp, capacity: Int) {
        times.append(now.microseconds)
        while count > max(capacity, 1) { head += 1 }
    }
}
