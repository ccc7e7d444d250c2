/// Model-call counters for monitoring systems (Prometheus `/metrics`, the OTLP metrics push): per environment,
/// tenant, feature, requested model and outcome, every call since the first one stored. The figures are the
/// analytics' own integers (tokens, nano-USD), summed with checked arithmetic; only the exposition turns cost into
/// a floating-point USD value.
///
/// A model call is a GENERATION or EMBEDDING observation; its outcome is `error` when its level is ERROR.
/// Deleting observations does not decrease these counters (see schema 0017).
public struct LLMMetrics: Sendable, Equatable {
    public enum Outcome: String, Sendable, CaseIterable { case success, error }

    public struct SeriesKey: Hashable, Sendable {
        /// "" when the call names none.
        public var environment, tenant, feature, model: String
        public var outcome: Outcome

        public init(environment: String, tenant: String, feature: String, model: String, outcome: Outcome) {
            self.environment = environment
            self.tenant = tenant
            self.feature = feature
            self.model = model
            self.outcome = outcome
        }
    }

    /// Sums of one series: the calls and their `UsageFigures` (whose fields read through, `sums.costNanos`).
    @dynamicMemberLookup
    public struct Sums: Sendable, Equatable {
        public var requests: Int64 = 0
        public var figures = UsageFigures()

        public init() {}

        public init(
            requests: Int64, inputTokens: Int64, outputTokens: Int64, cacheReadTokens: Int64,
            cacheWriteTokens: Int64, reasoningTokens: Int64, costNanos: Int64
        ) {
            self.requests = requests
            figures = UsageFigures(
                inputTokens: inputTokens, outputTokens: outputTokens, cacheReadTokens: cacheReadTokens,
                cacheWriteTokens: cacheWriteTokens, reasoningTokens: reasoningTokens, costNanos: costNanos)
        }

        public subscript(dynamicMember path: WritableKeyPath<UsageFigures, Int64>) -> Int64 {
            get { figures[keyPath: path] }
            set { figures[keyPath: path] = newValue }
        }

        /// The token counts by `token_type` label value, in exposition order.
        public var tokensByType: [(type: String, tokens: Int64)] {
            [
                ("input", figures.inputTokens), ("output", figures.outputTokens),
                ("cache_read", figures.cacheReadTokens), ("cache_write", figures.cacheWriteTokens),
                ("reasoning", figures.reasoningTokens),
            ]
        }

        /// Adds `other`; throws without changing anything when a sum would leave Int64.
        public mutating func add(_ other: Sums) throws(Overflow) {
            var out = self
            for path in Self.measures {
                let (sum, overflow) = out[keyPath: path].addingReportingOverflow(other[keyPath: path])
                if overflow { throw Overflow() }
                out[keyPath: path] = sum
            }
            self = out
        }

        nonisolated(unsafe) static let measures: [WritableKeyPath<Sums, Int64>] = [
            \.requests, \.inputTokens, \.outputTokens, \.cacheReadTokens, \.cacheWriteTokens, \.reasoningTokens,
            \.costNanos,
        ]
    }

    public struct LatencyKey: Hashable, Sendable {
        public var environment, model: String
        public var outcome: Outcome

        public init(environment: String, model: String, outcome: Outcome) {
            self.environment = environment
            self.model = model
            self.outcome = outcome
        }
    }

    /// Call durations of one latency series: `counts[i]` calls in bucket i (not cumulative; see `bucket(micros:)`),
    /// `sumSeconds` their total duration.
    public struct Latency: Sendable, Equatable {
        public var counts: [Int64] = Array(repeating: 0, count: LLMMetrics.durationBounds.count + 1)
        public var sumSeconds: Double = 0

        public init() {}

        public mutating func add(_ other: Latency) throws(Overflow) {
            var out = counts
            for i in out.indices {
                let (sum, overflow) = out[i].addingReportingOverflow(other.counts[i])
                if overflow { throw Overflow() }
                out[i] = sum
            }
            counts = out
            sumSeconds += other.sumSeconds
        }

