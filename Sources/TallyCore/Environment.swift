/// Langfuse's environment rule (COMPAT §2.6): lower-cased, a leading run of `langfuse` (with an optional
/// `-`/`_` after each) stripped, at most 40 characters, only `[a-z0-9-_]`; anything else or nothing is `default`.
public enum Environment {
    public static let `default` = "default"
    public static let maxLength = 40

    public static func normalise(_ raw: String?) -> String {
        guard let raw else { return Self.default }
        var s = Substring(raw.lowercased())
        while s.hasPrefix("langfuse") {
            s = s.dropFirst("langfuse".count)
            if s.hasPrefix("-") || s.hasPrefix("_") { s = s.dropFirst() }
        }
        let cut = String(s.prefix(maxLength))
        let allowed =
            !cut.isEmpty
            && cut.utf8.allSatisfy { c in
                (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 45 || c == 95
            }
        return allowed ? cut : Self.default
    }
}
