import Foundation

/// The price keys of a model. SDKs name usage in many ways (`cache_read_input_tokens`, `input_cached_tokens`, …);
/// `PriceKey(usageKey:)` maps each onto one of these.
public enum PriceKey: String, Sendable, CaseIterable, Codable {
    case input, output, total
    case cacheRead = "cache_read"
    case cacheWrite = "cache_write"
    case cacheWrite1h = "cache_write_1h"
    case reasoning
    case audioInput = "audio_input"
    case audioOutput = "audio_output"

    public static let aliases: [String: PriceKey] = [
        "input": .input, "input_tokens": .input, "prompt_tokens": .input, "prompt": .input,
        "prompt_token_count": .input, "promptTokenCount": .input, "input_text_tokens": .input,
        "output": .output, "output_tokens": .output, "completion_tokens": .output, "completion": .output,
        "candidates_token_count": .output, "candidatesTokenCount": .output, "output_text_tokens": .output,
        "total": .total,
        "cache_read": .cacheRead, "cache_read_input_tokens": .cacheRead, "input_cached_tokens": .cacheRead,
        "input_cache_read": .cacheRead, "cached_tokens": .cacheRead, "input_cached": .cacheRead,
        "cached_content_token_count": .cacheRead, "cachedContentTokenCount": .cacheRead,
        "cache_write": .cacheWrite, "cache_creation_input_tokens": .cacheWrite, "input_cache_creation": .cacheWrite,
        "input_cache_creation_5m": .cacheWrite, "input_cache_write": .cacheWrite,
        "cache_write_1h": .cacheWrite1h, "input_cache_creation_1h": .cacheWrite1h,
        "reasoning": .reasoning, "reasoning_tokens": .reasoning, "output_reasoning_tokens": .reasoning,
        "output_reasoning": .reasoning, "thoughts_token_count": .reasoning, "thoughtsTokenCount": .reasoning,
        "audio_input": .audioInput, "input_audio_tokens": .audioInput, "input_audio": .audioInput,
        "audio_output": .audioOutput, "output_audio_tokens": .audioOutput, "output_audio": .audioOutput,
    ]

    /// The price key a usage key is billed under, or nil for a key no price applies to.
    public init?(usageKey: String) {
        guard let key = Self.aliases[usageKey] else { return nil }
        self = key
    }

    /// When a model lists no price for this key, the key whose price applies instead (cached input at the input
    /// price, reasoning at the output price, …), so no tokens go unbilled.
    public var fallback: PriceKey? {
        switch self {
        case .cacheWrite1h: return .cacheWrite
        case .cacheRead, .cacheWrite, .audioInput: return .input
        case .reasoning, .audioOutput: return .output
        case .input, .output, .total: return nil
        }
    }
}

/// A price in pico-USD (1e-12 USD) per unit: every list price is an integer there, so units × price is exact.
public typealias Picos = Int64

/// When a pricing tier applies (COMPAT §5.1.3): all of its conditions must hold.
public enum TierCondition: Sendable, Hashable {
    public enum Comparison: String, Sendable, CaseIterable { case gt, gte, lt, lte, eq, neq }
    /// The sum of the usage units whose keys match `pattern` (found anywhere in the key; case-insensitive unless
    /// `caseSensitive`), compared to `value`.
    case usage(pattern: String, comparison: Comparison, value: Int64, caseSensitive: Bool = false)
    /// A top-level model parameter (`service_tier`) or metadata key equal to one of `values`.
    case attribute(source: AttributeSource, key: String, values: [String])

    public enum AttributeSource: String, Sendable { case modelParameters = "model_parameters", metadata }
}

public struct PricingTier: Sendable, Hashable {
    public var name: String
    /// Lower priorities are tried first; the default tier has none and applies when no other does.
    public var priority: Int
    public var conditions: [TierCondition]
    public var prices: [PriceKey: Picos]

    public init(name: String, priority: Int, conditions: [TierCondition], prices: [PriceKey: Picos]) {
        self.name = name
        self.priority = priority
        self.conditions = conditions
        self.prices = prices
    }
}

/// One model's prices: built in (from `model-prices.json`) or defined by a project.
public struct ModelPrice: Sendable, Hashable {
    public var id: String
    public var modelName: String
    /// A case-insensitive regular expression (ICU syntax, `(?i)` allowed) matched against the whole model name.
    public var matchPattern: String
    public var unit: String
    /// Prices apply to observations starting at or after this time; nil means always.
    public var startDate: Timestamp?
    /// The default tier's prices.
    public var prices: [PriceKey: Picos]
    public var tiers: [PricingTier]
    /// nil for a built-in model.
    public var projectID: String?
    public var source: String?
    /// When a project model was first stored; for a built-in one, the date its prices were checked (`checkedAt`).
    public var createdAt: Timestamp?
    /// Who sells the model (`openai`, `anthropic`, …), when the price file says.
    public var provider: String?