        /// Calls counted (all buckets).
        public var count: Int64 { counts.reduce(0, &+) }
    }

    /// A sum that would leave Int64.
    public struct Overflow: Error, Sendable {}

    /// Upper bounds of the duration buckets in seconds (Prometheus `le`); a last bucket holds longer calls.
    /// schema/0017 spells the same bounds in microseconds.
    public static let durationBounds: [Double] = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300]

    /// The bucket of a duration: the first whose bound is ≥ it, or `durationBounds.count`. Negative durations count
    /// as 0.
    public static func bucket(micros: Int64) -> Int {
        durationBoundsMicros.firstIndex { micros <= $0 } ?? durationBounds.count
    }

    static let durationBoundsMicros = durationBounds.map { Int64(($0 * 1_000_000).rounded()) }

    /// The label value that stands for the tenants, features or models beyond the cardinality limits.
    public static let other = "other"

    public var series: [SeriesKey: Sums]
    public var latency: [LatencyKey: Latency]

    public init(series: [SeriesKey: Sums] = [:], latency: [LatencyKey: Latency] = [:]) {
        self.series = series
        self.latency = latency
    }

    /// The series keys in a stable order (environment, tenant, feature, model, outcome), for expositions.
    public var sortedSeriesKeys: [SeriesKey] {
        series.keys.sorted { a, b in
            if a.environment != b.environment { return a.environment < b.environment }
            if a.tenant != b.tenant { return a.tenant < b.tenant }
            if a.feature != b.feature { return a.feature < b.feature }
            if a.model != b.model { return a.model < b.model }
            return a.outcome == .success && b.outcome == .error
        }
    }

    /// The latency keys in a stable order (environment, model, outcome).
    public var sortedLatencyKeys: [LatencyKey] {
        latency.keys.sorted { a, b in
            if a.environment != b.environment { return a.environment < b.environment }
            if a.model != b.model { return a.model < b.model }
            return a.outcome == .success && b.outcome == .error
        }
    }

    /// Cardinality limits: how many tenants, features and models keep their own series.
    public struct Limits: Sendable, Equatable {
        public var tenants: Int
        public var features: Int
        public var models: Int

        public init(tenants: Int = 500, features: Int = 500, models: Int = 200) {
            self.tenants = tenants
            self.features = features
            self.models = models
        }
    }

    /// Which of `candidates` keep their own series under a limit of `limit`: all when there are no more than that,
    /// else the `limit` with the most spend this month (nano-USD), then the most spend overall, then by name. ""
    /// (none named) always keeps its own series and does not count against the limit.
    public static func kept(_ candidates: [String: (month: Int64, total: Int64)], limit: Int) -> Set<String> {
        let named = candidates.filter { !$0.key.isEmpty }
        var kept: Set<String> = candidates.keys.contains("") ? [""] : []
        guard named.count > limit else { return kept.union(named.keys) }
        let ranked = named.sorted {
            ($0.value.month, $0.value.total) != ($1.value.month, $1.value.total)
                ? ($0.value.month, $0.value.total) > ($1.value.month, $1.value.total) : $0.key < $1.key
        }
        kept.formUnion(ranked.prefix(max(limit, 0)).map(\.key))
        return kept
    }

    /// The same figures with every tenant, feature and model outside `tenants`, `features` and `models` summed
    /// under `LLMMetrics.other`. Throws when a sum would leave Int64.
    public func folded(tenants: Set<String>, features: Set<String>, models: Set<String>) throws(Overflow) -> LLMMetrics
    {
        func keep(_ value: String, _ set: Set<String>) -> String { set.contains(value) ? value : Self.other }
        var out = LLMMetrics()
        out.series.reserveCapacity(series.count)
        for (key, sums) in series {
            var k = key
            k.tenant = keep(key.tenant, tenants)
            k.feature = keep(key.feature, features)
            k.model = keep(key.model, models)
            try out.series[k, default: Sums()].add(sums)
        }
        for (key, histogram) in latency {
            var k = key
            k.model = keep(key.model, models)
            try out.latency[k, default: Latency()].add(histogram)
        }
        return out
    }
}
