import TallyCore

/// A project's pricing settings (Tally analytics API / CLI).
public struct PricingSettings: Sendable, Hashable {
    /// When false, only the project's own models price its observations (Langfuse #12217).
    public var builtinPrices: Bool
    public var priceBy: PriceBy

    public init(builtinPrices: Bool = true, priceBy: PriceBy = .requested) {
        self.builtinPrices = builtinPrices
        self.priceBy = priceBy
    }
}

/// A project's price table and billing rule, as a store's write path uses them.
public typealias ProjectPricing = (table: PriceTable, priceBy: PriceBy)
