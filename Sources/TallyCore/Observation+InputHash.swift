/// What identifies a model call's request for the waste finders (repeated inputs, re-embedded documents).
extension Observation {
    /// The requested model and the input as compact JSON with sorted keys, for GENERATION and EMBEDDING
    /// observations that carry an input; nil otherwise. The store hashes these parts (`ContentHash`) into
    /// `observation.input_hash`.
    public var inputHashParts: [String]? {
        guard type == .generation || type == .embedding, let input, input != .null else { return nil }
        return [model ?? "", input.serialized()]
    }
}
