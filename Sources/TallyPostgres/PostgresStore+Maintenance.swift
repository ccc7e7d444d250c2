import Foundation
import PostgresNIO
import TallyStoreAPI

/// Upkeep on PostgreSQL: the server checkpoints and vacuums itself, so SQLite's WAL checkpoints have nothing to do
/// here; `optimize` refreshes the planner's statistics.
extension PostgresStore: MaintenanceStore {
    @discardableResult
    public func checkpointIfNeeded(limitBytes: Int, wait: Duration) async throws -> Int? { nil }

    @discardableResult
    public func checkpointPassive() async throws -> (walFrames: Int, copied: Int) { (0, 0) }

    /// ANALYZE of the database (as SQLite's `PRAGMA optimize` keeps its statistics fresh).
    public func optimize() async throws { try await execute("ANALYZE") }

    /// Whether the database answers a trivial query within 2 s.
    public func isReachable() async -> Bool { await isReachable(timeout: .seconds(2)) }
}

extension PostgresStore {
    /// The database's size (as "main": PostgreSQL keeps no WAL or shared-memory file per database) and the
    /// project's alert deliveries by status.
    public func healthFigures(projectID: String) async throws -> HealthFigures {
        var bytes: Int64 = 0
        for try await size in try await client.query(
            "SELECT pg_database_size(current_database())", logger: logger
        ).decode(Int64.self) {
            bytes = size
        }
        var deliveries: [String: Int64] = [:]
        for try await (status, n) in try await client.query(
            "SELECT status, count(*) FROM alert_delivery WHERE project_id = \(projectID) GROUP BY status",
            logger: logger
        ).decode((String, Int64).self) {
            deliveries[status] = n
        }
        return HealthFigures(fileBytes: ["main": bytes], alertDeliveries: deliveries)
    }
}

extension PostgresStore: AnalyticsStore {}

/// Every store protocol the server needs: `tally serve --db postgres://…` runs on this store.
extension PostgresStore {
    public var storage: any TallyStorage { self }
}
