import Foundation

/// Token counts of calls in powers of two: bucket b holds the calls whose count is in [2^b, 2^(b+1)); bucket 0 also
/// holds 0 and 1, the last bucket (`maxBucket`) every count from 2^maxBucket up. Enough to rule out most groups
/// before an exact percentile is read: the finders' screens never rule out a group the exact figures would keep.
public struct TokenHistogram: Sendable, Hashable {
    /// 2^40 tokens: no call comes near it, and 2 << 40 stays far inside Int64 in the stores' SQL.
    public static let maxBucket = 40

    /// The bucket of `tokens`: ⌊log2(tokens)⌋ clamped to [0, maxBucket].
    public static func bucket(_ tokens: Int64) -> Int {
        tokens <= 1 ? 0 : min(maxBucket, 63 - tokens.leadingZeroBitCount)
    }

    /// Calls per bucket (buckets without calls are absent or 0).
    public private(set) var calls: [Int: Int64] = [:]
    /// Every bucket's calls.
    public private(set) var total: Int64 = 0

    public init() {}

    /// Adds `count` calls (negative: removes) to `bucket`; false when a sum would leave Int64 (nothing changed).
    public mutating func add(_ count: Int64, bucket: Int) -> Bool {
        guard let sum = total.addingExactly(count), let inBucket = calls[bucket, default: 0].addingExactly(count)
        else { return false }
        (total, calls[bucket]) = (sum, inBucket)
        return true
    }

    /// Adds every bucket of `other`; false when a sum would leave Int64 (then partly added).
    public mutating func add(_ other: TokenHistogram) -> Bool {
        other.calls.allSatisfy { add($0.value, bucket: $0.key) }
    }

    /// The calls that may hold at most `limit` tokens: those in buckets whose smallest count is ≤ `limit`. Never
    /// fewer than the exact number.
    public func possiblyAtMost(_ limit: Int64) -> Int64 {
        calls.reduce(0) { sum, entry in
            let lowest: Int64 = entry.key == 0 ? 0 : 1 << Int64(entry.key)
            return lowest <= limit ? sum &+ entry.value : sum
        }
    }

    /// Whether the nearest-rank `percentile`-th value may be ≤ `limit`: at least that share of the calls may be.
    public func percentileMayBeAtMost(_ percentile: Int64, _ limit: Int64) -> Bool {
        total > 0 && Int128(possiblyAtMost(limit)) * 100 >= Int128(percentile) * Int128(total)
    }

    /// The bucket holding the nearest-rank `percentile`-th value (0 when empty).
    public func bucket(ofPercentile percentile: Int64) -> Int {
        let rank = (Int128(percentile) * Int128(total) + 99) / 100
        var seen: Int128 = 0
        for b in calls.keys.sorted() where calls[b, default: 0] > 0 {
            seen += Int128(calls[b, default: 0])
            if seen >= rank { return b }
        }
        return calls.keys.max() ?? 0
    }

    /// Whether p95 ≥ `spread` × p50 > 0 is possible: a positive p50 is ≥ 2^b50 and p95 < 2^(b95 + 1) (unbounded in
    /// the last bucket), so it is impossible when 2^(b95 + 1) ≤ `spread` × 2^b50.
    public func allowsSpread(_ spread: Double) -> Bool {
        let (b50, b95) = (bucket(ofPercentile: 50), bucket(ofPercentile: 95))
        guard b95 < Self.maxBucket else { return true }
        return pow(2, Double(b95 - b50 + 1)) > spread
    }
}

/// The generations of one feature, model and prompt version (nil: none) as the finders profile them.
public struct CallShapeGroup: Sendable, Hashable {
    public var feature: String?
    public var model: String?
    public var promptName: String?
    public var promptVersion: Int?

    public init(feature: String?, model: String?, promptName: String?, promptVersion: Int?) {
        self.feature = feature
        self.model = model
        self.promptName = promptName
        self.promptVersion = promptVersion
    }
}

/// A group's generations: input tokens of all of them, input and output tokens of those with a cost.
public struct CallShape: Sendable, Hashable {
    public var input = TokenHistogram()
    public var costedInput = TokenHistogram()
    public var costedOutput = TokenHistogram()

    public init() {}

    /// Adds `other`'s calls; false when a sum would leave Int64.
    public mutating func add(_ other: CallShape) -> Bool {
        input.add(other.input) && costedInput.add(other.costedInput) && costedOutput.add(other.costedOutput)
    }
}

extension Insights {
    /// The feature and model groups (with a model) of at least `minCalls` costed generations whose histograms leave
    /// room for the downgrade shape (p95 output and input within the thresholds), with their costed calls.
    public static func downgradeCandidates(_ shapes: [CallShapeGroup: CallShape], _ t: InsightThresholds)
        -> [(feature: String?, model: String, calls: Int64)]
    {
        var byModel: [FeatureModelKey: CallShape] = [:]
        for (group, shape) in shapes {
            guard let model = group.model else { continue }
            var sum = byModel[FeatureModelKey(feature: group.feature, model: model)] ?? CallShape()
            guard sum.add(shape) else { continue }
            byModel[FeatureModelKey(feature: group.feature, model: model)] = sum
        }
        return byModel.compactMap { key, shape in
            let calls = shape.costedOutput.total
            guard calls >= t.minCalls, shape.costedOutput.percentileMayBeAtMost(95, t.downgradeMaxOutputP95),
                shape.costedInput.percentileMayBeAtMost(95, t.downgradeMaxInputP95)
            else { return nil }
            return (key.feature, key.model, calls)
        }.sorted { ($0.feature ?? "", $0.model) < ($1.feature ?? "", $1.model) }
    }

    /// The feature and prompt-version groups of at least `minCalls` generations whose input histogram leaves room
    /// for p95 ≥ `bloatSpread` × median; the others cannot hold such a spread and need no exact read.
    public static func spreadCandidates(_ shapes: [CallShapeGroup: CallShape], _ t: InsightThresholds)
        -> [(subject: InsightSubject, calls: Int64)]
    {
        var byPrompt: [InsightSubject: TokenHistogram] = [:]
        for (group, shape) in shapes {
            let subject = InsightSubject(
                feature: group.feature, promptName: group.promptName, promptVersion: group.promptVersion)
            var sum = byPrompt[subject] ?? TokenHistogram()
            guard sum.add(shape.input) else { continue }
            byPrompt[subject] = sum
        }
        return byPrompt.compactMap { subject, input in
            guard input.total >= t.minCalls, input.allowsSpread(t.bloatSpread) else { return nil }
            return (subject, input.total)
        }.sorted { "\($0.subject)" < "\($1.subject)" }
    }

    private struct FeatureModelKey: Hashable {
        var feature: String?
        var model: String
    }
}
