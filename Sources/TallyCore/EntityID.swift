/// The rule for client-chosen ids (traces, observations, scores, sessions): 1–800 characters, none of them a
/// control character (U+0000–U+001F, U+007F–U+009F: a NUL would cut the id short in C APIs and make two ids one)
/// nor U+FFFD (what an invalid or lone-surrogate escape decodes to, so two different ids could collide).
public enum EntityID {
    public static let maxLength = 800

    /// nil when `id` is valid, else what is wrong with it.
    public static func problem(_ id: String) -> String? {
        guard !id.isEmpty, id.count <= maxLength else { return "an id must be 1–\(maxLength) characters" }
        for scalar in id.unicodeScalars {
            let v = scalar.value
            if v < 0x20 || (0x7F...0x9F).contains(v) {
                return "an id must not contain control characters (found U+\(String(v, radix: 16, uppercase: true)))"
            }
            if v == 0xFFFD { return "an id must be valid text (found U+FFFD, from an invalid or lone surrogate escape)" }
        }
        return nil
    }
}
