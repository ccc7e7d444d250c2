import Foundation

/// The SQL migrations under `schema/`, in the order they must be applied.
public enum Schema {
    /// Each migration's file name (without `.sql`) and its SQL text, sorted by name. Throws when none were
    /// embedded: the server must not start without its schema.
    public static func migrations() throws -> [(name: String, sql: String)] {
        let names = EmbeddedResources.names(under: "schema/").filter { $0.hasSuffix(".sql") }
        guard !names.isEmpty else { throw SchemaError.missing }
        return names.compactMap { name in
            guard let data = EmbeddedResources.file(name) else { return nil }
            let file = name.dropFirst("schema/".count).dropLast(".sql".count)
            return (String(file), String(decoding: data, as: UTF8.self))
        }
    }
}

public enum SchemaError: Error, CustomStringConvertible {
    case missing
    public var description: String { "no schema migrations were embedded in the binary" }
}
