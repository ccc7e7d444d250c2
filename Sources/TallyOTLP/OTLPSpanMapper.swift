import TallyCore

/// Turns OTLP spans into the same `IngestionEvent`s the Langfuse batch API produces (COMPAT §3.2), so both
/// protocols share one write path. Per span: one observation event, plus a trace event when the span is a root
/// (no parent, or `langfuse.internal.as_root`) or carries trace-level attributes. Each field is the first
/// non-empty result of its precedence chain; the chains list the rule of each ecosystem in Langfuse's order.
public struct OTLPSpanMapper: Sendable {
    public var limits: IngestionLimits

    public init(limits: IngestionLimits = IngestionLimits()) { self.limits = limits }

    /// Throws `IngestionError` (permanent) when the span carries a value outside its valid range (a usage count
    /// or cost past `NumericLimits`): the caller rejects that span alone.
    public func events(for span: SpanView) throws -> [IngestionEvent] {
        var truncator = Truncator(limit: limits.maxFieldBytes)
        let observation = try self.observation(span, &truncator)
        var events: [IngestionEvent] = []
        if let trace = self.trace(span, observation: observation, &truncator) {
            events.append(
                IngestionEvent(eventID: "otel-trace-\(span.spanID)", timestamp: span.startTime, body: .trace(trace)))
        }
        events.append(
            IngestionEvent(
                eventID: "otel-\(span.spanID)", timestamp: span.startTime, body: .observation(observation),
                truncatedFields: truncator.fields))
        return events
    }

    // MARK: Observation

    func observation(_ s: SpanView, _ truncator: inout Truncator) throws -> ObservationUpsert {
        let type = ObservationTypeRules.infer(s)
        var o = ObservationUpsert(id: s.spanID, type: type, isUpdate: false)
        o.traceID = s.traceID
        o.parentObservationID = isRoot(s) ? nil : s.parentSpanID
        o.name = s.string(Keys.GenAI.toolName) ?? s.name
        o.startTime = s.startTime
        o.endTime = s.endTime
        o.completionStartTime = LangfuseRules.completionStartTime(s)
        o.level = LangfuseRules.level(s) ?? (s.isError ? .error : .default)
        o.statusMessage = s.string(Keys.Langfuse.statusMessage) ?? s.statusMessage
        o.version = s.string(Keys.Langfuse.version) ?? s.resourceString(Keys.Semconv.serviceVersion)
        o.environment = Environment.normalise(environment(s))
        o.model = ModelRules.requested(s) ?? ModelRules.response(s)
        if let response = ModelRules.response(s), response != o.model { o.responseModel = response }
        o.modelParameters = truncator.cut(
            first([LangfuseRules.modelParameters, OpenInferenceRules.modelParameters, GenAIRules.modelParameters], s),
            "modelParameters")
        let usage = try UsageNormaliser.normalise(
            usage: nil, usageDetails: try LangfuseRules.usage(s) ?? UsageRules.usage(s),
            costDetails: first([LangfuseRules.cost, GenAIRules.cost, OpenInferenceRules.cost], s))
        o.usage = usage.usage
        o.cost = usage.cost
        if type.isGenerationLike, let prompt = LangfuseRules.prompt(s) {
            o.promptName = prompt.name
            o.promptVersion = prompt.version
        }
        o.input = truncator.cut(first(Self.inputChain, s), "input")
        o.output = truncator.cut(first(Self.outputChain, s), "output")
        o.metadata = truncator.cut(.object(observationMetadata(s)), "metadata")
        return o
    }

    /// Input precedence (COMPAT §3.6), first non-empty wins.
    static let inputChain: [@Sendable (SpanView) -> JSONValue?] = [
        LangfuseRules.input, GenAIRules.eventInput, TraceloopRules.entityInput, OpenInferenceRules.input,
        TraceloopRules.promptMessages, OpenInferenceRules.inputMessages, GenAIRules.messagesInput, GenAIRules.toolInput,
    ]

    static let outputChain: [@Sendable (SpanView) -> JSONValue?] = [
        LangfuseRules.output, GenAIRules.eventOutput, TraceloopRules.entityOutput, OpenInferenceRules.output,
        TraceloopRules.completionMessages, OpenInferenceRules.outputMessages, GenAIRules.messagesOutput,
        GenAIRules.toolOutput,
    ]

    func first(_ chain: [@Sendable (SpanView) -> JSONValue?], _ s: SpanView) -> JSONValue? {
        for rule in chain {
            if let v = rule(s), !v.isEmptyForMerge { return v }
        }
        return nil
    }

    /// Langfuse observation metadata, plus (for spans not from the Langfuse SDK) the span's other attributes, and
    /// the resource and scope, so any attribute can be filtered on later.
    func observationMetadata(_ s: SpanView) -> [String: JSONValue] {
        var out = LangfuseRules.observationMetadata(s)
        if !s.scopeName.hasPrefix(Keys.Langfuse.sdkScope) {
            var rest = s.attributes.filter { !$0.key.hasPrefix("langfuse.") && !Self.ioKeys.contains($0.key) }
            for prefix in [
                Keys.OpenInference.inputMessagesPrefix, Keys.OpenInference.outputMessagesPrefix,
                Keys.GenAI.promptPrefix, Keys.GenAI.completionPrefix,
            ] {
                rest = rest.filter { !$0.key.hasPrefix(prefix) }
            }
            if !rest.isEmpty { out["attributes"] = .object(rest) }
        }
        if !s.resource.isEmpty { out["resourceAttributes"] = .object(s.resource) }
        if !s.scopeName.isEmpty {
            out["scope"] = ["name": .string(s.scopeName), "version": .string(s.scopeVersion)]
        }
        return out
    }

