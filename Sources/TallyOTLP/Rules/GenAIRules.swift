import TallyCore

/// OpenTelemetry GenAI semantic conventions (`gen_ai.*`), including the older span-event forms.
enum GenAIRules {
    static let operations: [String: ObservationType] = [
        "chat": .generation, "completion": .generation, "text_completion": .generation,
        "generate_content": .generation, "generate": .generation, "embeddings": .embedding,
        "invoke_agent": .agent, "create_agent": .agent, "execute_tool": .tool,
    ]

    static func observationType(_ s: SpanView) -> ObservationType? {
        s.string(Keys.GenAI.operationName).flatMap { operations[$0.lowercased()] }
    }

    static func toolType(_ s: SpanView) -> ObservationType? {
        s.hasAny([Keys.GenAI.toolName, Keys.GenAI.toolCallID]) ? .tool : nil
    }

    /// Every `gen_ai.request.*` but the model, prefix stripped.
    static func modelParameters(_ s: SpanView) -> JSONValue? {
        var out = s.attributes(withPrefix: Keys.GenAI.requestPrefix)
        out["model"] = nil
        return out.isEmpty ? nil : .object(out)
    }

    static func cost(_ s: SpanView) -> JSONValue? {
        s.double(Keys.GenAI.usageCost).map { ["total": .double($0)] }
    }

    /// Input from span events: the inference-details event, per-role message events, then the legacy
    /// `gen_ai.content.prompt` event.
    static func eventInput(_ s: SpanView) -> JSONValue? {
        if let details = s.events.first(where: { $0.name == Keys.GenAI.operationDetailsEvent }),
            let messages = details.attributes[Keys.GenAI.inputMessages]
        {
            return SpanView.decodeJSONString(messages)
        }
        let messages = s.events.filter { Keys.GenAI.messageEvents.contains($0.name) }.map { event -> JSONValue in
            var message = event.attributes.mapValues(SpanView.decodeJSONString)
            if message["role"] == nil {
                message["role"] = .string(String(event.name.dropFirst("gen_ai.".count).dropLast(".message".count)))
            }
            return .object(message)
        }
        if !messages.isEmpty { return .array(messages) }
        return s.events.first { $0.name == Keys.GenAI.contentPromptEvent }?.attributes[Keys.GenAI.promptAttribute]
            .map(SpanView.decodeJSONString)
    }

    static func eventOutput(_ s: SpanView) -> JSONValue? {
        if let details = s.events.first(where: { $0.name == Keys.GenAI.operationDetailsEvent }),
            let messages = details.attributes[Keys.GenAI.outputMessages]
        {
            return SpanView.decodeJSONString(messages)
        }
        let choices = s.events.filter { $0.name == Keys.GenAI.choiceEvent }.map {
            JSONValue.object($0.attributes.mapValues(SpanView.decodeJSONString))
        }
        if !choices.isEmpty { return choices.count == 1 ? choices[0] : .array(choices) }
        return s.events.first { $0.name == Keys.GenAI.contentCompletionEvent }?.attributes[
            Keys.GenAI.completionAttribute
        ]
        .map(SpanView.decodeJSONString)
    }

    /// `gen_ai.input.messages`, with `gen_ai.system_instructions` prepended as a system message.
    static func messagesInput(_ s: SpanView) -> JSONValue? {
        guard let messages = s.decoded(Keys.GenAI.inputMessages) else { return nil }
        guard let system = s.decoded(Keys.GenAI.systemInstructions), case .array(let list) = messages else {
            return messages
        }
        return .array([["role": "system", "parts": system]] + list)
    }

    static func messagesOutput(_ s: SpanView) -> JSONValue? { s.decoded(Keys.GenAI.outputMessages) }

    static func toolInput(_ s: SpanView) -> JSONValue? { s.decoded(Keys.GenAI.toolCallArguments) }
    static func toolOutput(_ s: SpanView) -> JSONValue? { s.decoded(Keys.GenAI.toolCallResult) }
}
