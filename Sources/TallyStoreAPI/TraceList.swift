import TallyCore

/// The totals of one trace's observations.
public struct TraceTotals: Sendable {
    public var observations: Int
    /// µs from the first observation start to the last end.
    public var spanMicros: Int64
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var totalTokens: Int64
    public var totalCostNanos: Int64
    /// The most severe observation level.
    public var level: ObservationLevel

    public init(
        observations: Int, spanMicros: Int64, inputTokens: Int64, outputTokens: Int64, totalTokens: Int64,
        totalCostNanos: Int64, level: ObservationLevel
    ) {
        self.observations = observations
        self.spanMicros = spanMicros
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.totalTokens = totalTokens
        self.totalCostNanos = totalCostNanos
        self.level = level
    }
}

/// One row of the UI's trace list: the trace and its observations' totals (nil without observations).
public struct TraceListRow: Sendable {
    public var trace: Trace
    public var totals: TraceTotals?

    public init(trace: Trace, totals: TraceTotals? = nil) {
        self.trace = trace
        self.totals = totals
    }
}

extension TraceSummary {
    /// A summary whose latency (s) and cost (USD) come from the trace's stored totals (nil: no observations).
    public init(trace: Trace, observationIDs: [String], scoreIDs: [String], totals: TraceTotals?) {
        self.init(
            trace: trace, observationIDs: observationIDs, scoreIDs: scoreIDs,
            latency: Double(totals?.spanMicros ?? 0) / 1_000_000,
            totalCost: Money.usd(nanos: totals?.totalCostNanos ?? 0))
    }
}
