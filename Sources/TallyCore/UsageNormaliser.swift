/// Turns the usage shapes SDKs send into Langfuse usage keys (COMPAT §2.4, §2.5) and client costs into cost keys.
///
/// - legacy `usage`: `{input, output, total, unit, inputCost, outputCost, totalCost}` or camelCase OpenAI
///   `{promptTokens, completionTokens, totalTokens}`;
/// - `usageDetails`: OpenAI Chat Completions or Responses usage (detail keys become `input_<k>`/`output_<k>` and are
///   subtracted from input/output, floored at 0), or a free map key → non-negative integer;
/// - `usageDetails` keys are laid over `usage`, `costDetails` over the legacy costs;
/// - a missing `total` becomes the sum of the other keys.
public enum UsageNormaliser {
    public struct Result: Sendable, Hashable {
        public var usage: UsageDetails?
        public var cost: CostDetails?
    }

    public static func normalise(usage: JSONValue?, usageDetails: JSONValue?, costDetails: JSONValue?) throws -> Result
    {
        var units: UsageDetails = [:]
        var costs: CostDetails = [:]
        let detailsGiven = usageDetails.map { !$0.isEmptyForMerge } ?? false

        if let usage, !usage.isNull {
            guard case .object(let u) = usage else {
                throw IngestionError.invalid("body.usage: expected an object, got \(FieldReader.describe(usage))")
            }
            if u["prompt_tokens"] != nil || u["input_tokens"] != nil || u["completion_tokens"] != nil {
                units = try openAIUsage(u, path: "body.usage") ?? [:]
            } else if u["promptTokens"] != nil || u["completionTokens"] != nil || u["totalTokens"] != nil {
                for (from, to) in [("promptTokens", "input"), ("completionTokens", "output"), ("totalTokens", "total")]
                {
                    if let v = try count(u[from], "body.usage.\(from)") { units[to] = v }
                }
            } else {
                for key in ["input", "output", "total"] {
                    if let v = try count(u[key], "body.usage.\(key)") { units[key] = v }
                }
                for (from, to) in [("inputCost", "input"), ("outputCost", "output"), ("totalCost", "total")] {
                    if let v = try money(u[from], "body.usage.\(from)") { costs[to] = v }
                }
            }
            if units["total"] == nil, !detailsGiven, !units.isEmpty {
                units["total"] = try sum([units["input"] ?? 0, units["output"] ?? 0], "body.usage")
            }
        }

        if let usageDetails, !usageDetails.isNull {
            guard case .object(let d) = usageDetails else {
                throw IngestionError.invalid(
                    "body.usageDetails: expected an object, got \(FieldReader.describe(usageDetails))")
            }
            let overlay = try openAIUsage(d, path: "body.usageDetails") ?? freeUsage(d, path: "body.usageDetails")
            units.merge(overlay) { _, new in new }
        }

        if let costDetails, !costDetails.isNull {
            guard case .object(let c) = costDetails else {
                throw IngestionError.invalid(
                    "body.costDetails: expected an object, got \(FieldReader.describe(costDetails))")
            }
            try checkKeyCount(c.count, "body.costDetails")
            for (key, value) in c {
                // Negative or non-numeric entries are dropped, as before; a cost past the limit refuses the event.
                guard let d = value.doubleValue, d >= 0, d.isFinite else { continue }
                costs[key] = try money(.double(d), "body.costDetails.\(key)")
            }
        }

        try checkKeyCount(units.count, "usage")
        if !units.isEmpty, units["total"] == nil { units["total"] = try sum(units.values, "usage") }
        if !costs.isEmpty, costs["total"] == nil {
            costs["total"] = NumericLimits.decimalSum(costs.values)
        }
        if let total = costs["total"], total > NumericLimits.maxCostUSD {
            throw IngestionError.invalid(
                "cost: the total \(JSONValue.double(total).serialized()) USD exceeds the limit of "
                    + "\(Int64(NumericLimits.maxCostUSD)) USD per observation")
        }
        return Result(usage: units.isEmpty ? nil : units, cost: costs.isEmpty ? nil : costs)
    }

