import TallyCore

/// Observation-type inference (COMPAT §3.3): an ordered table; the first rule that yields a type wins, else SPAN.
enum ObservationTypeRules {
    typealias Rule = (name: String, infer: @Sendable (SpanView) -> ObservationType?)

    static let rules: [Rule] = [
        ("langfuse.observation.type", LangfuseRules.observationType),
        ("openinference.span.kind", OpenInferenceRules.observationType),
        ("gen_ai.operation.name", GenAIRules.observationType),
        ("gen_ai.tool.* present", GenAIRules.toolType),
        (
            "a model attribute present",
            { ModelRules.requested($0) != nil || ModelRules.response($0) != nil ? .generation : nil }
        ),
    ]

    static func infer(_ span: SpanView) -> ObservationType {
        for rule in rules {
            if let type = rule.infer(span) { return type }
        }
        return .span
    }
}

/// Requested and response model, across conventions.
enum ModelRules {
    /// The model asked for: Langfuse's own attribute, then the request model of each convention. OpenInference's
    /// `llm.model_name` is the model that answered (OpenAI's dated name, `gpt-4o-mini-2024-07-18`); the one asked
    /// for is `model` in `llm.invocation_parameters`, so that comes first.
    static func requested(_ s: SpanView) -> String? {
        s.string(Keys.Langfuse.model) ?? s.string(Keys.GenAI.requestModel) ?? invocationModel(s)
            ?? s.string(Keys.OpenInference.modelName) ?? s.string(Keys.OpenInference.embeddingModelName)
            ?? s.string(Keys.model)
    }

    /// The model that answered, when reported.
    static func response(_ s: SpanView) -> String? {
        s.string(Keys.GenAI.responseModel) ?? s.string(Keys.OpenInference.responseModel)
            ?? (invocationModel(s) != nil ? s.string(Keys.OpenInference.modelName) : nil)
    }

    /// `model` of OpenInference's `llm.invocation_parameters` (a JSON object), when a non-empty string.
    private static func invocationModel(_ s: SpanView) -> String? {
        guard case .string(let model)? = s.object(Keys.OpenInference.invocationParameters)?["model"], !model.isEmpty
        else { return nil }
        return model
    }
}
