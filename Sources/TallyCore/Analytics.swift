import Foundation

/// Tally's attribution analytics: a query value (what to group, filter and measure) independent of HTTP and SQL.

/// What observations can be grouped by.
public enum AnalyticsDimension: Sendable, Hashable {
    case tenant, feature, userId, sessionId, traceName, observationName, type, model, responseModel
    case promptName, promptVersion, environment, release, level, tag
    /// A metadata key: the observation's value, else its trace's.
    case metadata(MetadataKey)

    /// Names as the API spells them (`metadata.<key>` for a metadata key).
    public static let named: [String: AnalyticsDimension] = [
        "tenant": .tenant, "tenantId": .tenant, "feature": .feature, "userId": .userId, "sessionId": .sessionId,
        "traceName": .traceName, "name": .observationName, "observationName": .observationName, "type": .type,
        "model": .model, "responseModel": .responseModel, "promptName": .promptName, "promptVersion": .promptVersion,
        "environment": .environment, "release": .release, "level": .level, "tag": .tag, "tags": .tag,
    ]

    public static var allNames: [String] { named.keys.sorted() + ["metadata.<key>"] }

    /// Parses a dimension name; nil for an unknown one or a metadata key with characters outside `[A-Za-z0-9_.-]`.
    public init?(name: String) {
        if name.hasPrefix("metadata.") {
            guard let key = MetadataKey(String(name.dropFirst("metadata.".count))) else { return nil }
            self = .metadata(key)
        } else if let d = Self.named[name] {
            self = d
        } else {
            return nil
        }
    }

    public var name: String {
        switch self {
        case .tenant: return "tenant"
        case .feature: return "feature"
        case .userId: return "userId"
        case .sessionId: return "sessionId"
        case .traceName: return "traceName"
        case .observationName: return "observationName"
        case .type: return "type"
        case .model: return "model"
        case .responseModel: return "responseModel"
        case .promptName: return "promptName"
        case .promptVersion: return "promptVersion"
        case .environment: return "environment"
        case .release: return "release"
        case .level: return "level"
        case .tag: return "tag"
        case .metadata(let key): return "metadata.\(key.name)"
        }
    }
}

/// A metadata key a filter or grouping may name: 1–100 characters of `[A-Za-z0-9_.-]`. Only such keys reach SQL
/// (as bound values, never as SQL text); a value of this type is always one.
public struct MetadataKey: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let name: String

    /// Nil for a key outside the rule.
    public init?(_ name: String) {
        guard Self.isValid(name) else { return nil }
        self.name = name
    }

    /// A key written in the code (tests, defaults); an invalid literal is a programming error.
    public init(stringLiteral name: String) {
        precondition(Self.isValid(name), "invalid metadata key literal \(name)")
        self.name = name
    }

    public static func isValid(_ key: String) -> Bool {
        !key.isEmpty && key.count <= 100
            && key.unicodeScalars.allSatisfy { CharacterSet.metadataKey.contains($0) }
    }

    public static func < (a: Self, b: Self) -> Bool { a.name < b.name }
    public var description: String { name }
}

extension CharacterSet {
    static let metadataKey = CharacterSet(
        charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
}

/// Calendar buckets (UTC).
public enum TimeBucket: String, Sendable, CaseIterable {
    case hour, day, week, month
}

/// Measures a breakdown returns per group.
public enum Metric: String, Sendable, CaseIterable {
    case count, traces, inputTokens, outputTokens, totalTokens, inputCost, outputCost, totalCost
    case latencyP50, latencyP95, latencyP99, errorRate
    /// What caches saved (`CostEngine.cacheSavings`), USD; read from `observation` (the rollups do not keep it).
    case cacheSavings
}

/// Which observations a query covers. Every filter narrows (AND); list filters match any of their values.
public struct AnalyticsFilter: Sendable, Hashable {
    /// Observation start time ≥ from and < to.
    public var from: Timestamp?
    public var to: Timestamp?
    public var tenants: [String] = []
    public var features: [String] = []
    /// The trace must carry every one of these tags.
    public var tags: [String] = []
    public var promptName: String?
    public var promptVersion: Int?
    public var models: [String] = []
    public var environments: [String] = []
    public var userIDs: [String] = []
    public var traceNames: [String] = []
    public var types: [ObservationType] = []
    public var names: [String] = []
    /// metadata key → value (observation metadata, else trace metadata; compared as text).
    public var metadata: [MetadataKey: String] = [:]