    public init(
        id: String, modelName: String, matchPattern: String, unit: String = "TOKENS", startDate: Timestamp? = nil,
        prices: [PriceKey: Picos], tiers: [PricingTier] = [], projectID: String? = nil, source: String? = nil
    ) {
        self.id = id
        self.modelName = modelName
        self.matchPattern = matchPattern
        self.unit = unit
        self.startDate = startDate
        self.prices = prices
        self.tiers = tiers.sorted { $0.priority < $1.priority }
        self.projectID = projectID
        self.source = source
    }

    public var isBuiltin: Bool { projectID == nil }
}

public enum PriceTableError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let m): return m
        }
    }
}

extension ModelPrice {
    /// Decodes one model in the price-file / models-API shape:
    /// `{id, modelName?, matchPattern, unit?, startDate?, prices{key: USD}, tiers[{name, priority, conditions, prices}]}`.
    /// Throws with a message naming the field on anything malformed, including an invalid regex.
    public init(json: JSONValue, projectID: String?) throws {
        guard case .object(let o) = json else { throw PriceTableError.invalid("a model must be an object") }
        guard let id = o["id"]?.stringValue ?? o["modelName"]?.stringValue, !id.isEmpty else {
            throw PriceTableError.invalid("model: id or modelName is required")
        }
        guard let pattern = o["matchPattern"]?.stringValue, !pattern.isEmpty else {
            throw PriceTableError.invalid("\(id): matchPattern is required")
        }
        try Self.checkPattern(pattern, "\(id): matchPattern")
        var start: Timestamp?
        if let s = o["startDate"], !s.isNull {
            guard let text = s.stringValue, let t = Timestamp(iso8601: text) else {
                throw PriceTableError.invalid("\(id): startDate must be an ISO-8601 date")
            }
            start = t
        }
        let prices = try Self.prices(o["prices"], context: id)
        var tiers: [PricingTier] = []
        for (index, tier) in (o["tiers"]?.arrayValue ?? []).enumerated() {
            guard case .object(let t) = tier else {
                throw PriceTableError.invalid("\(id): tiers[\(index)] must be an object")
            }
            let conditions = try (t["conditions"]?.arrayValue ?? []).map { try Self.condition($0, context: id) }
            let priority = t["priority"]?.doubleValue ?? Double(index + 1)
            guard priority == priority.rounded(), abs(priority) <= Double(NumericLimits.maxTierPriority) else {
                throw PriceTableError.invalid(
                    "\(id): tiers[\(index)].priority must be a whole number within ±\(NumericLimits.maxTierPriority)")
            }
            tiers.append(
                PricingTier(
                    name: t["name"]?.stringValue ?? "tier \(index + 1)",
                    priority: Int(priority), conditions: conditions,
                    prices: try Self.prices(t["prices"], context: "\(id) tier \(index + 1)")))
        }
        self.init(
            id: id, modelName: o["modelName"]?.stringValue ?? id, matchPattern: pattern,
            unit: o["unit"]?.stringValue ?? "TOKENS", startDate: start, prices: prices, tiers: tiers,
            projectID: projectID, source: o["source"]?.stringValue)
        createdAt = o["checkedAt"]?.stringValue.flatMap(Timestamp.init(iso8601:))
        provider = o["provider"]?.stringValue
    }

    /// A user-supplied pattern must compile and pass `RegexSafety`; `field` names it in the error.
    static func checkPattern(_ pattern: String, _ field: String) throws {
        guard pattern.count <= RegexSafety.maxPatternLength, PatternCache.shared.regex(pattern) != nil else {
            throw PriceTableError.invalid("\(field) is not a valid regular expression")
        }
        if let problem = RegexSafety.problem(pattern) {
            throw PriceTableError.invalid("\(field) is refused: \(problem)")
        }
    }

    static func prices(_ value: JSONValue?, context: String) throws -> [PriceKey: Picos] {
        guard case .object(let o)? = value, !o.isEmpty else {
            throw PriceTableError.invalid("\(context): prices must be a non-empty object of key → USD per unit")
        }
        var out: [PriceKey: Picos] = [:]
        for (key, price) in o {
            guard let k = PriceKey(rawValue: key) ?? PriceKey(usageKey: key) else {
                throw PriceTableError.invalid(
                    "\(context): unknown price key \(key); use one of "
                        + PriceKey.allCases.map(\.rawValue).joined(separator: ", "))
            }
            guard let usd = price.doubleValue, usd >= 0, usd < NumericLimits.maxPriceUSD else {
                throw PriceTableError.invalid("\(context): price of \(key) must be a number of USD per unit in [0, 1)")
            }
            out[k] = Money.picos(usd: usd)
        }
        return out
    }

