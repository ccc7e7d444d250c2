import Foundation
import TallyResources

/// Which model name prices a generation that names both the model asked for and the one that answered.
public enum PriceBy: String, Sendable, CaseIterable, Codable {
    /// Bill the requested model (a fallback that executed is the provider's business) — the default.
    case requested
    /// Bill the model that answered (`gen_ai.response.model`).
    case response
}

/// The models a project is priced with: its own models first, then (unless switched off) the built-in list.
public struct PriceTable: Sendable {
    public var projectModels: [ModelPrice]
    public var builtinModels: [ModelPrice]
    public var builtinEnabled: Bool

    public init(
        projectModels: [ModelPrice] = [], builtinModels: [ModelPrice] = BuiltinPrices.models,
        builtinEnabled: Bool = true
    ) {
        self.projectModels = projectModels
        self.builtinModels = builtinModels
        self.builtinEnabled = builtinEnabled
    }

    /// The model that prices `modelName` at `time`: among the models whose pattern matches the whole name and whose
    /// `startDate` is not after `time`, a project model beats a built-in one, then the latest `startDate` wins.
    public func match(_ modelName: String, at time: Timestamp) -> ModelPrice? {
        let (own, builtin) = cache.candidates(modelName) { matching(modelName) }
        func best(_ models: [ModelPrice]) -> ModelPrice? {
            models.filter { model in model.startDate.map { $0 <= time } ?? true }
                .max { ($0.startDate?.microseconds ?? .min) < ($1.startDate?.microseconds ?? .min) }
        }
        if let hit = best(own) { return hit }
        return builtinEnabled ? best(builtin) : nil
    }

    /// Matches each of `names` now, so a later `match` for them is a dictionary lookup. The store calls this
    /// before it takes the single writer: pattern matching never runs inside another project's wait.
    public func prepare(names: some Sequence<String>) {
        for name in names where !name.isEmpty {
            _ = cache.candidates(name) { matching(name) }
        }
    }

    private func matching(_ name: String) -> ([ModelPrice], [ModelPrice]) {
        (
            projectModels.filter { PatternCache.shared.matchesWhole($0.matchPattern, name) },
            builtinModels.filter { PatternCache.shared.matchesWhole($0.matchPattern, name) }
        )
    }

    /// Model name → the models whose pattern matches it, so each distinct name is matched against the list once
    /// per table: the name index. A table lives as long as the project's models and settings are unchanged.
    private let cache = MatchCache()

    final class MatchCache: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [String: ([ModelPrice], [ModelPrice])] = [:]

        func candidates(_ name: String, compute: () -> ([ModelPrice], [ModelPrice])) -> ([ModelPrice], [ModelPrice]) {
            lock.lock()
            defer { lock.unlock() }
            if let hit = entries[name] { return hit }
            let value = compute()
            if entries.count < 10_000 { entries[name] = value }
            return value
        }
    }
}

/// The outcome of pricing one observation: cost per usage key in nano-USD, and what was used to get it.
public struct PricedCost: Sendable, Hashable {
    /// Cost per usage key (the observation's own key names) in nano-USD, each rounded half away from zero.
    public var costNanos: [String: Int64]
    /// The sum of the keys, or total units × the `total` price for models priced on totals.
    public var totalNanos: Int64
    public var modelID: String
    public var tierName: String?
    /// USD per unit, per usage key, as applied.
    public var unitPrices: [String: Double]

    /// Cost per key in USD, with `total`.
    public var costDetails: CostDetails {
        var out = costNanos.mapValues { Money.usd(nanos: $0) }
        out["total"] = Money.usd(nanos: totalNanos)
        return out
    }
}

/// Infers the cost of observations that came without one (COMPAT §5): cost per usage key = units × the price of
/// that key in the matched model's applicable tier. Arithmetic is exact: prices are integer pico-USD, costs are
/// rounded once per key to nano-USD, and totals are sums of those integers.
public enum CostEngine {
    /// A priced cost past `NumericLimits.maxCostNanos` (units × price out of any real range).
    public struct LimitExceeded: Error, Sendable, Hashable, CustomStringConvertible {
        public var modelID: String
        public var usageKey: String
        public var description: String {
            "usage.\(usageKey) priced by \(modelID) exceeds the limit of \(Int64(NumericLimits.maxCostUSD)) USD per "
                + "observation"
        }
    }

    /// nil when nothing can be priced (no model name, no usage, no matching model, or no priced key).
    /// Throws `LimitExceeded` when the priced cost would pass `NumericLimits.maxCostNanos`.
    public static func price(_ o: Observation, table: PriceTable, priceBy: PriceBy = .requested) throws(LimitExceeded)
        -> PricedCost?
    {
        guard !o.usage.isEmpty else { return nil }
        let names = priceBy == .requested ? [o.model, o.responseModel] : [o.responseModel, o.model]
        for case let name? in names where !name.isEmpty {
            if let model = table.match(name, at: o.startTime) { return try price(o, model: model) }
        }
        return nil
    }

