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

    /// The cost that is stored and reported: what the client gave, which always wins, else the inferred one.
    public var cost: CostDetails { providedCost.isEmpty ? inferredCost : providedCost }

    /// "provided", "inferred", or nil when the observation has no cost.
    public var costSource: String? {
        if !providedCost.isEmpty { return "provided" }
        return inferredCost.isEmpty ? nil : "inferred"
    }

    /// Re-prices the observation from `table` (a no-op for the price fields when the client gave a cost).
    public mutating func applyPricing(_ table: PriceTable, priceBy: PriceBy) {
        inferredCost = [:]
        pricedModelID = nil
        pricingTier = nil
        unitPrices = [:]
        guard providedCost.isEmpty, let priced = CostEngine.price(self, table: table, priceBy: priceBy) else { return }
        inferredCost = priced.costDetails
        pricedModelID = priced.modelID
        pricingTier = priced.tierName
        unitPrices = priced.unitPrices
    }

    public var totals: Totals {
        func sum<V: AdditiveArithmetic>(_ d: [String: V], containing part: String) -> V {
            d.filter { $0.key != "total" && $0.key.contains(part) }.values.reduce(.zero, +)
        }
        let u = usage
        let c = cost
        let input = sum(u, containing: "input")
        let output = sum(u, containing: "output")
        return Totals(
            inputTokens: input, outputTokens: output,
            totalTokens: u["total"] ?? u.filter { $0.key != "total" }.values.reduce(0, +),
            inputCost: c.isEmpty ? nil : sum(c, containing: "input"),
            outputCost: c.isEmpty ? nil : sum(c, containing: "output"),
            totalCost: c.isEmpty ? nil : (c["total"] ?? c.filter { $0.key != "total" }.values.reduce(0, +)))
    }
}
