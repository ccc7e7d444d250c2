import Testing

@testable import TallyCore

@Suite("Invoice reconciliation")
struct ReconciliationTests {
    @Test("largest remainder: parts sum to the amount exactly, remainders go to the largest fractions")
    func largestRemainder() {
        #expect(
            Reconciliation.largestRemainder(100, weights: ["a": 1, "b": 1, "c": 1]) == ["a": 34, "b": 33, "c": 33])
        #expect(
            Reconciliation.largestRemainder(-100, weights: ["a": 1, "b": 1, "c": 1]) == ["a": -34, "b": -33, "c": -33])
        #expect(
            Reconciliation.largestRemainder(750_000_000, weights: ["acme": 0.42, "beta": 0.0425])
                == ["acme": 681_081_081, "beta": 68_918_919])
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let amount = Int64.random(in: -1_000_000_000_000_000_000...1_000_000_000_000_000_000, using: &rng)
            let weights = Dictionary(
                uniqueKeysWithValues: (0..<Int.random(in: 1...20, using: &rng)).map {
                    ("t\($0)", Double.random(in: 0...1e12, using: &rng))
                })
            let parts = Reconciliation.largestRemainder(amount, weights: weights)
            #expect(parts.values.reduce(0, +) == amount)
            #expect(parts.values.allSatisfy { amount >= 0 ? $0 >= 0 : $0 <= 0 })
        }
    }

    @Test("direct, activity and weighted allocation; unattributed spend spread; nothing named keeps it apart")
    func methods() {
        let usage = [
            Reconciliation.Usage(tenant: "acme", model: "big", provider: "openai", calls: 1, costNanos: 300),
            Reconciliation.Usage(tenant: "acme", model: "small", provider: "OpenAI", calls: 3, costNanos: 30),
            Reconciliation.Usage(tenant: "beta", model: "small", provider: "openai", calls: 3, costNanos: 60),
            Reconciliation.Usage(tenant: "", model: "big", provider: "openai", calls: 1, costNanos: 100),
            Reconciliation.Usage(tenant: "acme", model: "claude", provider: "anthropic", calls: 1, costNanos: 50),
            Reconciliation.Usage(tenant: "beta", model: "x", provider: nil, calls: 9, costNanos: 9),
        ]
        let line = Reconciliation.InvoiceLine(provider: "openai", model: nil, amountNanos: 1_000)
        let direct = Reconciliation.reconcile([line], usage: usage, method: .direct)[0]
        #expect(direct.calls == 8 && direct.meteredNanos == 490 && direct.unattributedNanos == 100)
        #expect(direct.varianceNanos == 510)
        // acme metered 330, beta 60: 1000 × 330/390 = 846.15…, × 60/390 = 153.84…
        #expect(direct.allocation == ["acme": 846, "beta": 154])
        #expect(
            Reconciliation.reconcile([line], usage: usage, method: .activity)[0].allocation == [
                "acme": 571, "beta": 429,
            ])
        // Mean cost per call: big 200, small 15. acme 1×200 + 3×15 = 245, beta 3×15 = 45.
        #expect(
            Reconciliation.reconcile([line], usage: usage, method: .weighted)[0].allocation == [
                "acme": 845, "beta": 155,
            ])
        let model = Reconciliation.InvoiceLine(provider: "anthropic", model: "claude", amountNanos: 70)
        let claude = Reconciliation.reconcile([model], usage: usage, method: .direct)[0]
        #expect(claude.meteredNanos == 50 && claude.varianceNanos == 20 && claude.allocation == ["acme": 70])
        #expect(claude.variancePercent == 40)
        let nobody = Reconciliation.allocate(5, scope: [usage[3]], method: .direct)
        #expect(nobody == ["": 5])
        let unknown = Reconciliation.reconcile(
            [Reconciliation.InvoiceLine(provider: "mistral", model: nil, amountNanos: 9)], usage: usage, method: .direct
        )[0]
        #expect(unknown.meteredNanos == 0 && unknown.variancePercent == nil && unknown.allocation == ["": 9])
    }
}
