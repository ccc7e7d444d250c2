import Foundation

/// The SQL migrations under `schema/<database>/`, in the order they must be applied.
public enum Schema {
    public enum Database: String, Sendable {
        case sqlite, postgres
    }

    /// Each migration's file name (without `.sql`: the identifier a database records it under) and its SQL text,
    /// sorted by name, for `database`. Throws when none were embedded: the server must not start without its schema.
    public static func migrations(for database: Database = .sqlite) throws -> [(name: String, sql: String)] {
        let folder = "schema/\(database.rawValue)/"
        let names = EmbeddedResources.names(under: folder).filter { $0.hasSuffix(".sql") }
        guard !names.isEmpty else { throw SchemaError.missing }
        return names.compactMap { name in
            guard let data = EmbeddedResources.file(name) else { return nil }
            let file = name.dropFirst(folder.count).dropLast(".sql".count)
            return (String(file), String(decoding: data, as: UTF8.self))
        }
    }
}

public enum SchemaError: Error, CustomStringConvertible {
    case missing
    public var description: String { "no schema migrations were embedded in the binary" }
}
