import TallyCore

/// Mapping between domain values and stored columns, for every store: JSON columns hold compact JSON text (as
/// `JSONValue.serialized()` writes it); times are µs integers.
public enum StoredJSON {
    public static func json(_ v: JSONValue?) -> String? { v?.serialized() }

    public static func jsonValue(_ text: String?) -> JSONValue? {
        guard let text else { return nil }
        return try? JSONValue.parse(text)
    }

    public static func object(_ text: String?) -> [String: JSONValue] {
        jsonValue(text)?.objectValue ?? [:]
    }

    /// A JSON array of strings (non-strings skipped); empty for anything else.
    public static func strings(_ text: String?) -> [String] {
        (jsonValue(text)?.arrayValue ?? []).compactMap(\.stringValue)
    }

    public static func time(_ v: Int64?) -> Timestamp? { v.map(Timestamp.init(microseconds:)) }

    public static func usage(_ text: String?) -> UsageDetails {
        var out: UsageDetails = [:]
        for (k, v) in object(text) {
            if case .int(let i) = v { out[k] = i }
        }
        return out
    }

    public static func cost(_ text: String?) -> CostDetails {
        var out: CostDetails = [:]
        for (k, v) in object(text) {
            if let d = v.doubleValue { out[k] = d }
        }
        return out
    }

    public static func usageJSON(_ u: UsageDetails) -> String {
        JSONValue.object(u.mapValues { .int($0) }).serialized()
    }

    public static func costJSON(_ c: CostDetails) -> String {
        JSONValue.object(c.mapValues { .double($0) }).serialized()
    }
}
