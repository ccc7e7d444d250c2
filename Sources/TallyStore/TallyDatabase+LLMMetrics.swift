import Foundation
import GRDB
import TallyCore
import TallySQL
import TallyStoreAPI

extension TallyDatabase {
    /// The model-call counters (schema 0017; `SQLReader.sharedLLMMetrics`).
    public func llmMetrics(projectID: String, limits: LLMMetrics.Limits, now: Timestamp) async throws -> LLMMetrics {
        try await sharedLLMMetrics(projectID: projectID, limits: limits, now: now)
    }
}

extension TallyDatabase {
    public func healthFigures(projectID: String) async throws -> HealthFigures {
        var files: [String: Int64] = [:]
        for (name, suffix) in [("main", ""), ("wal", "-wal"), ("shm", "-shm")] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix)
            if let size = attributes?[.size] as? NSNumber { files[name] = size.int64Value }
        }
        let deliveries = try await writer.read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT status, count(*) FROM alert_delivery WHERE project_id = ? GROUP BY status"),
                arguments: [projectID]
            ).reduce(into: [String: Int64]()) { $0[$1[0]] = $1[1] }
        }
        return HealthFigures(fileBytes: files, alertDeliveries: deliveries)
    }
}

extension TallyDatabase {
    /// Events waiting for or in the ingest write.
    public func queuedEvents() async -> Int { await ingestQueue.queuedEvents }
}
