import Foundation

/// The files compiled into the binary (`schema/`, the built-in price table, `web/`): the binary runs from any
/// folder with no resource bundle or checkout beside it.
public enum EmbeddedResources {
    /// Decoded once; names are relative paths such as `schema/0001_create_project.sql` or `web/app.js`.
    static let files: [String: Data] = EmbeddedFiles.base64.compactMapValues { Data(base64Encoded: $0) }

    /// The contents of `name`, or nil when no such file was embedded.
    public static func file(_ name: String) -> Data? { files[name] }

    /// Names of the embedded files whose path starts with `prefix`, sorted.
    public static func names(under prefix: String) -> [String] {
        files.keys.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// The built-in price table (`Sources/TallyCore/Resources/model-prices.json`).
    public static var modelPrices: Data? { file("model-prices.json") }
}
