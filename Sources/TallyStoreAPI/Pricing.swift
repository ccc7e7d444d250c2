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

extension PricingStore {
    /// The table the cost engine prices the project's calls with now: its own models, then the built-in ones unless
    /// switched off.
    public func priceTable(projectID: String) async throws -> PriceTable {
        let settings = try await pricingSettings(projectID: projectID)
        return PriceTable(projectModels: try await models(projectID: projectID), builtinEnabled: settings.builtinPrices)
    }
}