    public init() {}
}

/// A grouped breakdown: up to three dimensions, optionally per time bucket.
public struct BreakdownQuery: Sendable, Hashable {
    public static let maxDimensions = 3
    public static let maxLimit = 10_000

    public var filter = AnalyticsFilter()
    public var dimensions: [AnalyticsDimension] = []
    public var bucket: TimeBucket?
    /// Sort key: a metric (descending unless `ascending`), or the bucket/dimensions in natural order when nil.
    public var sort: Metric?
    public var ascending = false
    public var limit = 1_000
    /// The measures the caller reads; empty means all. Asking only for additive ones (no `traces`, no latency
    /// percentiles) lets the store answer whole UTC days from its daily rollups.
    public var metrics: Set<Metric> = []

    public init() {}

    /// Every measure the query computes: those asked for plus the sort key.
    public var neededMetrics: Set<Metric> {
        let asked = metrics.isEmpty ? Set(Metric.allCases) : metrics
        return sort.map { asked.union([$0]) } ?? asked
    }

    public var needsLatency: Bool { !neededMetrics.isDisjoint(with: [.latencyP50, .latencyP95, .latencyP99]) }

    /// True when every needed measure is a sum the rollups keep (so daily partial sums add up to the answer).
    public var isAdditive: Bool {
        neededMetrics.isDisjoint(with: [.traces, .latencyP50, .latencyP95, .latencyP99, .cacheSavings])
    }
}

/// One group of a breakdown. Costs in USD (summed exactly as nano-USD), latencies in milliseconds.
public struct BreakdownRow: Sendable, Hashable {
    public var bucket: String?
    /// AnalyticsDimension values in query order; nil where the observation has none.
    public var keys: [String?]
    public var count: Int64
    public var traces: Int64
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var totalTokens: Int64
    public var inputCostNanos: Int64
    public var outputCostNanos: Int64
    public var totalCostNanos: Int64
    public var latencyP50: Double?
    public var latencyP95: Double?
    public var latencyP99: Double?
    public var errors: Int64
    /// nano-USD; 0 unless `cacheSavings` was asked for.
    public var cacheSavingsNanos: Int64 = 0

    public init(
        bucket: String?, keys: [String?], count: Int64, traces: Int64, inputTokens: Int64, outputTokens: Int64,
        totalTokens: Int64, inputCostNanos: Int64, outputCostNanos: Int64, totalCostNanos: Int64,
        latencyP50: Double?, latencyP95: Double?, latencyP99: Double?, errors: Int64
    ) {
        self.bucket = bucket
        self.keys = keys
        self.count = count
        self.traces = traces
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.totalTokens = totalTokens
        self.inputCostNanos = inputCostNanos
        self.outputCostNanos = outputCostNanos
        self.totalCostNanos = totalCostNanos
        self.latencyP50 = latencyP50
        self.latencyP95 = latencyP95
        self.latencyP99 = latencyP99
        self.errors = errors
    }

    public var errorRate: Double { count == 0 ? 0 : Double(errors) / Double(count) }
}

/// What makes a trace a successful action.
public enum SuccessRule: Sendable, Hashable {
    /// A score with this name on the trace (or one of its observations) with value ≥ `min`.
    case scoreAtLeast(name: String, min: Double)
    /// A score with this name whose (categorical) value equals `value`.
    case scoreEquals(name: String, value: String)
    /// The trace has no ERROR observation.
    case noError
}

/// Unit economics: spend divided by successful actions, per trace-level group.
public struct UnitEconomicsQuery: Sendable, Hashable {
    /// Trace-level dimensions only (tenant, feature, userId, sessionId, traceName, environment, release, tag,
    /// metadata keys).
    public static let allowedDimensions: Set<String> = [
        "tenant", "feature", "userId", "sessionId", "traceName", "environment", "release", "tag",
    ]
    public var filter = AnalyticsFilter()
    public var dimensions: [AnalyticsDimension] = []
    public var bucket: TimeBucket?
    public var success: SuccessRule = .noError
    public var limit = 1_000

    public init() {}
}

public struct UnitEconomicsRow: Sendable, Hashable {
    public var bucket: String?
    public var keys: [String?]
    public var traces: Int64
    public var successes: Int64
    public var totalCostNanos: Int64
    public var totalTokens: Int64

    public init(
        bucket: String?, keys: [String?], traces: Int64, successes: Int64, totalCostNanos: Int64, totalTokens: Int64
    ) {
        self.bucket = bucket
        self.keys = keys
        self.traces = traces
        self.successes = successes
        self.totalCostNanos = totalCostNanos
        self.totalTokens = totalTokens
    }
}
