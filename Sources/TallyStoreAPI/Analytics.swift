import TallyCore

/// One prompt version's figures, side by side with the others of the same prompt name.
public struct PromptVersionStats: Sendable, Hashable {
    public var version: Int
    /// Observations linked to the version.
    public var runs: Int64
    public var totalCostNanos: Int64
    public var inputTokens: Int64
    public var outputTokens: Int64
    /// Milliseconds; exact over raw rows, within 1% when read from the latency rollup (see `latencyExact`).
    public var latencyP50: Double?
    public var latencyP95: Double?
    public var latencyExact: Bool
    public var errors: Int64
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp
    /// Mean numeric value per score name, over scores on the version's observations or their traces.
    public var scores: [String: Double]

    public init(
        version: Int, runs: Int64, totalCostNanos: Int64, inputTokens: Int64, outputTokens: Int64,
        latencyP50: Double? = nil, latencyP95: Double? = nil, latencyExact: Bool, errors: Int64, firstSeen: Timestamp,
        lastSeen: Timestamp, scores: [String: Double]
    ) {
        self.version = version
        self.runs = runs
        self.totalCostNanos = totalCostNanos
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.latencyP50 = latencyP50
        self.latencyP95 = latencyP95
        self.latencyExact = latencyExact
        self.errors = errors
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.scores = scores
    }
}

public enum AnalyticsError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let m): return m
        }
    }
}
