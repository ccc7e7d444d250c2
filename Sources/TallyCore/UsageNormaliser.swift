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
                units = openAIUsage(u) ?? [:]
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
                units["total"] = (units["input"] ?? 0) + (units["output"] ?? 0)
            }
        }

        if let usageDetails, !usageDetails.isNull {
            guard case .object(let d) = usageDetails else {
                throw IngestionError.invalid(
                    "body.usageDetails: expected an object, got \(FieldReader.describe(usageDetails))")
            }
            let overlay = openAIUsage(d) ?? freeUsage(d)
            units.merge(overlay) { _, new in new }
        }

        if let costDetails, !costDetails.isNull {
            guard case .object(let c) = costDetails else {
                throw IngestionError.invalid(
                    "body.costDetails: expected an object, got \(FieldReader.describe(costDetails))")
            }
            for (key, value) in c {
                if let d = value.doubleValue, d >= 0, d.isFinite { costs[key] = d }
            }
        }

        if !units.isEmpty, units["total"] == nil { units["total"] = units.values.reduce(0, +) }
        if !costs.isEmpty, costs["total"] == nil { costs["total"] = costs.values.reduce(0, +) }
        return Result(usage: units.isEmpty ? nil : units, cost: costs.isEmpty ? nil : costs)
    }

    /// OpenAI Chat Completions (`prompt_tokens`…) or Responses (`input_tokens`…) usage; nil when `d` is neither
    /// (any key outside the shape makes it a free map).
    static func openAIUsage(_ d: [String: JSONValue]) -> UsageDetails? {
        let shapes: [(input: String, output: String, inDetails: String, outDetails: String)] = [
            ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"),
            ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"),
        ]
        for shape in shapes {
            let allowed: Set<String> = [shape.input, shape.output, "total_tokens", shape.inDetails, shape.outDetails]
            guard d[shape.input] != nil || d[shape.output] != nil, Set(d.keys).isSubset(of: allowed) else { continue }
            var out: UsageDetails = [:]
            var input = nonNegative(d[shape.input])
            var output = nonNegative(d[shape.output])
            for (detailsKey, prefix) in [(shape.inDetails, "input"), (shape.outDetails, "output")] {
                guard case .object(let details)? = d[detailsKey] else { continue }
                for (k, v) in details {
                    guard let n = nonNegative(v) else { continue }
                    out["\(prefix)_\(k)"] = n
                    if prefix == "input", let i = input { input = max(0, i - n) }
                    if prefix == "output", let o = output { output = max(0, o - n) }
                }
            }
            if let input { out["input"] = input }
            if let output { out["output"] = output }
            if let total = nonNegative(d["total_tokens"]) { out["total"] = total }
            return out
        }
        return nil
    }

    /// A free usage map: non-negative integers (numeric strings parsed); other entries dropped.
    static func freeUsage(_ d: [String: JSONValue]) -> UsageDetails {
        var out: UsageDetails = [:]
        for (k, v) in d {
            if let n = nonNegative(v) { out[k] = n }
        }
        return out
    }

    public static func nonNegative(_ v: JSONValue?) -> Int64? {
        switch v {
        case .int(let i)? where i >= 0: return i
        case .double(let d)? where d >= 0 && d == d.rounded() && d < 9e18: return Int64(d)
        case .string(let s)?: return Int64(s).flatMap { $0 >= 0 ? $0 : nil }
        default: return nil
        }
    }

    private static func count(_ v: JSONValue?, _ path: String) throws -> Int64? {
        guard let v, !v.isNull else { return nil }
        guard let n = nonNegative(v) else {
            throw IngestionError.invalid("\(path): expected a non-negative integer, got \(FieldReader.describe(v))")
        }
        return n
    }

    private static func money(_ v: JSONValue?, _ path: String) throws -> Double? {
        guard let v, !v.isNull else { return nil }
        guard let d = v.doubleValue, d >= 0, d.isFinite else {
            throw IngestionError.invalid("\(path): expected a non-negative number, got \(FieldReader.describe(v))")
        }
        return d
    }
}