    /// Attributes that carry input/output: kept out of the metadata copy.
    static let ioKeys: Set<String> = [
        Keys.OpenInference.inputValue, Keys.OpenInference.outputValue, Keys.GenAI.inputMessages,
        Keys.GenAI.outputMessages, Keys.GenAI.systemInstructions, Keys.GenAI.toolCallArguments,
        Keys.GenAI.toolCallResult, Keys.Traceloop.entityInput, Keys.Traceloop.entityOutput,
    ]

    // MARK: Trace

    func isRoot(_ s: SpanView) -> Bool {
        if s.parentSpanID == nil { return true }
        switch s.attributes[Keys.Langfuse.asRoot] {
        case .bool(true)?: return true
        case .string(let v)?: return v.lowercased() == "true"
        default: return false
        }
    }

    static let traceKeys = [
        Keys.Langfuse.traceName, Keys.Langfuse.traceTags, Keys.Langfuse.tags, Keys.Langfuse.tracePublic,
        Keys.Langfuse.traceMetadata, Keys.Langfuse.traceInput, Keys.Langfuse.traceOutput, Keys.Langfuse.userID,
        Keys.Langfuse.sessionID, Keys.Semconv.userID, Keys.Semconv.sessionID, Keys.OpenInference.tags,
        Keys.OpenInference.metadata,
    ]

    func hasTraceAttributes(_ s: SpanView) -> Bool {
        s.hasAny(Self.traceKeys) || s.attributes.keys.contains { $0.hasPrefix(Keys.Langfuse.traceMetadataPrefix) }
    }

    /// The trace fields a span carries; nil for a non-root span without trace attributes (the store then makes a
    /// placeholder trace from the observation).
    func trace(_ s: SpanView, observation o: ObservationUpsert, _ truncator: inout Truncator) -> TraceUpsert? {
        let root = isRoot(s)
        guard root || hasTraceAttributes(s) else { return nil }
        var t = TraceUpsert(id: s.traceID)
        t.isPartial = !root
        t.timestamp = s.startTime
        t.name = s.string(Keys.Langfuse.traceName) ?? (root ? o.name : nil)
        t.userID =
            s.string(Keys.Langfuse.userID) ?? s.string(Keys.Semconv.userID)
            ?? Keys.Langfuse.compatUserID.lazy.compactMap { s.decoded($0)?.stringValue }.first
        t.sessionID =
            s.string(Keys.Langfuse.sessionID) ?? s.string(Keys.Semconv.sessionID)
            ?? s.string(Keys.GenAI.conversationID)
            ?? Keys.Langfuse.compatSessionID.lazy.compactMap { s.decoded($0)?.stringValue }.first
        t.release = s.spanOrResource(Keys.Langfuse.release)
        t.version = s.string(Keys.Langfuse.version) ?? s.resourceString(Keys.Semconv.serviceVersion)
        t.environment = Environment.normalise(environment(s))
        t.tags = tags(s)
        t.isPublic = LangfuseRules.isPublic(s)
        var metadata = OpenInferenceRules.metadata(s) ?? [:]
        for (k, v) in LangfuseRules.traceMetadata(s) { metadata[k] = v }
        if !metadata.isEmpty { t.metadata = truncator.cut(.object(metadata), "trace.metadata") }
        let input = s.decoded(Keys.Langfuse.traceInput) ?? (root ? o.input : nil)
        let output = s.decoded(Keys.Langfuse.traceOutput) ?? (root ? o.output : nil)
        t.input = truncator.cut(input, "trace.input")
        t.output = truncator.cut(output, "trace.output")
        return t
    }

    /// Tags as a string array, a JSON array in a string, comma-separated text, or one tag.
    func tags(_ s: SpanView) -> [String]? {
        let keys = [Keys.Langfuse.traceTags, Keys.Langfuse.tags] + Keys.Langfuse.compatTags + [Keys.OpenInference.tags]
        for key in keys {
            guard let value = s.attributes[key] else { continue }
            switch SpanView.decodeJSONString(value) {
            case .array(let items):
                return items.compactMap { item -> String? in
                    if case .string(let tag) = item, !tag.isEmpty { return tag }
                    return nil
                }
            case .string(let text):
                return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            default:
                continue
            }
        }
        return nil
    }

    /// `langfuse.environment`, `deployment.environment.name`, `deployment.environment`: span before resource.
    func environment(_ s: SpanView) -> String? {
        for key in [
            Keys.Langfuse.environment, Keys.Semconv.deploymentEnvironmentName, Keys.Semconv.deploymentEnvironment,
        ] {
            if let v = s.spanOrResource(key) { return v }
        }
        return nil
    }
}
