/// Per-observation token and cost totals, as the analytics columns store them (Langfuse's rule: a key containing
/// "input" counts as input, one containing "output" as output; `total` is the given total or the sum of the keys).
extension Observation {
    public struct Totals: Sendable, Hashable {
        public var inputTokens: Int64
        public var outputTokens: Int64
        public var totalTokens: Int64
        /// USD; nil when the observation has no cost at all.
        public var inputCost: Double?
        public var outputCost: Double?
        public var totalCost: Double?
    }

    /// Units of the usage keys billed under one of `keys` (`PriceKey(usageKey:)`: cached input under `.cacheRead`,
    /// …), saturating like `totals`.
    public func usageUnits(_ keys: Set<PriceKey>) -> Int64 {
        usage.filter { PriceKey(usageKey: $0.key).map(keys.contains) ?? false }.values.saturatingSum()
    }

    /// The cost that is stored and reported: what the client gave, which always wins, else the inferred one.
    public var cost: CostDetails { providedCost.isEmpty ? inferredCost : providedCost }

    /// "provided", "inferred", or nil when the observation has no cost.
    public var costSource: String? {
        if !providedCost.isEmpty { return "provided" }
        return inferredCost.isEmpty ? nil : "inferred"
    }

    /// Re-prices the observation from `table` (a no-op for the price fields when the client gave a cost).
    /// Throws `CostEngine.LimitExceeded`, leaving the observation unpriced, when the inferred cost would pass
    /// `NumericLimits.maxCostUSD`.
    public mutating func applyPricing(_ table: PriceTable, priceBy: PriceBy) throws(CostEngine.LimitExceeded) {
        inferredCost = [:]
        pricedModelID = nil
        pricingTier = nil
        unitPrices = [:]
        defer { savingsNanos = CostEngine.cacheSavings(self, table: table, priceBy: priceBy) }
        guard providedCost.isEmpty, let priced = try CostEngine.price(self, table: table, priceBy: priceBy) else {
            return
        }
        inferredCost = priced.costDetails
        pricedModelID = priced.modelID
        pricingTier = priced.tierName
        unitPrices = priced.unitPrices
    }

    /// True when the call says a cache answered it: `cache_hit` true (a boolean or "true") in its metadata.
    public var isCacheHit: Bool {
        switch metadata["cache_hit"] {
        case .bool(true)?: true
        case .string(let s)?: s.lowercased() == "true"
        default: false
        }
    }

    /// Token sums saturate at Int64's bounds instead of trapping; values that passed `NumericLimits` never
    /// come near them (`checkLimits` refuses the rest before a write). One pass over each dictionary; computed on
    /// every write and rollup, so it stays free of allocation.
    public var totals: Totals {
        let c = cost
        var inputTokens: Int64 = 0
        var outputTokens: Int64 = 0
        var allTokens: Int64 = 0
        for (key, value) in usage where key != "total" {
            allTokens = allTokens.addingSaturating(value)
            let (isInput, isOutput) = Self.direction(key)
            if isInput { inputTokens = inputTokens.addingSaturating(value) }
            if isOutput { outputTokens = outputTokens.addingSaturating(value) }
        }
        var inputUSD = 0.0
        var outputUSD = 0.0
        var allUSD = 0.0
        for (key, value) in c where key != "total" {
            allUSD += value
            let (isInput, isOutput) = Self.direction(key)
            if isInput { inputUSD += value }
            if isOutput { outputUSD += value }
        }
        return Totals(
            inputTokens: inputTokens, outputTokens: outputTokens, totalTokens: usage["total"] ?? allTokens,
            inputCost: c.isEmpty ? nil : inputUSD, outputCost: c.isEmpty ? nil : outputUSD,
            totalCost: c.isEmpty ? nil : (c["total"] ?? allUSD))
    }

    /// Whether `key` contains "input" and whether it contains "output", byte-wise (as usage keys are compared:
    /// no Unicode folding).
    private static func direction(_ key: String) -> (input: Bool, output: Bool) {
        var key = key
        return key.withUTF8 { bytes in (contains(bytes, input), contains(bytes, output)) }
    }

    private static let input = Array("input".utf8)
    private static let output = Array("output".utf8)

    private static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        var start = 0
        while start + needle.count <= haystack.count {
            if haystack[start] == needle[0] {
                var i = 1
                while i < needle.count, haystack[start + i] == needle[i] { i += 1 }
                if i == needle.count { return true }
            }
            start += 1
        }
        return false
    }

    /// The last guard before a write, on the merged observation (whatever protocol or stored row it came from):
    /// every usage count, every cost and the cost totals within `NumericLimits`. Throws `IngestionError` (invalid).
    public func checkLimits() throws(IngestionError) {
        guard usage.count <= NumericLimits.maxKeys + 1, providedCost.count <= NumericLimits.maxKeys + 1 else {
            throw .invalid("usage/cost: at most \(NumericLimits.maxKeys) keys are accepted")
        }
        for (key, units) in usage where !(0...NumericLimits.maxUnits).contains(units) {
            throw .invalid("usage.\(key): \(units) is out of range; expected \(NumericLimits.unitsRange)")
        }
        let t = totals
        for (name, value) in [("input", t.inputCost), ("output", t.outputCost), ("total", t.totalCost)] {
            if let value, !(value.isFinite && value >= 0 && value <= NumericLimits.maxCostUSD) {
                throw .invalid("cost.\(name): out of range; expected \(NumericLimits.costRange)")
            }
        }
    }
}
