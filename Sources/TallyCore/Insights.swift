import Foundation

/// Waste finders: patterns in a project's model calls that a known fix removes, each with the money it would save.
/// The store finds the candidates by SQL; the arithmetic that turns them into findings is here.

public enum InsightType: String, Sendable, CaseIterable, Codable {
    /// Short calls on a large model whose provider sells a far cheaper one.
    case modelDowngrade = "model_downgrade"
    /// Input per call grew week over week, or a few calls send far more than the median.
    case contextBloat = "context_bloat"
    /// Traces that run many model calls or repeat one step.
    case agentLoop = "agent_loop"
    /// Spend on calls that ended in an error.
    case retryWaste = "retry_waste"
    /// The same input asked again by the same tenant within the cache window.
    case cacheOpportunity = "cache_opportunity"
    /// Inputs embedded again.
    case embedReindex = "embed_reindex"
}

/// The thresholds of the finders (query parameters of the same names).
public struct InsightThresholds: Sendable, Hashable {
    /// Groups with fewer calls are not judged (downgrade, bloat).
    public var minCalls: Int64 = 20
    /// model_downgrade: the calls' 95th percentile output and input tokens are at most these…
    public var downgradeMaxOutputP95: Int64 = 50
    public var downgradeMaxInputP95: Int64 = 2_000
    /// …and the cheapest model of the provider would cost at least this many times less.
    public var downgradeRatio: Double = 5
    /// context_bloat: mean input per call up by this fraction over the week before…
    public var bloatGrowth: Double = 0.30
    /// …or the 95th percentile input at least this many times the median.
    public var bloatSpread: Double = 4
    /// agent_loop: a trace with this many model calls, or one observation name repeated this many times, is capped
    /// there: the model calls after the cap are the waste.
    public var loopCalls: Int64 = 10
    public var loopRepeats: Int64 = 5
    /// cache_opportunity: a repeat within this window would have been a cache hit (µs).
    public var cacheWindowMicros: Int64 = 3_600_000_000

    public init() {}
}

public struct InsightQuery: Sendable, Hashable {
    public var from: Timestamp
    public var to: Timestamp
    public var environments: [String] = []
    /// Only these tenants' calls (all when empty).
    public var tenants: [String] = []
    public var thresholds = InsightThresholds()
    /// Example traces per finding.
    public var examples = 3
    /// The most findings returned (the most valuable).
    public var limit = 100

    public init(from: Timestamp, to: Timestamp) {
        self.from = from
        self.to = to
    }

    /// The range's length, µs (at least 1).
    public var lengthMicros: Int64 { max(1, to.microseconds - from.microseconds) }

    /// The analytics filter of the same calls: the range, environments and tenants.
    public var filter: AnalyticsFilter {
        var f = AnalyticsFilter()
        (f.from, f.to, f.environments, f.tenants) = (from, to, environments, tenants)
        return f
    }
}

/// Who a finding is about; nil fields do not apply.
public struct InsightSubject: Sendable, Hashable {
    public var tenant: String?
    public var feature: String?
    public var promptName: String?
    public var promptVersion: Int?
    public var model: String?

    public init(
        tenant: String? = nil, feature: String? = nil, promptName: String? = nil, promptVersion: Int? = nil,
        model: String? = nil
    ) {
        self.tenant = tenant
        self.feature = feature
        self.promptName = promptName
        self.promptVersion = promptVersion
        self.model = model
    }
}

public struct Finding: Sendable, Hashable {
    public var type: InsightType
    public var subject: InsightSubject
    /// The numbers behind the finding, by name (tokens, calls, nano-USD amounts end in `Nanos`).
    public var evidence: [String: JSONValue]
    /// What the fix would have saved over the evidence's period, nano-USD.
    public var wasteNanos: Int64
    /// `wasteNanos` over a 30-day month.
    public var monthlyNanos: Int64
    public var traces: [String]