    /// OpenAI Chat Completions (`prompt_tokens`…) or Responses (`input_tokens`…) usage; nil when `d` is neither
    /// (any key outside the shape makes it a free map).
    static func openAIUsage(_ d: [String: JSONValue], path: String) throws -> UsageDetails? {
        let shapes: [(input: String, output: String, inDetails: String, outDetails: String)] = [
            ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"),
            ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"),
        ]
        for shape in shapes {
            let allowed: Set<String> = [shape.input, shape.output, "total_tokens", shape.inDetails, shape.outDetails]
            guard d[shape.input] != nil || d[shape.output] != nil, Set(d.keys).isSubset(of: allowed) else { continue }
            var out: UsageDetails = [:]
            var input = try units(d[shape.input], "\(path).\(shape.input)")
            var output = try units(d[shape.output], "\(path).\(shape.output)")
            for (detailsKey, prefix) in [(shape.inDetails, "input"), (shape.outDetails, "output")] {
                guard case .object(let details)? = d[detailsKey] else { continue }
                try checkKeyCount(details.count, "\(path).\(detailsKey)")
                for (k, v) in details {
                    guard let n = try units(v, "\(path).\(detailsKey).\(k)") else { continue }
                    out["\(prefix)_\(k)"] = n
                    // Both sides are in 0…maxUnits: the difference cannot overflow.
                    if prefix == "input", let i = input { input = max(0, i - n) }
                    if prefix == "output", let o = output { output = max(0, o - n) }
                }
            }
            if let input { out["input"] = input }
            if let output { out["output"] = output }
            if let total = try units(d["total_tokens"], "\(path).total_tokens") { out["total"] = total }
            return out
        }
        return nil
    }

    /// A free usage map: whole numbers in 0…`NumericLimits.maxUnits` (numeric strings parsed); entries that are
    /// not counts at all are dropped; a count above the limit refuses the event.
    static func freeUsage(_ d: [String: JSONValue], path: String) throws -> UsageDetails {
        try checkKeyCount(d.count, path)
        var out: UsageDetails = [:]
        for (k, v) in d {
            if let n = try units(v, "\(path).\(k)") { out[k] = n }
        }
        return out
    }

    /// A count of units, or nil for a value that is no count (negative, fractional, text); throws, naming `path`,
    /// for a count above `NumericLimits.maxUnits`.
    public static func units(_ v: JSONValue?, _ path: String) throws -> Int64? {
        do {
            return try NumericLimits.units(v)
        } catch {
            throw IngestionError.invalid("\(path): \(error.found) is out of range; expected \(NumericLimits.unitsRange)")
        }
    }

    static func checkKeyCount(_ n: Int, _ path: String) throws {
        guard n <= NumericLimits.maxKeys else {
            throw IngestionError.invalid("\(path): \(n) keys; at most \(NumericLimits.maxKeys) are accepted")
        }
    }

    static func sum(_ values: some Sequence<Int64>, _ path: String) throws -> Int64 {
        guard let total = values.checkedSum() else {
            throw IngestionError.invalid("\(path): the units add up past the integer range")
        }
        return total
    }

    private static func count(_ v: JSONValue?, _ path: String) throws -> Int64? {
        guard let v, !v.isNull else { return nil }
        guard let n = try units(v, path) else {
            throw IngestionError.invalid("\(path): expected \(NumericLimits.unitsRange), got \(FieldReader.describe(v))")
        }
        return n
    }

    private static func money(_ v: JSONValue?, _ path: String) throws -> Double? {
        guard let v, !v.isNull else { return nil }
        guard let d = v.doubleValue, let usd = try? NumericLimits.cost(d) else {
            throw IngestionError.invalid("\(path): expected \(NumericLimits.costRange), got \(FieldReader.describe(v))")
        }
        return usd
    }
}
