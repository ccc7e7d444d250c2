/// The figures a bill or a meter sums for model calls: tokens in units and cost in nano-USD. `inputTokens` and
/// `outputTokens` are the analytics' input and output; `cacheReadTokens`, `cacheWriteTokens` and `reasoningTokens`
/// are parts of them (cached and cache-creation input, reasoning output). `cacheSavingsNanos`: what caches saved
/// (`CostEngine.cacheSavings`), apart from the cost.
public struct UsageFigures: Sendable, Hashable {
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var cacheReadTokens: Int64 = 0
    public var cacheWriteTokens: Int64 = 0
    public var reasoningTokens: Int64 = 0
    public var costNanos: Int64 = 0
    public var cacheSavingsNanos: Int64 = 0

    public init() {}

    public init(
        inputTokens: Int64, outputTokens: Int64, cacheReadTokens: Int64, cacheWriteTokens: Int64,
        reasoningTokens: Int64, costNanos: Int64, cacheSavingsNanos: Int64 = 0
    ) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheReadTokens = cacheReadTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.reasoningTokens = reasoningTokens
        self.costNanos = costNanos
        self.cacheSavingsNanos = cacheSavingsNanos
    }

    /// Every figure, in the order above.
    var all: [Int64] {
        [inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, reasoningTokens, costNanos, cacheSavingsNanos]
    }

    init(_ v: [Int64]) {
        self.init(
            inputTokens: v[0], outputTokens: v[1], cacheReadTokens: v[2], cacheWriteTokens: v[3], reasoningTokens: v[4],
            costNanos: v[5], cacheSavingsNanos: v[6])
    }

    /// `self − other` figure by figure, saturating (stored figures are ≥ 0, so differences of them fit).
    public func minus(_ other: UsageFigures) -> UsageFigures {
        UsageFigures(zip(all, other.all).map { $0.subtractingSaturating($1) })
    }

    /// Every figure negated.
    public var negated: UsageFigures { UsageFigures().minus(self) }

    public var totalTokens: Int64 { inputTokens.addingSaturating(outputTokens) }
}
