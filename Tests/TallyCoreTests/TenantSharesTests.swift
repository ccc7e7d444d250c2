import Testing

@testable import TallyCore

@Suite("Shared calls: tenant shares")
struct TenantSharesTests {
    struct RNG {
        var state: UInt64
        mutating func next(_ n: UInt64) -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (state >> 11) % n
        }
    }

    @Test("named by metadata tenantShares, as JSON text, or by the tally.tenant_shares attribute; absent is nil")
    func sources() throws {
        let object: JSONValue = ["acme": 1200, "beta": 800]
        let expected = TenantShares(micros: ["acme": 1_200_000_000, "beta": 800_000_000])
        #expect(try TenantShares(metadata: ["tenantShares": object]) == expected)
        #expect(try TenantShares(metadata: ["tenantShares": .string(object.serialized())]) == expected)
        #expect(try TenantShares(metadata: ["tally.tenant_shares": .string(object.serialized())]) == expected)
        #expect(
            try TenantShares(metadata: ["attributes": ["tally.tenant_shares": .string(object.serialized())]])
                == expected)
        #expect(
            try TenantShares(metadata: ["tenantShares": ["a": 0.25, "b": "0.75"]])?.weights.map(\.micros) == [
                250_000, 750_000,
            ])
        #expect(try TenantShares(metadata: [:]) == nil)
        #expect(try TenantShares(metadata: ["tenantShares": .null]) == nil)
    }

    @Test("wrong shares are refused with a message naming the key and the problem")
    func refusals() {
        var many: [String: JSONValue] = [:]
        for i in 0...TenantShares.maxTenants { many["t\(i)"] = 1 }
        let cases: [(JSONValue, String)] = [
            (["acme", "beta"], "object"), ("acme", "not a JSON object"), ([:], "names no tenant"),
            (["acme": -1], "outside"), (["acme": 1e13], "outside"), (["acme": "lots"], "not a number"),
            (["acme": true], "not a number"), (["acme": 0, "beta": 0], "weight 0"), (["": 3], "tenant name"),
            (.object([String(repeating: "x", count: 257): 1]), "tenant name"), (.object(many), "more than 1000"),
            (.object(["ac\u{0}me": 1]), "control characters"), (.object(["beta\u{1B}[31m": 1]), "control characters"),
        ]
        for (value, phrase) in cases {
            do {
                _ = try TenantShares(metadata: ["tenantShares": value])
                Issue.record("accepted \(value.serialized())")
            } catch {
                #expect(error.kind == .invalid)
                #expect(error.description.contains("tenantShares") && error.description.contains(phrase), "\(error)")
            }
        }
    }

    @Test("largest remainder: the parts sum to the total exactly and each is within one unit of its exact share")
    func splitIsExact() {
        var rng = RNG(state: 42)
        for _ in 0..<3_000 {
            var weights: [String: UInt64] = [:]
            for i in 0..<Int(1 + rng.next(12)) { weights["t\(i)"] = rng.next(4) == 0 ? 0 : rng.next(5_000_000_000) }
            weights["t0"] = 1 + (weights["t0"] ?? 0)
            let shares = TenantShares(micros: weights)
            let total = Int64(rng.next(2) == 0 ? rng.next(1_000) : rng.next(1_000_000_000_000_000_000))
            let parts = shares.split(total)
            #expect(parts.reduce(0, +) == total)
            let sum = Double(weights.values.reduce(0, +))
            for (part, w) in zip(parts, shares.weights) {
                let exact = Double(total) * Double(w.micros) / sum
                #expect(Double(part) >= exact.rounded(.down) - 1 && Double(part) <= exact.rounded(.up) + 1)
                if w.micros == 0 { #expect(part == 0) }
            }
        }
        // Ties go by tenant name: 10 units over three equal weights.
        #expect(TenantShares(micros: ["c": 1, "a": 1, "b": 1]).split(10) == [4, 3, 3])
        // The leftover goes to the largest remainders, not the largest weights: 7 × (0.45, 0.35, 0.2) =
        // 3.15, 2.45, 1.4 → 3, 2, 1 and the one left to b (.45).
        #expect(TenantShares(micros: ["a": 45, "b": 35, "c": 20]).split(7) == [3, 3, 1])
    }

    @Test("the extremes do not trap: 1,000 tenants at the largest weight split the largest cost exactly")
    func extremes() {
        var weights: [String: UInt64] = [:]
        for i in 0..<TenantShares.maxTenants { weights["t\(i)"] = 1_000_000_000_000_000_000 - UInt64(i) }
        let parts = TenantShares(micros: weights).split(NumericLimits.maxCostNanos)
        #expect(parts.reduce(0, +) == NumericLimits.maxCostNanos)
        #expect(TenantShares(micros: ["a": 1, "b": 2]).split(0) == [0, 0])
    }

    @Test("a shared call's shares: every figure split, one share counts the call, empty shares left out")
    func sharesOfACall() throws {
        var o = Observation(
            id: "g", traceID: "t", type: .generation, startTime: Timestamp(microseconds: 0), isPlaceholder: false)
        o.usage = ["input": 1_000, "output": 201, "cache_read_input_tokens": 300]
        o.providedCost = ["input": 0.001, "output": 0.002]
        o.savingsNanos = 99
        o.metadata = ["tenantShares": ["acme": 1200, "beta": 800, "idle": 0]]
        let shares = try #require(try TenantShares(metadata: o.metadata))
        #expect(shares.carrier == 0)
        let parts = shares.shares(of: o, totals: o.totals)
        #expect(parts.map(\.tenant) == ["acme", "beta"])
        #expect(parts.map(\.calls) == [1, 0])
        #expect(parts.map(\.inputTokens) == [780, 520])  // input counts the cache read: 1,300
        #expect(parts.map(\.outputTokens) == [121, 80])  // 120.6 / 80.4
        #expect(parts.map(\.cacheReadTokens) == [180, 120])
        #expect(parts.map(\.totalCostNanos) == [1_800_000, 1_200_000])
        #expect(parts.map(\.savingsNanos) == [59, 40])
        #expect(parts.map(\.reasoningTokens) == [0, 0])
        // Equal weights: the first by name carries the call.
        #expect(TenantShares(micros: ["b": 5, "a": 5]).carrier == 0)
        #expect(TenantShares(micros: ["a": 1, "b": 5]).carrier == 1)
    }
}
