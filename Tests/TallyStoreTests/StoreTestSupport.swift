import Foundation
import TallyCore
import TallyStore
import TallyStoreAPI

/// A fresh database file in a temporary directory, one per test.
func temporaryDatabase() throws -> (TallyDatabase, String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tally-test-\(UUID().uuidString)")
    let path = dir.appendingPathComponent("tally.db").path
    return (try TallyDatabase(path: path), path)
}

enum StoreFixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func events(_ name: String) throws -> [IngestionEvent] {
        let batch = try LangfuseBatchDecoder().decode(try Data(contentsOf: root.appendingPathComponent(name)))
        precondition(batch.errors.isEmpty)
        return batch.events
    }
}
