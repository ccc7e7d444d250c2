import Foundation

/// What-if pricing: the usage of a set of model calls priced as another model, next to what the calls cost. The
/// store sums usage per key in SQL; pricing the sums happens here, exactly, in integer pico- and nano-USD.

/// Which calls to reprice and how to group them.
public struct WhatIfQuery: Sendable, Hashable {
    public static let maxDimensions = 2
    public static let maxGroups = 10_000

    /// The calls: the breakdown filters. Without a type filter, model calls (GENERATION and EMBEDDING).
    public var filter = AnalyticsFilter()
    public var dimensions: [AnalyticsDimension] = []
    /// The model name to price the usage as (matched like a call's model: a project model first, then built-in).
    public var model: String

    public init(model: String) { self.model = model }

    /// The types counted: the filter's, else model calls.
    public var types: [ObservationType] { filter.types.isEmpty ? [.generation, .embedding] : filter.types }
}

/// The summed usage and stored figures of one group of calls, as the store reads them. Only calls that have a cost
/// are summed (a call without one cannot be compared); they are counted in `uncostedCalls`.
public struct WhatIfSums: Sendable, Hashable {
    /// Dimension values in query order; nil where the calls have none.
    public var keys: [String?]
    public var calls: Int64 = 0
    public var uncostedCalls: Int64 = 0
    public var errors: Int64 = 0
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var totalTokens: Int64 = 0
    /// The stored cost of the calls, nano-USD.
    public var costNanos: Int64 = 0
    /// Units per usage key (the calls' own key names, `total` excluded), summed over the calls.
    public var usage: [String: Int64] = [:]
    /// Σ per call of its `total` units, or of all its units when it reports no `total`: what a model priced on
    /// totals bills (as `CostEngine` does per call).
    public var totalUnits: Int64 = 0

    public init(keys: [String?]) { self.keys = keys }
}

/// One group's answer: its sums, and the cost of the same usage priced as the target model.
public struct WhatIfRow: Sendable, Hashable {
    public var sums: WhatIfSums
    /// nano-USD.
    public var whatIfNanos: Int64

    /// What-if minus actual, nano-USD (negative: the target model is cheaper).
    public var differenceNanos: Int64 { whatIfNanos &- sums.costNanos }
    /// The difference as a percentage of the actual cost; nil when the calls cost nothing.
    public var differencePercent: Double? {
        sums.costNanos == 0 ? nil : Double(differenceNanos) / Double(sums.costNanos) * 100
    }
}

/// What is known of the quality of each model that ran on one feature: its calls that have a cost (as the what-if
/// compares), their error rate, mean scores.
public struct ModelQuality: Sendable, Hashable {
    public var model: String
    /// True for the what-if target (by name, or priced as the same model).
    public var isTarget: Bool
    public var calls: Int64
    public var errors: Int64
    /// Score name → mean of the numeric scores given to these calls (or to their traces).
    public var scores: [String: Double]

    public init(model: String, isTarget: Bool, calls: Int64, errors: Int64, scores: [String: Double]) {
        self.model = model
        self.isTarget = isTarget
        self.calls = calls
        self.errors = errors
        self.scores = scores
    }

    public var errorRate: Double { calls == 0 ? 0 : Double(errors) / Double(calls) }
}

public enum WhatIf {
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// The target names no model this project prices.
        case unknownModel(String)
        /// A priced sum past Int64 nano-USD.
        case outOfRange(String)

