import Foundation
import PostgresNIO
import TallyCore
import TallyStoreAPI

/// Upkeep on PostgreSQL: the server checkpoints and vacuums itself, so SQLite's WAL checkpoints have nothing to do
/// here; `optimize` refreshes the planner's statistics.
extension PostgresStore: MaintenanceStore {
    @discardableResult
    public func checkpointIfNeeded(limitBytes: Int, wait: Duration) async throws -> Int? { nil }

    @discardableResult
    public func checkpointPassive() async throws -> (walFrames: Int, copied: Int) { (0, 0) }

    /// VACUUM (ANALYZE) of the database: fresh planner statistics (as SQLite's `PRAGMA optimize`) and the visibility
    /// map that index-only scans (counts of a tag's traces, deep offsets) need, where autovacuum has not caught up
    /// with a burst of inserts yet. Pages already all-visible are skipped, so a pass over settled data is cheap.
    /// Runs without the statement timeout that guards requests (a first pass over a large database takes longer).
    public func optimize() async throws {
        try await client.withConnection { connection in
            try await connection.query("SET statement_timeout = 0", logger: self.logger)
            var failure: (any Error)?
            do {
                try await connection.query("VACUUM (ANALYZE)", logger: self.logger)
            } catch {
                failure = error
            }
            // Back to the timeout the connection started with, before it returns to the pool.
            try await connection.query("RESET statement_timeout", logger: self.logger)
            if let failure { throw failure }
        }
    }

    /// Whether the database answers a trivial query within 2 s.
    public func isReachable() async -> Bool { await isReachable(timeout: .seconds(2)) }

    /// Claims `task` in `work_claim` (schema/postgres 0007) unless another collector did within the interval: one
    /// upsert, so of collectors asking at once exactly one gets true.
    public func claimWork(_ task: String, interval: Duration, now: Timestamp) async throws -> Bool {
        let micros = Int64(interval / .microseconds(1))
        let due = now.microseconds - micros + micros / 10
        var claimed = false
        for try await _ in try await client.query(
            """
            INSERT INTO work_claim VALUES (\(task), \(now.microseconds))
            ON CONFLICT (task) DO UPDATE SET claimed_at = excluded.claimed_at WHERE work_claim.claimed_at <= \(due)
            RETURNING 1
            """, logger: logger)
        {
            claimed = true
        }
        return claimed
    }
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
