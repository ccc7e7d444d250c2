import TallyCore
import Testing

@Suite("Waste finder arithmetic")
struct InsightsTests {
    @Test("week-over-week growth and the outlier limit stay finite where token sums times calls pass Int64")
    func noOverflow() {
        // 10^4 calls of 10^14 tokens in a week: t × c = 10^22, past Int64.
        let tokens: Int64 = 1_000_000_000_000_000_000
        #expect(
            abs(Insights.growth(calls: 10_000, tokens: tokens, previousCalls: 10_000, previousTokens: tokens / 2) - 1)
                < 1e-12)
        #expect(Insights.growth(calls: 20, tokens: 30_000, previousCalls: 20, previousTokens: 20_000) == 0.5)
        #expect(Insights.outlierLimit(median: 1_000, spread: 4) == 4_000)
        #expect(Insights.outlierLimit(median: 1_000, spread: 4.25) == 4_250)
        #expect(Insights.outlierLimit(median: Int64.max / 2, spread: 1e6) == .max)
    }

    @Test("a month is 30 days: a week's waste × 30/7, rounded half away from zero")
    func monthly() {
        #expect(Insights.monthly(25_000_000, periodMicros: Insights.weekMicros) == 107_142_857)
        #expect(Insights.monthly(22_800_000, periodMicros: 2 * Insights.weekMicros) == 48_857_143)
        #expect(Insights.monthly(Int64.max, periodMicros: 1) == .max)
    }

    @Test("token buckets are powers of two: 0 and 1 in the first, 2^40 and up in the last")
    func buckets() {
        #expect([0, 1, 2, 3, 4, 7, 8, 1_023, 1_024].map { TokenHistogram.bucket($0) } == [0, 0, 1, 1, 2, 2, 3, 9, 10])
        #expect(TokenHistogram.bucket(-5) == 0)
        #expect(TokenHistogram.bucket((1 << 40) - 1) == 39 && TokenHistogram.bucket(1 << 40) == 40)
        #expect(TokenHistogram.bucket(.max) == 40)
        var h = TokenHistogram()
        #expect(h.add(3, bucket: 2) && h.add(1, bucket: 5))
        #expect(h.total == 4 && h.possiblyAtMost(3) == 0 && h.possiblyAtMost(4) == 3 && h.possiblyAtMost(32) == 4)
        #expect(h.bucket(ofPercentile: 50) == 2 && h.bucket(ofPercentile: 95) == 5)
        #expect(!h.add(.max, bucket: 1) && h.total == 4)
    }

    /// A deterministic generator (SplitMix64), so a failure reproduces.
    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int64) -> Int64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476C_E5B9_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int64((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    /// The nearest-rank percentile of `values`.
    static func percentile(_ p: Int, of values: [Int64]) -> Int64 {
        let sorted = values.sorted()
        return sorted[(p * sorted.count + 99) / 100 - 1]
    }

    @Test("the histogram screens never rule out a group the exact percentiles would find, and rule out most others")
    func screensAreConservative() {
        var rng = Random(state: 42)
        var t = InsightThresholds()
        var (kept, ruledOut) = (0, 0)
        for round in 0..<400 {
            t.minCalls = 5
            t.downgradeMaxOutputP95 = 1 + rng.next(200)
            t.downgradeMaxInputP95 = 1 + rng.next(5_000)
            t.bloatSpread = 1.5 + Double(rng.next(60)) / 10
            // One group: calls whose tokens spread over a few orders of magnitude.
            let n = 5 + Int(rng.next(60))
            let scale = [1, 10, 100, 10_000][Int(rng.next(4))] as Int64
            let inputs = (0..<n).map { _ in rng.next(4) == 0 ? rng.next(scale * 50) : rng.next(scale + 1) }
            let outputs = (0..<n).map { _ in rng.next(rng.next(2) == 0 ? 60 : 400) }
            var shape = CallShape()
            for (i, o) in zip(inputs, outputs) {
                _ = shape.input.add(1, bucket: TokenHistogram.bucket(i))
                _ = shape.costedInput.add(1, bucket: TokenHistogram.bucket(i))
                _ = shape.costedOutput.add(1, bucket: TokenHistogram.bucket(o))
            }
            let group = CallShapeGroup(feature: "f\(round)", model: "m", promptName: nil, promptVersion: nil)
            let short =
                Self.percentile(95, of: outputs) <= t.downgradeMaxOutputP95
                && Self.percentile(95, of: inputs) <= t.downgradeMaxInputP95
            let screenedShort = !Insights.downgradeCandidates([group: shape], t).isEmpty
            #expect(!short || screenedShort, "downgrade \(inputs) \(outputs)")
            let (p50, p95) = (Self.percentile(50, of: inputs), Self.percentile(95, of: inputs))
            let spread = p50 > 0 && Double(p95) >= t.bloatSpread * Double(p50)
            let screenedSpread = !Insights.spreadCandidates([group: shape], t).isEmpty
            #expect(!spread || screenedSpread, "spread \(inputs) \(t.bloatSpread)")
            if !screenedShort { ruledOut += 1 } else { kept += 1 }
            if !screenedSpread { ruledOut += 1 } else { kept += 1 }
        }
        #expect(ruledOut > 200, "kept \(kept), ruled out \(ruledOut)")
    }

    @Test("candidates fold prompt versions into feature and model, and models into feature and prompt version")
    func candidateGroups() {
        var short = CallShape()
        var long = CallShape()
        for _ in 0..<10 {
            _ =
                short.input.add(1, bucket: 5) && short.costedInput.add(1, bucket: 5)
                && short.costedOutput.add(1, bucket: 3)
            _ =
                long.input.add(1, bucket: 12) && long.costedInput.add(1, bucket: 12)
                && long.costedOutput.add(1, bucket: 9)
        }
        var t = InsightThresholds()
        t.minCalls = 20
        let shapes: [CallShapeGroup: CallShape] = [
            CallShapeGroup(feature: "a", model: "gpt-4o", promptName: "p", promptVersion: 1): short,
            CallShapeGroup(feature: "a", model: "gpt-4o", promptName: "p", promptVersion: 2): short,
            CallShapeGroup(feature: "a", model: "gpt-4o-mini", promptName: "p", promptVersion: 2): long,
            CallShapeGroup(feature: "a", model: nil, promptName: "p", promptVersion: 1): long,
        ]
        // 20 short calls on a/gpt-4o across two prompt versions; 10 on gpt-4o-mini are too few; no model: none.
        let downgrade = Insights.downgradeCandidates(shapes, t)
        #expect(downgrade.map(\.model) == ["gpt-4o"] && downgrade.map(\.calls) == [20])
        // Version 1 (short and long: median 32, p95 4096) and version 2 (the same) both allow a 4× spread.
        let spread = Insights.spreadCandidates(shapes, t)
        #expect(spread.map(\.subject.promptVersion) == [1, 2] && spread.map(\.calls) == [20, 20])
    }
}
