import Foundation
import Testing

@testable import TallyCore

/// The reference set: each case priced by hand from `Resources/model-prices.json` (USD per 1M tokens in comments),
/// expected totals in nano-USD (1e-9 USD).
@Suite("Cost engine reference cases")
struct CostEngineTests {
    struct Case: Sendable, CustomStringConvertible {
        var label: String
        var model: String?
        var responseModel: String? = nil
        var priceBy: PriceBy = .requested
        var usage: UsageDetails
        var parameters: JSONValue? = nil
        var metadata: [String: JSONValue] = [:]
        var start = "2026-11-23T12:00:00Z"
        /// nil: nothing can be priced.
        var totalNanos: Int64?
        var modelID: String? = nil
        var tier: String? = nil
        var perKey: [String: Int64]? = nil
        var description: String { label }
    }

    static let builtin: [Case] = [
        Case(
            label: "gpt-4.1-mini 800/120 (0.40, 1.60)", model: "gpt-4.1-mini",
            usage: ["input": 800, "output": 120, "total": 920],
            totalNanos: 320_000 + 192_000, modelID: "gpt-4.1-mini", perKey: ["input": 320_000, "output": 192_000]),
        Case(
            label: "provider prefix", model: "openai/gpt-4.1-mini", usage: ["input": 800, "output": 120],
            totalNanos: 512_000, modelID: "gpt-4.1-mini"),
        Case(
            label: "dated suffix", model: "gpt-4.1-mini-2025-04-14", usage: ["input": 800, "output": 120],
            totalNanos: 512_000, modelID: "gpt-4.1-mini"),
        Case(
            label: "case-insensitive", model: "GPT-4.1-MINI", usage: ["input": 800, "output": 120], totalNanos: 512_000,
            modelID: "gpt-4.1-mini"),
        Case(
            label: "azure/gpt-4o (2.50, 10)", model: "azure/gpt-4o", usage: ["input": 1000, "output": 100],
            totalNanos: 2_500_000 + 1_000_000, modelID: "gpt-4o"),
        Case(
            label: "gpt-4o priority tier (4.25, 17)", model: "gpt-4o", usage: ["input": 1000, "output": 100],
            parameters: ["service_tier": "priority"], totalNanos: 4_250_000 + 1_700_000, modelID: "gpt-4o",
            tier: "Priority"),
        Case(
            label: "gpt-4o default service_tier", model: "gpt-4o", usage: ["input": 1000, "output": 100],
            parameters: ["service_tier": "default"], totalNanos: 3_500_000, modelID: "gpt-4o"),
        Case(
            label: "gpt-4o cached (1.25)", model: "gpt-4o",
            usage: ["input": 1000, "cache_read_input_tokens": 2000, "output": 100],
            totalNanos: 2_500_000 + 2_500_000 + 1_000_000,
            perKey: ["input": 2_500_000, "cache_read_input_tokens": 2_500_000, "output": 1_000_000]),
        Case(
            label: "gpt-4o-mini one token each (0.15, 0.60)", model: "gpt-4o-mini", usage: ["input": 1, "output": 1],
            totalNanos: 150 + 600),
        Case(label: "gpt-4o-mini 3 input", model: "gpt-4o-mini", usage: ["input": 3], totalNanos: 450),
        Case(
            label: "gpt-4.1-nano cached only (0.025)", model: "gpt-4.1-nano", usage: ["input_cached_tokens": 1],
            totalNanos: 25),
        Case(
            label: "gpt-4.1-nano input + cached", model: "gpt-4.1-nano", usage: ["input": 1, "input_cached_tokens": 1],
            totalNanos: 100 + 25),
        Case(
            label: "gpt-5 flex (0.625, 5)", model: "gpt-5", usage: ["input": 1000, "output": 1000],
            parameters: ["service_tier": "flex"],
            totalNanos: 625_000 + 5_000_000, tier: "Flex"),
        Case(
            label: "gpt-5 priority (2.50, 20)", model: "gpt-5", usage: ["input": 1000, "output": 1000],
            parameters: ["service_tier": "priority"],
            totalNanos: 2_500_000 + 20_000_000, tier: "Priority"),
        Case(
            label: "gpt-5 reasoning billed at output (1.25, 10)", model: "gpt-5",
            usage: ["input": 100, "output": 50, "output_reasoning_tokens": 200],
            totalNanos: 125_000 + 500_000 + 2_000_000,
            perKey: ["input": 125_000, "output": 500_000, "output_reasoning_tokens": 2_000_000]),
        Case(label: "gpt-5-nano cached (0.005)", model: "gpt-5-nano", usage: ["input_cached_tokens": 1], totalNanos: 5),
        Case(label: "gpt-5-nano input (0.05)", model: "gpt-5-nano", usage: ["input": 1], totalNanos: 50),
        Case(
            label: "o1 reasoning_tokens (15, 60)", model: "o1",
            usage: ["input": 10, "output": 10, "reasoning_tokens": 10],
            totalNanos: 150_000 + 600_000 + 600_000),
        Case(
            label: "o3 flex (1.00)", model: "o3", usage: ["input": 1000], parameters: ["service_tier": "flex"],
            totalNanos: 1_000_000, tier: "Flex"),
        Case(
            label: "o4-mini cached (1.10, 0.275)", model: "o4-mini", usage: ["input": 1, "input_cached_tokens": 1],
            totalNanos: 1_100 + 275),
        Case(
            label: "Azure gpt-35-turbo (0.50, 1.50)", model: "gpt-35-turbo", usage: ["input": 1000, "output": 1000],
            totalNanos: 500_000 + 1_500_000, modelID: "gpt-3.5-turbo"),
        Case(
            label: "text-embedding-3-small total price (0.02)", model: "text-embedding-3-small",
            usage: ["input": 9, "total": 9], totalNanos: 180),
        Case(
            label: "text-embedding-3-large without total (0.13)", model: "text-embedding-3-large",
            usage: ["input": 1000], totalNanos: 130_000),
        Case(
            label: "text-embedding-ada-002 (0.10)", model: "text-embedding-ada-002", usage: ["total": 50],
            totalNanos: 5_000),
        Case(
            label: "claude-sonnet-4-5 (3, 15)", model: "claude-sonnet-4-5", usage: ["input": 1000, "output": 100],
            totalNanos: 3_000_000 + 1_500_000, modelID: "claude-sonnet-4-5"),
        Case(
            label: "claude dated", model: "claude-sonnet-4-5-20250929", usage: ["input": 1000, "output": 100],
            totalNanos: 4_500_000, modelID: "claude-sonnet-4-5"),
        Case(
            label: "Bedrock spelling", model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
            usage: ["input": 1000, "output": 100], totalNanos: 4_500_000, modelID: "claude-sonnet-4-5"),
        Case(
            label: "Bedrock regional", model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            usage: ["input": 1000, "output": 100], totalNanos: 4_500_000, modelID: "claude-sonnet-4-5"),
        Case(
            label: "Vertex spelling", model: "claude-sonnet-4-5@20250929", usage: ["input": 1000, "output": 100],
            totalNanos: 4_500_000, modelID: "claude-sonnet-4-5"),
        Case(
            label: "claude cache read 0.30, write 3.75", model: "claude-sonnet-4-5",
            usage: ["input": 100, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 1000, "output": 10],
            totalNanos: 300_000 + 300_000 + 3_750_000 + 150_000),
        Case(
            label: "claude 1h cache write (6)", model: "claude-sonnet-4-5", usage: ["input_cache_creation_1h": 1000],
            totalNanos: 6_000_000),
        Case(
            label: "claude long context over 200k (6, 22.5, 0.60)", model: "claude-sonnet-4-5",
            usage: ["input": 150_000, "cache_read_input_tokens": 60_000, "output": 1000],
            totalNanos: 900_000_000 + 36_000_000 + 22_500_000, tier: "Long context (>200k input)"),
        Case(
            label: "claude exactly 200k stays default", model: "claude-sonnet-4-5", usage: ["input": 200_000],
            totalNanos: 600_000_000, tier: nil),
        Case(
            label: "claude-haiku-4-5 (1, 5)", model: "claude-haiku-4-5", usage: ["input": 1, "output": 1],
            totalNanos: 1_000 + 5_000),
        Case(
            label: "claude-3-5-haiku dated (0.80, 4)", model: "claude-3-5-haiku-20241022",
            usage: ["input": 1000, "output": 1000], totalNanos: 800_000 + 4_000_000),
        Case(
            label: "claude-opus-4-1 (15, 75)", model: "claude-opus-4-1", usage: ["input": 1, "output": 1],
            totalNanos: 15_000 + 75_000),
        Case(
            label: "gemini-2.5-pro (1.25, 10)", model: "gemini-2.5-pro", usage: ["input": 1000, "output": 100],
            totalNanos: 1_250_000 + 1_000_000),
        Case(
            label: "google/ prefix", model: "google/gemini-2.5-pro", usage: ["input": 1000, "output": 100],
            totalNanos: 2_250_000, modelID: "gemini-2.5-pro"),
        Case(
            label: "gemini-2.5-pro long context (2.50, 15)", model: "gemini-2.5-pro",
            usage: ["input": 250_000, "output": 1000],
            totalNanos: 625_000_000 + 15_000_000, tier: "Long context (>200k input)"),
        Case(
            label: "gemini-2.5-flash audio (0.30, 1.00, 2.50)", model: "gemini-2.5-flash",
            usage: ["input": 100, "input_audio_tokens": 100, "output": 10],
            totalNanos: 30_000 + 100_000 + 25_000),
        Case(
            label: "gemini-2.0-flash (0.10, 0.40)", model: "gemini-2.0-flash", usage: ["input": 1000, "output": 1000],
            totalNanos: 500_000),
        Case(
            label: "gemini version suffix", model: "gemini-2.0-flash-001", usage: ["input": 1000, "output": 1000],
            totalNanos: 500_000, modelID: "gemini-2.0-flash"),
        Case(
            label: "mistral-large-latest (2, 6)", model: "mistral-large-latest",
            usage: ["input": 1000, "output": 1000], totalNanos: 8_000_000),
        Case(
            label: "mistral-small dated (0.10, 0.30)", model: "mistral/mistral-small-2503",
            usage: ["input": 1000, "output": 1000], totalNanos: 400_000),
        Case(
            label: "Llama 3.3 70B on Bedrock (0.72)", model: "us.meta.llama3-3-70b-instruct-v1:0",
            usage: ["input": 1000, "output": 1000], totalNanos: 1_440_000),
        Case(
            label: "Llama 4 Maverick on Bedrock (0.24, 0.97)", model: "meta.llama4-maverick-17b-instruct-v1:0",
            usage: ["input": 1000, "output": 1000], totalNanos: 1_210_000),
        Case(label: "unknown model", model: "my-local-llm", usage: ["input": 1000], totalNanos: nil),
        Case(label: "no usage", model: "gpt-4.1-mini", usage: [:], totalNanos: nil),
        Case(label: "no model", model: nil, usage: ["input": 10], totalNanos: nil),
        Case(label: "only unpriced keys", model: "gpt-4.1-mini", usage: ["images": 5], totalNanos: nil),
        Case(
            label: "requested model billed by default", model: "gpt-4.1-mini", responseModel: "gpt-4.1",
            usage: ["input": 1000, "output": 100],
            totalNanos: 400_000 + 160_000, modelID: "gpt-4.1-mini"),
        Case(
            label: "response model when configured (2, 8)", model: "gpt-4.1-mini", responseModel: "gpt-4.1",
            priceBy: .response,
            usage: ["input": 1000, "output": 100], totalNanos: 2_000_000 + 800_000, modelID: "gpt-4.1"),
        Case(
            label: "unpriced requested model falls back to the dated response model", model: "my-router",
            responseModel: "gpt-4.1-mini-2025-04-14", usage: ["input": 1000, "output": 100], totalNanos: 560_000,
            modelID: "gpt-4.1-mini"),
    ]