    static func condition(_ value: JSONValue, context: String) throws -> TierCondition {
        guard case .object(let c) = value else {
            throw PriceTableError.invalid("\(context): a condition must be an object")
        }
        if let pattern = c["usageDetailPattern"]?.stringValue {
            try Self.checkPattern(pattern, "\(context): usageDetailPattern")
            guard let op = c["operator"]?.stringValue.flatMap(TierCondition.Comparison.init(rawValue:)),
                let v = c["value"]?.doubleValue, v.isFinite, abs(v) <= NumericLimits.maxTierValue
            else {
                throw PriceTableError.invalid(
                    "\(context): a usage condition needs operator (gt|gte|lt|lte|eq|neq) and a value within "
                        + "±\(Int64(NumericLimits.maxTierValue))")
            }
            var caseSensitive = false
            if let v = c["caseSensitive"], !v.isNull {
                guard case .bool(let flag) = v else {
                    throw PriceTableError.invalid("\(context): caseSensitive must be true or false")
                }
                caseSensitive = flag
            }
            return .usage(pattern: pattern, comparison: op, value: Int64(v.rounded()), caseSensitive: caseSensitive)
        }
        guard let source = c["source"]?.stringValue.flatMap(TierCondition.AttributeSource.init(rawValue:)),
            let key = c["key"]?.stringValue, let values = c["values"]?.arrayValue?.compactMap(\.stringValue)
        else {
            throw PriceTableError.invalid(
                "\(context): a condition needs usageDetailPattern, or source (model_parameters|metadata), key and values"
            )
        }
        return .attribute(source: source, key: key, values: values)
    }

    /// The model in the shape it was read from (prices in USD per unit).
    public var json: JSONValue {
        func usd(_ p: [PriceKey: Picos]) -> JSONValue {
            .object(
                Dictionary(
                    uniqueKeysWithValues: p.map { ($0.key.rawValue, JSONValue.double(Money.usd(picos: $0.value))) })
            )
        }
        return [
            "id": .string(id), "modelName": .string(modelName), "matchPattern": .string(matchPattern),
            "unit": .string(unit), "startDate": startDate.map { .string($0.iso8601) } ?? .null, "prices": usd(prices),
            "tiers": .array(
                tiers.map { tier in
                    [
                        "name": .string(tier.name), "priority": .int(Int64(tier.priority)),
                        "conditions": .array(tier.conditions.map(\.json)), "prices": usd(tier.prices),
                    ]
                }),
        ]
    }
}

extension TierCondition {
    public var json: JSONValue {
        switch self {
        case .usage(let pattern, let comparison, let value, let caseSensitive):
            return [
                "usageDetailPattern": .string(pattern), "operator": .string(comparison.rawValue), "value": .int(value),
                "caseSensitive": .bool(caseSensitive),
            ]
        case .attribute(let source, let key, let values):
            return [
                "source": .string(source.rawValue), "key": .string(key), "operator": "in",
                "values": .array(values.map { .string($0) }),
            ]
        }
    }
}

/// Compiled regular expressions by pattern text, shared process-wide (patterns come from a small set of models).
public final class PatternCache: @unchecked Sendable {
    public static let shared = PatternCache()
    private let lock = NSLock()
    private var compiled: [String: NSRegularExpression?] = [:]

    /// The compiled pattern, or nil if it is not a valid expression. A leading `(?i)` is honoured; matching is
    /// case-insensitive (always for model names) unless `caseSensitive`.
    public func regex(_ pattern: String, caseSensitive: Bool = false) -> NSRegularExpression? {
        let key = caseSensitive ? "\u{0}" + pattern : pattern  // a NUL never starts a stored pattern
        lock.lock()
        defer { lock.unlock() }
        if let hit = compiled[key] { return hit }
        if compiled.count >= 20_000 { compiled.removeAll() }  // bounded: patterns come from stored models
        let regex = try? NSRegularExpression(pattern: pattern, options: caseSensitive ? [] : [.caseInsensitive])
        compiled[key] = regex
        return regex
    }

    /// Longer model names or usage keys match no pattern: with `RegexSafety`'s rules this bounds the work of
    /// one match.
    public static let maxSubjectLength = 256

    /// True when `pattern` matches the whole of `text`.
    public func matchesWhole(_ pattern: String, _ text: String) -> Bool {
        guard text.utf8.count <= Self.maxSubjectLength, let regex = regex(pattern) else { return false }
        let range = NSRange(text.startIndex..., in: text)
        guard let match = regex.firstMatch(in: text, options: [.anchored], range: range) else { return false }
        return match.range == range
    }

    /// True when `pattern` is found anywhere in `text`.
    public func matchesAnywhere(_ pattern: String, _ text: String, caseSensitive: Bool = false) -> Bool {
        guard text.utf8.count <= Self.maxSubjectLength, let regex = regex(pattern, caseSensitive: caseSensitive)
        else { return false }
        return regex.firstMatch(in: text, options: [], range: NSRange(text.startIndex..., in: text)) != nil
    }
}
