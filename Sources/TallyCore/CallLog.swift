/// The structured call log: one JSON object per model call with fixed fields, for log pipelines (Loki, Datadog,
/// a file tailer). Every field is present in every line (null when unknown) except `cache_hit` (only when the call
/// said) and `update` (only when true: the line supersedes an earlier line of the same `observation_id`).
public enum CallLog {
    /// The line for `call` in `projectID`, without the newline.
    public static func line(_ call: ModelCall, projectID: String) -> String {
        let o = call.observation
        let totals = o.totals
        func text(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        let provider = BuiltinPrices.provider(
            named: CallLog.providerKeys.lazy.compactMap { o.metadata[$0]?.stringValue }.first,
            pricedModelID: o.pricedModelID)
        var fields: [String: JSONValue] = [
            "ts": .string(o.startTime.iso8601), "project_id": .string(projectID), "trace_id": .string(o.traceID),
            "observation_id": .string(o.id), "tenant_id": text(o.tenant), "feature": text(o.feature),
            "user_id": text(call.userID), "model": text(o.model), "response_model": text(o.responseModel),
            "provider": text(provider), "prompt_name": text(o.promptName),
            "prompt_version": o.promptVersion.map { .int(Int64($0)) } ?? .null,
            "input_tokens": .int(totals.inputTokens), "output_tokens": .int(totals.outputTokens),
            "cache_read_tokens": .int(o.usageUnits([.cacheRead])), "reasoning_tokens": .int(o.usageUnits([.reasoning])),
            "cost_usd": totals.totalCost.map { .double($0) } ?? .null, "cost_source": text(o.costSource),
            "latency_ms": o.endTime.map { .double(Double($0.microseconds - o.startTime.microseconds) / 1000) } ?? .null,
            "outcome": .string(o.level == .error ? "error" : "success"), "environment": .string(o.environment),
        ]
        if case .bool(let hit)? = o.metadata["cache_hit"] { fields["cache_hit"] = .bool(hit) }
        if call.update { fields["update"] = true }
        return JSONValue.object(fields).serialized()
    }
}

extension CallLog {
    /// Metadata keys that name a call's provider, first found wins (LangSmith, generic, OpenTelemetry GenAI).
    public static let providerKeys = ["ls_provider", "provider", "gen_ai.system"]
}

extension BuiltinPrices {
    /// Provider by built-in model id.
    public static let providers: [String: String] = Dictionary(
        models.compactMap { m in m.provider.map { (m.id, $0) } }, uniquingKeysWith: { a, _ in a })

    /// A call's provider: the one its metadata names, else the provider of the built-in price it was priced with.
    public static func provider(named: String?, pricedModelID: String?) -> String? {
        named ?? pricedModelID.flatMap { providers[$0] }
    }
}
