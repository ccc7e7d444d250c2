/// Reads typed fields out of one JSON object, naming the offending path in every error
/// (`body.startTime: expected an ISO-8601 date-time, got "yesterday"`). JSON null reads as absent.
struct FieldReader {
    let object: [String: JSONValue]
    let path: String

    init(_ object: [String: JSONValue], path: String) {
        self.object = object
        self.path = path
    }

    /// A request body: a JSON object with no field outside `allowed`.
    static func body(_ body: JSONValue, allowed: Set<String>) throws -> [String: JSONValue] {
        guard case .object(let o) = body else { throw IngestionError.invalid("body: expected a JSON object") }
        if let unknown = o.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw IngestionError.invalid(
                "body.\(unknown): unknown field (expected \(allowed.sorted().joined(separator: ", ")))")
        }
        return o
    }

    func has(_ key: String) -> Bool {
        if let v = object[key], !v.isNull { return true }
        return false
    }

    func raw(_ key: String) -> JSONValue? {
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    func fail(_ key: String, _ expected: String, _ got: JSONValue) -> IngestionError {
        .invalid("\(path).\(key): expected \(expected), got \(Self.describe(got))")
    }

    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return "\"\(s.prefix(60))\""
        case .array: return "an array"
        case .object: return "an object"
        default: return v.serialized()
        }
    }

    func string(_ key: String, maxLength: Int? = nil) throws -> String? {
        guard let v = raw(key) else { return nil }
        guard case .string(let s) = v else { throw fail(key, "a string", v) }
        if let maxLength, s.count > maxLength {
            throw IngestionError.invalid("\(path).\(key): longer than \(maxLength) characters")
        }
        return s
    }

    /// An entity id: see `EntityID.problem`.
    func id(_ key: String) throws -> String? {
        guard let s = try string(key) else { return nil }
        if let problem = EntityID.problem(s) { throw IngestionError.invalid("\(path).\(key): \(problem)") }
        return s
    }

    func requiredID(_ key: String) throws -> String {
        guard let s = try id(key) else { throw IngestionError.invalid("\(path).\(key): required") }
        return s
    }

    func timestamp(_ key: String) throws -> Timestamp? {
        guard let v = raw(key) else { return nil }
        guard case .string(let s) = v, let t = Timestamp(iso8601: s) else {
            throw fail(key, "an ISO-8601 date-time", v)
        }
        return t
    }

    /// An absolute `http://` or `https://` URL of at most 2,000 characters.
    func httpURL(_ key: String) throws -> String? {
        guard let url = try string(key, maxLength: 2_000) else { return nil }
        guard let scheme = url.split(separator: ":").first, ["http", "https"].contains(scheme.lowercased()),
            url.lowercased().hasPrefix("\(scheme.lowercased())://"), url.count > scheme.count + 3
        else { throw IngestionError.invalid("\(path).\(key): expected an http:// or https:// URL") }
        return url
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = raw(key) else { return nil }
        guard case .bool(let b) = v else { throw fail(key, "a boolean", v) }
        return b
    }

    func int(_ key: String) throws -> Int? {
        guard let v = raw(key) else { return nil }
        switch v {
        case .int(let i) where i >= Int64(Int32.min) && i <= Int64(Int32.max): return Int(i)
        case .double(let d) where d == d.rounded() && abs(d) < 2e9: return Int(d)
        default: throw fail(key, "an integer", v)
        }
    }

    func object(_ key: String) throws -> [String: JSONValue]? {
        guard let v = raw(key) else { return nil }
        guard case .object(let o) = v else { throw fail(key, "an object", v) }
        return o
    }

    func stringArray(_ key: String) throws -> [String]? {
        guard let v = raw(key) else { return nil }
        guard case .array(let items) = v else { throw fail(key, "an array of strings", v) }
        return try items.map { item in
            guard case .string(let s) = item else { throw fail(key, "an array of strings", item) }
            return s
        }
    }

    func enumValue<E: RawRepresentable>(_ key: String, _: E.Type) throws -> E?
    where E.RawValue == String, E: CaseIterable {
        guard let v = raw(key) else { return nil }
        guard case .string(let s) = v, let e = E(rawValue: s) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: "|")
            throw fail(key, "one of \(allowed)", v)
        }
        return e
    }
}