    public init(
        type: InsightType, subject: InsightSubject, evidence: [String: JSONValue], wasteNanos: Int64,
        periodMicros: Int64, traces: [String]
    ) {
        self.type = type
        self.subject = subject
        self.evidence = evidence
        self.wasteNanos = wasteNanos
        self.monthlyNanos = Insights.monthly(wasteNanos, periodMicros: periodMicros)
        self.traces = traces
    }
}

public enum Insights {
    public static let monthMicros: Int64 = 30 * 86_400_000_000
    public static let weekMicros: Int64 = 7 * 86_400_000_000

    /// `nanos` spent over `periodMicros` scaled to 30 days, half away from zero (in 128 bits; saturates).
    public static func monthly(_ nanos: Int64, periodMicros: Int64) -> Int64 {
        let period = Int128(max(1, periodMicros))
        let product = Int128(nanos) * Int128(monthMicros)
        let rounded = product >= 0 ? (product + period / 2) / period : (product - period / 2) / period
        return Int64(clamping: rounded)
    }

    /// The cheapest model in `candidates` with the same provider as `current` that prices input and output
    /// tokens (not totals), by the cost of `sums` priced as each; nil when none is cheaper.
    public static func cheapestAlternative(
        to current: ModelPrice, sums: WhatIfSums, candidates: [ModelPrice]
    ) -> (model: ModelPrice, nanos: Int64)? {
        guard let provider = current.provider else { return nil }
        var best: (model: ModelPrice, nanos: Int64)?
        for m in candidates
        where m.provider == provider && m.id != current.id && m.unit == "TOKENS" && m.prices[.total] == nil
            && m.prices[.input] != nil && m.prices[.output] != nil
        {
            guard let cost = try? WhatIf.price(sums, as: m) else { continue }
            if best.map({ cost < $0.nanos || (cost == $0.nanos && m.id < $0.model.id) }) ?? true { best = (m, cost) }
        }
        return best
    }

    /// The input cost that mean input per call above last week's adds this week: this week's input cost ×
    /// (1 − last week's mean / this week's mean), nano-USD rounded down; 0 when the mean did not grow.
    public static func bloatGrowthNanos(
        inputCostNanos: Int64, calls: Int64, inputTokens: Int64, previousCalls: Int64, previousInputTokens: Int64
    ) -> Int64 {
        guard calls > 0, inputTokens > 0, previousCalls > 0 else { return 0 }
        // cost × (1 − (pt/pc) / (t/c)) = cost × (pc·t − pt·c) / (pc·t)
        let numerator = Int128(previousCalls) * Int128(inputTokens) - Int128(previousInputTokens) * Int128(calls)
        guard numerator > 0 else { return 0 }
        let denominator = Int128(previousCalls) * Int128(inputTokens)
        return Int64(clamping: Int128(inputCostNanos) * numerator / denominator)
    }

    /// How much input tokens per call grew over the previous period (0.5: half as much again), in floating point:
    /// token sums times call counts can pass Int64. Callers check that both periods have calls and tokens.
    public static func growth(calls: Int64, tokens: Int64, previousCalls: Int64, previousTokens: Int64) -> Double {
        (Double(tokens) / Double(calls)) / (Double(previousTokens) / Double(previousCalls)) - 1
    }

    /// Input tokens above which a call is an outlier: `spread` × `median`, rounded down; Int64.max past its range.
    public static func outlierLimit(median: Int64, spread: Double) -> Int64 {
        Int64(exactly: (spread * Double(median)).rounded(.down)) ?? .max
    }

    /// Findings, most valuable first (then by type and subject), at most `limit`.
    public static func ranked(_ findings: [Finding], limit: Int) -> [Finding] {
        Array(
            findings.sorted { a, b in
                if a.monthlyNanos != b.monthlyNanos { return a.monthlyNanos > b.monthlyNanos }
                if a.type != b.type { return a.type.rawValue < b.type.rawValue }
                return "\(a.subject)" < "\(b.subject)"
            }.prefix(limit))
    }
}