    func observation(_ c: Case) -> Observation {
        var o = Observation(
            id: "o", traceID: "t", type: .generation, startTime: Timestamp(iso8601: c.start)!, isPlaceholder: false)
        o.model = c.model
        o.responseModel = c.responseModel
        o.usage = c.usage
        o.modelParameters = c.parameters
        o.metadata = c.metadata
        return o
    }

    func check(_ c: Case, table: PriceTable) throws {
        let priced = try CostEngine.price(observation(c), table: table, priceBy: c.priceBy)
        #expect(priced?.totalNanos == c.totalNanos, "\(c.label)")
        if let id = c.modelID { #expect(priced?.modelID == id, "\(c.label)") }
        if c.totalNanos != nil { #expect(priced?.tierName == c.tier, "\(c.label)") }
        if let perKey = c.perKey { #expect(priced?.costNanos == perKey, "\(c.label)") }
    }

    @Test("built-in prices", arguments: builtin)
    func builtinPrices(_ c: Case) throws {
        try check(c, table: PriceTable())
    }

    @Test("the built-in file is valid and covers every provider family")
    func builtinFile() throws {
        try BuiltinPrices.validate()
        #expect(BuiltinPrices.models.count >= 50)
        let ids = Set(BuiltinPrices.models.map(\.id))
        for id in [
            "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "mistral-large", "llama-3.3-70b-instruct",
            "text-embedding-3-small",
        ] {
            #expect(ids.contains(id))
        }
    }

    static let custom = try! ModelPrice(
        json: [
            "id": "custom-mini", "modelName": "gpt-4.1-mini", "matchPattern": "(?i)^gpt-4\\.1-mini$",
            "prices": ["input": 0.000001, "output": 0.000002],
        ], projectID: "p")

    @Test("a project model overrides the built-in one")
    func projectOverride() throws {
        try check(
            Case(
                label: "override", model: "gpt-4.1-mini", usage: ["input": 1000, "output": 100],
                totalNanos: 1_000_000 + 200_000, modelID: "custom-mini"),
            table: PriceTable(projectModels: [Self.custom]))
        // Other models still use the built-in list.
        try check(
            Case(label: "others", model: "gpt-4o-mini", usage: ["input": 1], totalNanos: 150),
            table: PriceTable(projectModels: [Self.custom]))
    }

    @Test("with built-in prices switched off only project models price")
    func builtinOff() throws {
        let table = PriceTable(projectModels: [Self.custom], builtinEnabled: false)
        try check(Case(label: "own", model: "gpt-4.1-mini", usage: ["input": 1], totalNanos: 1_000), table: table)
        try check(Case(label: "builtin off", model: "gpt-4o", usage: ["input": 1000], totalNanos: nil), table: table)
    }

    @Test("startDate is honoured: the price in force at the observation's start applies")
    func startDate() throws {
        let v1 = try ModelPrice(
            json: ["id": "acme-v1", "matchPattern": "(?i)^acme-llm$", "prices": ["input": 0.000001]], projectID: "p")
        let v2 = try ModelPrice(
            json: [
                "id": "acme-v2", "matchPattern": "(?i)^acme-llm$", "startDate": "2026-06-01T00:00:00Z",
                "prices": ["input": 0.000002],
            ],
            projectID: "p")
        let table = PriceTable(projectModels: [v2, v1])
        try check(
            Case(
                label: "before", model: "acme-llm", usage: ["input": 1000], start: "2026-03-01T00:00:00Z",
                totalNanos: 1_000_000, modelID: "acme-v1"), table: table)
        try check(
            Case(
                label: "after", model: "acme-llm", usage: ["input": 1000], start: "2026-07-01T00:00:00Z",
                totalNanos: 2_000_000, modelID: "acme-v2"), table: table)
    }

    @Test("a metadata condition selects a tier")
    func metadataTier() throws {
        let model = try ModelPrice(
            json: [
                "id": "regional", "matchPattern": "(?i)^regional-llm$", "prices": ["input": 0.000001],
                "tiers": [
                    [
                        "name": "EU", "priority": 1,
                        "conditions": [["source": "metadata", "key": "region", "operator": "in", "values": ["eu"]]],
                        "prices": ["input": 0.000002],
                    ]
                ],
            ], projectID: "p")
        let table = PriceTable(projectModels: [model])
        try check(
            Case(
                label: "eu", model: "regional-llm", usage: ["input": 10], metadata: ["region": "eu"],
                totalNanos: 20_000, tier: "EU"), table: table)
        try check(
            Case(
                label: "us", model: "regional-llm", usage: ["input": 10], metadata: ["region": "us"], totalNanos: 10_000
            ), table: table)
    }

    @Test("a cost the client gave always wins; a partial update prices once usage arrives; re-pricing is stable")
    func providedAndPartial() throws {
        var given = observation(
            Case(label: "", model: "gpt-4.1-mini", usage: ["input": 800, "output": 120], totalNanos: nil))
        given.providedCost = ["total": 1.0]
        try given.applyPricing(PriceTable(), priceBy: .requested)
        #expect(given.cost == ["total": 1.0])
        #expect(given.costSource == "provided")
        #expect(given.pricedModelID == nil)

        var create = ObservationUpsert(id: "g", type: .generation, isUpdate: false)
        create.model = "gpt-4.1-mini"
        create.traceID = "t"
        let t0 = Timestamp(microseconds: 1_800_000_000_000_000)
        var o = Observation.merge(nil, create, eventTime: t0, newTraceID: { "x" })
        try o.applyPricing(PriceTable(), priceBy: .requested)
        #expect(o.cost.isEmpty)
        var update = ObservationUpsert(id: "g", type: .generation, isUpdate: true)
        update.usage = ["input": 800, "output": 120, "total": 920]
        o = Observation.merge(o, update, eventTime: t0, newTraceID: { "x" })
        try o.applyPricing(PriceTable(), priceBy: .requested)
        #expect(o.cost == ["input": 0.00032, "output": 0.000192, "total": 0.000512])
        #expect(o.costSource == "inferred")
        #expect(o.unitPrices == ["input": 4e-7, "output": 1.6e-6])
        let again = o
        try o.applyPricing(PriceTable(), priceBy: .requested)
        #expect(o == again)
    }

    @Test("cache savings: cache-read tokens priced as fresh input minus the cost; a cache_hit call's whole list price")
    func cacheSavings() throws {
        let table = PriceTable()
        // gpt-4o: input 2.50, cached 1.25, output 10 per 1M. 2,000 cached tokens saved 2,000 × 1.25 µUSD.
        var cached = observation(
            Case(label: "", model: "gpt-4o", usage: ["input": 1000, "cache_read_input_tokens": 2000, "output": 100]))
        try cached.applyPricing(table, priceBy: .requested)
        #expect(cached.totals.totalCost == 0.006)
        #expect(cached.savingsNanos == 2_500_000)
        // The same call with a cost the client gave: list (1000 + 2000) × 2.50 + 100 × 10 = 8,500 µUSD − 7,000.
        var provided = cached
        provided.providedCost = ["total": 0.007]
        try provided.applyPricing(table, priceBy: .requested)
        #expect(provided.savingsNanos == 1_500_000)
        // A semantic cache answered (cache_hit, cost 0): the whole list price was saved.
        var hit = observation(
            Case(label: "", model: "gpt-4o", usage: ["input": 1000, "output": 100], metadata: ["cache_hit": true]))
        hit.providedCost = ["total": 0]
        try hit.applyPricing(table, priceBy: .requested)
        #expect(hit.savingsNanos == 3_500_000)
        hit.metadata = ["cache_hit": "TRUE"]
        try hit.applyPricing(table, priceBy: .requested)
        #expect(hit.savingsNanos == 3_500_000)
        // No cache, a cache_hit false, or no list price for the model: no saving.
        for (model, metadata): (String, [String: JSONValue]) in [
            ("gpt-4o", [:]), ("gpt-4o", ["cache_hit": false]), ("no-such-model", ["cache_hit": true]),
        ] {
            var o = observation(
                Case(label: "", model: model, usage: ["input": 1000, "output": 100], metadata: metadata))
            try o.applyPricing(table, priceBy: .requested)
            #expect(o.savingsNanos == nil, "\(model) \(metadata)")
        }
        // A cost above the list price saves nothing (never negative).
        var dear = hit
        dear.providedCost = ["total": 1]
        try dear.applyPricing(table, priceBy: .requested)
        #expect(dear.savingsNanos == 0)
        // A cost past any range (refused afterwards by checkLimits) is compared clamped, never trapping.
        for absurd in [1e300, .infinity, -.infinity, .nan] {
            dear.providedCost = ["total": absurd]
            try dear.applyPricing(table, priceBy: .requested)
            #expect(dear.savingsNanos != nil)
        }
    }

    @Test("money never drifts: a million one-token costs sum to exactly a million times one")
    func noDrift() throws {
        let one = try CostEngine.nanos(units: 1, picos: 150_000, model: "m", key: "input")  // 0.15 µUSD
        #expect(one == 150)
        #expect((0..<1_000_000).reduce(Int64(0)) { sum, _ in sum + one } == 150_000_000)
    }

    @Test("a priced cost past 10^6 USD, or units × price past Int64, is refused instead of saturating or trapping")
    func pricedCostLimit() throws {
        #expect(throws: CostEngine.LimitExceeded.self) {
            try CostEngine.nanos(units: Int64.max / 2, picos: 1_000_000, model: "m", key: "input")
        }
        // 10^12 units at 1 µUSD each = 10^6 USD: exactly the limit is accepted, one unit more is not.
        #expect(
            try CostEngine.nanos(units: 1_000_000_000_000, picos: 1_000_000, model: "m", key: "input")
                == NumericLimits.maxCostNanos)
        #expect(throws: CostEngine.LimitExceeded.self) {
            try CostEngine.nanos(units: 1_000_000_000_001, picos: 1_000_000, model: "m", key: "input")
        }
        var o = Observation(
            id: "g", traceID: "t", type: .generation, startTime: Timestamp(microseconds: 1_800_000_000_000_000),
            isPlaceholder: false)
        o.model = "gpt-4o"
        o.usage = ["input": NumericLimits.maxUnits, "output": NumericLimits.maxUnits]
        #expect(throws: CostEngine.LimitExceeded.self) { try o.applyPricing(PriceTable(), priceBy: .requested) }
        #expect(o.costSource == nil)
    }

    @Test("malformed models are refused with a message naming the problem")
    func invalidModels() {
        for (json, message) in [
            (["id": "x", "prices": ["input": 1e-6]] as JSONValue, "matchPattern is required"),
            (["id": "x", "matchPattern": "([", "prices": ["input": 1e-6]], "not a valid regular expression"),
            (["id": "x", "matchPattern": "x", "prices": [:]], "prices must be"),
            (["id": "x", "matchPattern": "x", "prices": ["gold": 1e-6]], "unknown price key"),
            (["id": "x", "matchPattern": "x", "prices": ["input": -1]], "must be a number"),
            (["id": "x", "matchPattern": "x", "startDate": "soon", "prices": ["input": 1e-6]], "startDate"),
        ] {
            do {
                _ = try ModelPrice(json: json, projectID: "p")
                Issue.record("expected an error for \(json.serialized())")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
    }
}
