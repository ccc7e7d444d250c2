import Foundation
import TallyCore

/// Reads files under `Tests/Fixtures/` by path (works from any working directory).
enum Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func data(_ name: String) throws -> Data { try Data(contentsOf: root.appendingPathComponent(name)) }

    static func batch(_ name: String) throws -> DecodedBatch {
        try LangfuseBatchDecoder().decode(try data(name))
    }
}
