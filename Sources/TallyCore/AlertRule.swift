/// The kinds of cost alert, each with its parameters and their defaults (the cost-monitoring guide's numbers).
public enum AlertRuleType: String, Sendable, CaseIterable {
    /// A tenant's spend today so far > `factor` × its mean daily spend over the previous `baselineDays` full days,
    /// and ≥ `minUsd`.
    case tenantSpike = "tenant_spike"
    /// Per feature: tokens per successful trace over the last 7 days up ≥ `increase` vs the 7 days before.
    case featureRegression = "feature_regression"
    /// Per feature: generation error rate over the last `windowMinutes` > `errorRate`, while its tokens exceed the
    /// previous window's.
    case errorBurn = "error_burn"
    /// Per tenant with a limit, and for the project budget: spend crosses each of `thresholds` of the period's limit.
    case budgetThreshold = "budget_threshold"
    /// Per tenant: embedding tokens > generation tokens over `windowHours`, above `minTokens`.
    case embedSurge = "embed_surge"
    /// Generic: a breakdown `metric` per `groupBy` over `window` compared with `op` `value`.
    case threshold

    /// One parameter: its JSON kind, allowed range, and default (nil: required, or optional when `optional`).
    public struct Param: Sendable {
        public enum Kind: Sendable {
            case number(ClosedRange<Double>)
            case integer(ClosedRange<Int64>)
            case boolean
            case string([String]?)
            case numbers(ClosedRange<Double>)
            case strings
            case object
        }
        public var name: String
        public var kind: Kind
        public var defaultValue: JSONValue?
        public var optional = false
    }

    public var params: [Param] {
        switch self {
        case .tenantSpike:
            return [
                Param(name: "factor", kind: .number(1...1_000), defaultValue: 2),
                Param(name: "baselineDays", kind: .integer(1...90), defaultValue: 7),
                Param(name: "minUsd", kind: .number(0...1e9), defaultValue: 1),
            ]
        case .featureRegression:
            return [
                Param(name: "increase", kind: .number(0.01...1_000), defaultValue: 0.4),
                Param(name: "minTraces", kind: .integer(1...1_000_000), defaultValue: 20),
                Param(name: "successScore", kind: .string(nil), defaultValue: nil, optional: true),
            ]
        case .errorBurn:
            return [
                Param(name: "errorRate", kind: .number(0...1), defaultValue: 0.05),
                Param(name: "windowMinutes", kind: .integer(1...1_440), defaultValue: 15),
                Param(name: "minCalls", kind: .integer(1...1_000_000), defaultValue: 20),
            ]
        case .budgetThreshold:
            return [
                Param(name: "thresholds", kind: .numbers(0.01...10), defaultValue: [0.8, 1.0]),
                Param(name: "pace", kind: .boolean, defaultValue: true),
            ]
        case .embedSurge:
            return [
                Param(name: "windowHours", kind: .integer(1...720), defaultValue: 24),
                Param(name: "minTokens", kind: .integer(0...1_000_000_000_000), defaultValue: 10_000),
            ]
        case .threshold:
            return [
                Param(name: "metric", kind: .string(AlertThreshold.metrics), defaultValue: nil),
                Param(name: "groupBy", kind: .string(AlertThreshold.dimensions), defaultValue: nil),
                Param(name: "window", kind: .string(AlertThreshold.windows), defaultValue: "24h"),
                Param(name: "op", kind: .string([">", ">=", "<", "<="]), defaultValue: ">"),
                Param(name: "value", kind: .number(-1e15...1e15), defaultValue: nil),
                Param(name: "filters", kind: .object, defaultValue: [:]),
                Param(name: "exceptPlans", kind: .strings, defaultValue: []),
            ]
        }
    }
}

/// The generic `threshold` rule's vocabulary: sums the rollups hold, the dimensions they are kept by, and windows.
public enum AlertThreshold {
    public static let metrics = [
        "count", "errors", "inputTokens", "outputTokens", "totalTokens", "inputCost", "outputCost", "totalCost",
    ]
    public static let dimensions = ["tenant", "feature", "model", "environment"]
    /// Rolling windows ending now, and the current UTC day and month.
    public static let windows = ["1h", "24h", "7d", "30d", "today", "month"]
    /// Filters a rule may narrow the breakdown with (each an exact value).
    public static let filters = ["tenantId", "feature", "model", "environment"]
}

/// What a firing does besides notifying: it sets the throttle or kill switch the budget check enforces.
public enum AlertAction: Sendable, Equatable {
    /// Throttles the firing's tenant for `minutes`.
    case throttleTenant(minutes: Int)
    /// Switches `feature` off (for the firing's tenant when it has one, else for every tenant), until deleted.
    case disableFeature(feature: String)

    public var json: JSONValue {
        switch self {
        case .throttleTenant(let minutes): return ["type": "throttle_tenant", "minutes": .int(Int64(minutes))]
        case .disableFeature(let feature): return ["type": "disable_feature", "feature": .string(feature)]
        }
    }
}

/// A stored rule.
public struct AlertRule: Sendable, Equatable {
    public var id: String
    public var name: String
    public var type: AlertRuleType
    /// Every parameter of the type, defaults filled in.
    public var params: [String: JSONValue]
    /// Channel names.
    public var channels: [String]
    public var actions: [AlertAction]
    public var enabled: Bool

    public init(
        id: String, name: String, type: AlertRuleType, params: [String: JSONValue], channels: [String],
        actions: [AlertAction], enabled: Bool
    ) {
        self.id = id
        self.name = name
        self.type = type
        self.params = params
        self.channels = channels
        self.actions = actions
        self.enabled = enabled
    }

    public func number(_ name: String) -> Double { params[name]?.doubleValue ?? 0 }
    public func integer(_ name: String) -> Int64 {
        if case .int(let i)? = params[name] { return i }
        return Int64(params[name]?.doubleValue ?? 0)
    }
    public func string(_ name: String) -> String? { params[name]?.stringValue }
}

/// One subject a rule holds for in an evaluation: who (tenant and/or feature), the measured value against the
/// threshold, and a sentence for people.
public struct AlertFinding: Sendable, Equatable {
    /// Identifies the subject within the rule (with the period, for rules that fire once per period).
    public var subjectKey: String
    public var tenant: String?
    public var feature: String?
    public var value: Double
    public var threshold: Double
    public var message: String
    /// Extra fields for the webhook payload (e.g. the prompt versions of a regression).
    public var details: [String: JSONValue]

    public init(
        subjectKey: String, tenant: String? = nil, feature: String? = nil, value: Double, threshold: Double,
        message: String, details: [String: JSONValue] = [:]
    ) {
        self.subjectKey = subjectKey
        self.tenant = tenant
        self.feature = feature
        self.value = value
        self.threshold = threshold
        self.message = message
        self.details = details
    }

    /// `{"tenantId"?, "feature"?}`.
    public var subject: JSONValue {
        var o: [String: JSONValue] = [:]
        if let tenant { o["tenantId"] = .string(tenant) }
        if let feature { o["feature"] = .string(feature) }
        return .object(o)
    }
}
