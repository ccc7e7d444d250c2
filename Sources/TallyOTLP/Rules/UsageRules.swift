import TallyCore

/// Token usage from `gen_ai.usage.*` and `llm.token_count.*` (COMPAT §3.5, generic rule): cache reads and cache
/// writes and audio are subtracted from input, reasoning and audio from output, so the buckets never double count.
enum UsageRules {
    static let inputKeys = ["prompt_tokens", "input_tokens", "prompt"]
    static let outputKeys = ["completion_tokens", "output_tokens", "completion"]
    static let totalKeys = ["total_tokens", "total"]
    static let cacheReadKeys = [
        "cache_read.input_tokens", "cache_read_input_tokens", "cache_read_tokens", "details.cache_read_tokens",
        "details.cache_read_input_tokens", "prompt_details.cache_read", "input_cached_tokens",
    ]
    static let cacheCreationKeys = [
        "cache_creation.input_tokens", "cache_creation_input_tokens", "cache_write_tokens",
        "details.cache_write_tokens",
        "details.cache_creation_input_tokens", "prompt_details.cache_write", "input_cache_creation",
    ]
    static let reasoningKeys = [
        "reasoning.output_tokens", "completion_details.reasoning", "reasoning_tokens", "output_reasoning_tokens",
    ]
    static let audioKeys = ["completion_details.audio", "output_audio_tokens"]
    static let inputAudioKeys = ["prompt_details.audio", "input_audio_tokens"]

    /// Throws, naming the attribute, for a count above `NumericLimits.maxUnits`; every count is range-checked
    /// before the subtractions below, so they cannot overflow.
    static func usage(_ s: SpanView) throws -> JSONValue? {
        var raw: [String: Int64] = [:]
        for prefix in [Keys.GenAI.usagePrefix, Keys.OpenInference.tokenCountPrefix] {
            for (key, value) in s.attributes(withPrefix: prefix) where key != "cost" {
                if let n = try UsageNormaliser.units(value, prefix + key) { raw[key] = n }
            }
        }
        guard !raw.isEmpty else { return nil }
        func take(_ keys: [String]) -> Int64? {
            var found: Int64?
            for key in keys {
                if let v = raw.removeValue(forKey: key), found == nil { found = v }
            }
            return found
        }
        var out: [String: Int64] = [:]
        let input = take(inputKeys)
        let output = take(outputKeys)
        let total = take(totalKeys)
        let cacheRead = take(cacheReadKeys)
        let cacheCreation = take(cacheCreationKeys)
        let reasoning = take(reasoningKeys)
        let audio = take(audioKeys)
        let inputAudio = take(inputAudioKeys)
        if let input { out["input"] = max(0, input - (cacheRead ?? 0) - (cacheCreation ?? 0) - (inputAudio ?? 0)) }
        if let output { out["output"] = max(0, output - (reasoning ?? 0) - (audio ?? 0)) }
        if let total { out["total"] = total }
        if let cacheRead { out["input_cached_tokens"] = cacheRead }
        if let cacheCreation { out["input_cache_creation"] = cacheCreation }
        if let reasoning { out["output_reasoning_tokens"] = reasoning }
        if let audio { out["output_audio_tokens"] = audio }
        if let inputAudio { out["input_audio_tokens"] = inputAudio }
        for (key, value) in raw {
            out[key.hasPrefix("details.") ? String(key.dropFirst("details.".count)) : key] = value
        }
        return .object(out.mapValues { .int($0) })
    }
}
