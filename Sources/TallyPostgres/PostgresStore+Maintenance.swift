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
