import TallyCore

/// `langfuse.*` attributes (COMPAT §3.4): what the Langfuse SDK v3+ (OTel based) sets. Values that hold JSON are
/// JSON-encoded strings from the SDK (`'"acme"'`) and raw strings from hand-instrumented apps (`'acme'`); both read.
enum LangfuseRules {
    static let types: [String: ObservationType] = [
        "span": .span, "generation": .generation, "event": .event, "embedding": .embedding, "agent": .agent,
        "tool": .tool, "chain": .chain, "retriever": .retriever, "guardrail": .guardrail, "evaluator": .evaluator,
    ]

    static func observationType(_ s: SpanView) -> ObservationType? {
        s.string(Keys.Langfuse.observationType).flatMap { types[$0.lowercased()] }
    }

    /// Level names and their aliases, case-insensitive.
    static let levels: [String: ObservationLevel] = [
        "debug": .debug, "trace": .debug, "verbose": .debug,
        "default": .default, "info": .default, "log": .default, "notice": .default, "ok": .default, "success": .default,
        "warning": .warning, "warn": .warning,
        "error": .error, "fatal": .error, "critical": .error,
    ]

    static func level(_ s: SpanView) -> ObservationLevel? {
        s.string(Keys.Langfuse.level).flatMap { levels[$0.lowercased()] }
    }

    static func input(_ s: SpanView) -> JSONValue? { s.decoded(Keys.Langfuse.input) }
    static func output(_ s: SpanView) -> JSONValue? { s.decoded(Keys.Langfuse.output) }

    /// `langfuse.observation.metadata` (a JSON object) plus every `langfuse.observation.metadata.<key>`, and the
    /// legacy `langfuse.metadata[.<key>]`.
    static func observationMetadata(_ s: SpanView) -> [String: JSONValue] {
        var out = s.object(Keys.Langfuse.legacyMetadata) ?? [:]
        for (k, v) in s.attributes(withPrefix: Keys.Langfuse.legacyMetadataPrefix) {
            out[k] = SpanView.decodeJSONString(v)
        }
        for (k, v) in s.object(Keys.Langfuse.observationMetadata) ?? [:] { out[k] = v }
        for (k, v) in s.attributes(withPrefix: Keys.Langfuse.observationMetadataPrefix) {
            out[k] = SpanView.decodeJSONString(v)
        }
        return out
    }

    static func traceMetadata(_ s: SpanView) -> [String: JSONValue] {
        var out = s.object(Keys.Langfuse.traceMetadata) ?? [:]
        for (k, v) in s.attributes(withPrefix: Keys.Langfuse.traceMetadataPrefix) {
            out[k] = SpanView.decodeJSONString(v)
        }
        return out
    }

    static func modelParameters(_ s: SpanView) -> JSONValue? {
        s.object(Keys.Langfuse.modelParameters).map(JSONValue.object)
    }

    static func usage(_ s: SpanView) -> JSONValue? { s.object(Keys.Langfuse.usageDetails).map(JSONValue.object) }
    static func cost(_ s: SpanView) -> JSONValue? { s.object(Keys.Langfuse.costDetails).map(JSONValue.object) }

    /// ISO-8601, possibly JSON-quoted (`'"2026-11-23T12:39:22.196987Z"'`).
    static func completionStartTime(_ s: SpanView) -> Timestamp? {
        guard case .string(let text)? = s.decoded(Keys.Langfuse.completionStartTime) else { return nil }
        return Timestamp(iso8601: text)
    }

    static func prompt(_ s: SpanView) -> (name: String, version: Int)? {
        for (nameKey, versionKey) in [
            (Keys.Langfuse.promptName, Keys.Langfuse.promptVersion),
            (Keys.Langfuse.legacyPromptName, Keys.Langfuse.legacyPromptVersion),
        ] {
            if let name = s.string(nameKey), let version = s.int(versionKey), let v = Int(exactly: version) {
                return (name, v)
            }
        }
        return nil
    }

    static func isPublic(_ s: SpanView) -> Bool? {
        for key in [Keys.Langfuse.tracePublic, Keys.Langfuse.isPublic] {
            switch s.attributes[key] {
            case .bool(let b)?: return b
            case .string(let str)?: return str.lowercased() == "true"
            default: continue
            }
        }
        return nil
    }
}
