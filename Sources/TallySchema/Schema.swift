import Foundation

/// The SQL migrations under `schema/`, in the order they must be applied.
public enum Schema {
    /// Each migration's file name (without `.sql`) and its SQL text, sorted by name.
    /// Throws when the resource bundle is missing: the server must not start without its schema.
    public static func migrations() throws -> [(name: String, sql: String)] {
        guard let dir = Bundle.module.resourceURL?.appendingPathComponent("schema") else {
            throw SchemaError.bundleMissing
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        return try names.map { name in
            let sql = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            return (String(name.dropLast(4)), sql)
        }
    }
}

public enum SchemaError: Error, CustomStringConvertible {
    case bundleMissing
    public var description: String { "the schema resource bundle was not found next to the binary" }
}
