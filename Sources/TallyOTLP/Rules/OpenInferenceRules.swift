import TallyCore

/// OpenInference (Arize Phoenix) attributes: span kinds, `llm.*`, flattened messages, `input.value`.
enum OpenInferenceRules {
    static let kinds: [String: ObservationType] = [
        "CHAIN": .chain, "RETRIEVER": .retriever, "LLM": .generation, "EMBEDDING": .embedding, "AGENT": .agent,
        "TOOL": .tool, "GUARDRAIL": .guardrail, "EVALUATOR": .evaluator,
    ]

    static func observationType(_ s: SpanView) -> ObservationType? {
        s.string(Keys.OpenInference.spanKind).flatMap { kinds[$0.uppercased()] }
    }

    static func modelParameters(_ s: SpanView) -> JSONValue? {
        s.object(Keys.OpenInference.invocationParameters).map(JSONValue.object)
    }

    /// `llm.cost.prompt/completion/total` → `input/output/total` (USD).
    static func cost(_ s: SpanView) -> JSONValue? {
        var out: [String: JSONValue] = [:]
        for (key, name) in [
            (Keys.OpenInference.costPrompt, "input"), (Keys.OpenInference.costCompletion, "output"),
            (Keys.OpenInference.costTotal, "total"),
        ] {
            if let v = s.double(key), v >= 0 { out[name] = .double(v) }
        }
        return out.isEmpty ? nil : .object(out)
    }

    /// `input.value`/`output.value`: JSON when the mime type says so (or the text parses as an object/array).
    static func value(_ s: SpanView, _ key: String, mimeKey: String) -> JSONValue? {
        guard let text = s.string(key) else { return nil }
        if s.string(mimeKey) == "application/json" || text.hasPrefix("{") || text.hasPrefix("[") {
            if let parsed = try? JSONValue.parse(text) { return parsed }
        }
        return .string(text)
    }

    static func input(_ s: SpanView) -> JSONValue? {
        value(s, Keys.OpenInference.inputValue, mimeKey: Keys.OpenInference.inputMimeType)
    }

    static func output(_ s: SpanView) -> JSONValue? {
        value(s, Keys.OpenInference.outputValue, mimeKey: Keys.OpenInference.outputMimeType)
    }

    /// `llm.input_messages.N.message.role/content` rebuilt into `[{role, content}]`.
    static func inputMessages(_ s: SpanView) -> JSONValue? {
        FlattenedList.rebuild(s.attributes(withPrefix: Keys.OpenInference.inputMessagesPrefix), stripping: "message.")
    }

    static func outputMessages(_ s: SpanView) -> JSONValue? {
        FlattenedList.rebuild(s.attributes(withPrefix: Keys.OpenInference.outputMessagesPrefix), stripping: "message.")
    }

    /// The single `metadata` attribute: a JSON object (carries tenant and feature).
    static func metadata(_ s: SpanView) -> [String: JSONValue]? { s.object(Keys.OpenInference.metadata) }
}

/// Rebuilds a list from flattened keys `N.field` (or `N.prefix.field`) → `[{field: value}]`, in index order.
enum FlattenedList {
    static let maxItems = 10_001

    static func rebuild(_ flat: [String: JSONValue], stripping prefix: String = "") -> JSONValue? {
        var items: [Int: [String: JSONValue]] = [:]
        for (key, value) in flat {
            let parts = key.split(separator: ".", maxSplits: 1)
            guard parts.count == 2, let index = Int(parts[0]), index >= 0, index < maxItems else { continue }
            var field = String(parts[1])
            if field.hasPrefix(prefix) { field = String(field.dropFirst(prefix.count)) }
            items[index, default: [:]][field] = SpanView.decodeJSONString(value)
        }
        guard !items.isEmpty else { return nil }
        return .array(items.keys.sorted().map { .object(items[$0]!) })
    }
}
