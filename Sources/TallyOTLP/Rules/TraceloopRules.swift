import TallyCore

/// Traceloop / OpenLLMetry / OpenLIT: `traceloop.entity.*` and flattened `gen_ai.prompt.N.*` messages.
enum TraceloopRules {
    static func entityInput(_ s: SpanView) -> JSONValue? { s.decoded(Keys.Traceloop.entityInput) }
    static func entityOutput(_ s: SpanView) -> JSONValue? { s.decoded(Keys.Traceloop.entityOutput) }

    static func promptMessages(_ s: SpanView) -> JSONValue? {
        FlattenedList.rebuild(s.attributes(withPrefix: Keys.GenAI.promptPrefix))
    }

    static func completionMessages(_ s: SpanView) -> JSONValue? {
        FlattenedList.rebuild(s.attributes(withPrefix: Keys.GenAI.completionPrefix))
    }
}