        public var description: String {
            switch self {
            case .unknownModel(let name):
                "as: no model prices \"\(name.prefix(80))\" (GET /api/public/models lists them)"
            case .outOfRange(let key): "the usage of \(key) priced as the target model leaves the 64-bit range"
            }
        }
    }

    /// The cost of `sums`' usage at `model`'s default prices, nano-USD: per usage key, the summed units × the key's
    /// price (a key the model does not price falls back as `CostEngine` does: cached input at the input price, …),
    /// rounded half away from zero once per key; a model priced on totals bills `totalUnits`. Tiers are not applied:
    /// a tier depends on each call (its service tier, its context length), and the sums no longer tell.
    public static func price(_ sums: WhatIfSums, as model: ModelPrice) throws(Failure) -> Int64 {
        if let totalPrice = model.prices[.total] {
            return try nanos(units: sums.totalUnits, picos: totalPrice, key: "total")
        }
        var total: Int64 = 0
        for (key, units) in sums.usage.sorted(by: { $0.key < $1.key }) {
            guard let price = CostEngine.unitPrice(usageKey: key, prices: model.prices) else { continue }
            let (sum, overflow) = total.addingReportingOverflow(try nanos(units: units, picos: price, key: key))
            guard !overflow else { throw .outOfRange(key) }
            total = sum
        }
        return total
    }

    /// units × picos / 1000, half away from zero, computed in 128 bits.
    static func nanos(units: Int64, picos: Picos, key: String) throws(Failure) -> Int64 {
        let product = Int128(units) * Int128(picos)
        let rounded = product >= 0 ? (product + 500) / 1000 : (product - 500) / 1000
        guard let out = Int64(exactly: rounded) else { throw .outOfRange(key) }
        return out
    }

    /// Each group of `sums` priced as `model`.
    public static func rows(_ sums: [WhatIfSums], as model: ModelPrice) throws(Failure) -> [WhatIfRow] {
        var out: [WhatIfRow] = []
        for s in sums { out.append(WhatIfRow(sums: s, whatIfNanos: try price(s, as: model))) }
        return out
    }

    /// The sum of the groups (each figure summed exactly; nil when a sum leaves Int64).
    public static func total(_ rows: [WhatIfRow]) -> WhatIfRow? {
        var s = WhatIfSums(keys: [])
        var whatIf: Int64 = 0
        for row in rows {
            let r = row.sums
            for (key, units) in r.usage {
                guard let v = s.usage[key, default: 0].addingExactly(units) else { return nil }
                s.usage[key] = v
            }
            guard let calls = s.calls.addingExactly(r.calls),
                let uncosted = s.uncostedCalls.addingExactly(r.uncostedCalls),
                let errors = s.errors.addingExactly(r.errors), let it = s.inputTokens.addingExactly(r.inputTokens),
                let ot = s.outputTokens.addingExactly(r.outputTokens),
                let tt = s.totalTokens.addingExactly(r.totalTokens),
                let cost = s.costNanos.addingExactly(r.costNanos), let units = s.totalUnits.addingExactly(r.totalUnits),
                let w = whatIf.addingExactly(row.whatIfNanos)
            else { return nil }
            (s.calls, s.uncostedCalls, s.errors, s.inputTokens, s.outputTokens, s.totalTokens) = (
                calls, uncosted, errors, it, ot, tt
            )
            (s.costNanos, s.totalUnits, whatIf) = (cost, units, w)
        }
        return WhatIfRow(sums: s, whatIfNanos: whatIf)
    }
}

extension Int64 {
    /// `self + other`, or nil when the sum leaves Int64.
    public func addingExactly(_ other: Int64) -> Int64? {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? nil : sum
    }
}

/// The models that ran on one feature (nil: calls without one), the what-if target first.
public struct FeatureQuality: Sendable, Hashable {
    public var feature: String?
    public var models: [ModelQuality]

    public init(feature: String?, models: [ModelQuality]) {
        self.feature = feature
        self.models = models
    }
}

/// A what-if answer: the target model as matched, each group, their total, and for each feature where the target
/// ran next to the repriced calls' models, what is known of each model's quality.
public struct WhatIfAnswer: Sendable, Hashable {
    public var target: ModelPrice
    public var rows: [WhatIfRow]
    public var total: WhatIfRow
    public var quality: [FeatureQuality]
    /// True when more groups matched than `WhatIfQuery.maxGroups` (the total still covers every call).
    public var truncated: Bool

    public init(target: ModelPrice, rows: [WhatIfRow], total: WhatIfRow, quality: [FeatureQuality], truncated: Bool) {
        self.target = target
        self.rows = rows
        self.total = total
        self.quality = quality
        self.truncated = truncated
    }
}