    static func price(_ o: Observation, model: ModelPrice) throws(LimitExceeded) -> PricedCost? {
        let tier = model.tiers.first { tier in tier.conditions.allSatisfy { holds($0, for: o) } }
        let prices = tier?.prices ?? model.prices
        var costs: [String: Int64] = [:]
        var unitPrices: [String: Double] = [:]
        if let totalPrice = prices[.total] {
            let units = o.usage["total"] ?? o.usage.values.saturatingSum()
            let total = try nanos(units: units, picos: totalPrice, model: model.id, key: "total")
            unitPrices["total"] = Money.usd(picos: totalPrice)
            return PricedCost(
                costNanos: [:], totalNanos: total, modelID: model.id, tierName: tier?.name, unitPrices: unitPrices)
        }
        var total: Int64 = 0
        for (usageKey, units) in o.usage where usageKey != "total" {
            guard let price = unitPrice(usageKey: usageKey, prices: prices) else { continue }
            let cost = try nanos(units: units, picos: price, model: model.id, key: usageKey)
            costs[usageKey] = cost
            unitPrices[usageKey] = Money.usd(picos: price)
            total += cost  // each ≤ maxCostNanos (10^15) and ≤ 100 keys: cannot overflow
            guard total <= NumericLimits.maxCostNanos else { throw LimitExceeded(modelID: model.id, usageKey: "total") }
        }
        guard !costs.isEmpty else { return nil }
        return PricedCost(
            costNanos: costs, totalNanos: total, modelID: model.id, tierName: tier?.name, unitPrices: unitPrices)
    }

    /// The price of one usage key (`total` excluded) in `prices`: its price key's, else its fallback's (`PriceKey.fallback`);
    /// nil for a key no price applies to.
    public static func unitPrice(usageKey: String, prices: [PriceKey: Picos]) -> Picos? {
        guard var key = PriceKey(usageKey: usageKey), key != .total else { return nil }
        while prices[key] == nil, let fallback = key.fallback { key = fallback }
        return prices[key]
    }

    /// What a cache saved `o`, in nano-USD: its usage priced at list price — cache-read units billed as plain input —
    /// minus what it cost (`o.cost`), never below 0. Only for calls that read a cache (cache-read units) or say a
    /// cache answered them (`isCacheHit`); nil otherwise, or when no list price is known for the model.
    public static func cacheSavings(_ o: Observation, table: PriceTable, priceBy: PriceBy) -> Int64? {
        let cacheRead = o.usage.filter { PriceKey(usageKey: $0.key) == .cacheRead }
        guard o.isCacheHit || cacheRead.values.contains(where: { $0 > 0 }) else { return nil }
        var list = o
        list.providedCost = [:]
        for (key, units) in cacheRead {
            list.usage[key] = nil
            list.usage["input", default: 0] = list.usage["input", default: 0].addingSaturating(units)
        }
        guard let priced = try? price(list, table: table, priceBy: priceBy) else { return nil }
        let actual = o.totals.totalCost.map(Money.nanos(usd:)) ?? 0
        return max(0, priced.totalNanos.subtractingSaturating(actual))
    }

    /// units × picos → nano-USD, half away from zero. Throws when the product leaves Int64 or the cost passes
    /// `NumericLimits.maxCostNanos`; never traps.
    static func nanos(units: Int64, picos: Picos, model: String, key: String) throws(LimitExceeded) -> Int64 {
        let (product, overflow) = units.multipliedReportingOverflow(by: picos)
        guard !overflow, product >= 0, product <= NumericLimits.maxCostNanos * 1000 else {
            throw LimitExceeded(modelID: model, usageKey: key)
        }
        return (product + 500) / 1000
    }

    static func holds(_ condition: TierCondition, for o: Observation) -> Bool {
        switch condition {
        case .usage(let pattern, let comparison, let value, let caseSensitive):
            let sum = o.usage.filter {
                $0.key != "total" && PatternCache.shared.matchesAnywhere(pattern, $0.key, caseSensitive: caseSensitive)
            }.values.saturatingSum()
            switch comparison {
            case .gt: return sum > value
            case .gte: return sum >= value
            case .lt: return sum < value
            case .lte: return sum <= value
            case .eq: return sum == value
            case .neq: return sum != value
            }
        case .attribute(let source, let key, let values):
            let container: [String: JSONValue]
            switch source {
            case .modelParameters: container = o.modelParameters?.objectValue ?? [:]
            case .metadata: container = o.metadata
            }
            guard let value = container[key] else { return false }
            let text: String
            switch value {
            case .string(let s): text = s
            case .int(let i): text = String(i)
            case .bool(let b): text = String(b)
            default: return false
            }
            return values.contains(text)
        }
    }
}

/// The built-in price list, read once from `Resources/model-prices.json` (embedded in the binary).
public enum BuiltinPrices {
    public static let models: [ModelPrice] = {
        guard let data = EmbeddedResources.modelPrices, case .object(let doc)? = try? JSONValue.parse(data),
            let list = doc["models"]?.arrayValue
        else { return [] }
        return list.compactMap { try? ModelPrice(json: $0, projectID: nil) }
    }()

    /// Throws if the built-in file is missing or any model in it is invalid (a startup check).
    public static func validate() throws {
        guard let data = EmbeddedResources.modelPrices else {
            throw PriceTableError.invalid("model-prices.json was not embedded in the binary")
        }
        guard case .object(let doc) = try JSONValue.parse(data), let list = doc["models"]?.arrayValue
        else { throw PriceTableError.invalid("model-prices.json: expected {\"models\": [...]}") }
        for model in list { _ = try ModelPrice(json: model, projectID: nil) }
    }
}
