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
}
