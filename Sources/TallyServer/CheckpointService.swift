import Logging
import ServiceLifecycle
import TallyCore
import TallyStoreAPI

/// Moves checkpoint work off the writer and keeps the WAL bounded under any read load: four times a second a
/// passive checkpoint copies committed frames into the database on its own connection (the writer never waits for
/// it); once a second, when the WAL has grown past `limitBytes`, it is checkpointed and truncated
/// (`TallyDatabase.checkpointIfNeeded`). It also refreshes the planner's statistics a minute after start and then
/// hourly (`TallyDatabase.optimize`, bounded work). Runs until graceful shutdown, then checkpoints once more so a
/// stopped server leaves an empty WAL.
struct CheckpointService: Service {
    let database: any TallyStorage
    let limitBytes: Int
    let logger: Logger

    func run() async throws {
        // The pause ends early on graceful shutdown; then one last checkpoint leaves an empty WAL.
        var tick = 0
        while await pauseUnlessShuttingDown(.milliseconds(250)) {
            tick += 1
            do {
                try await database.checkpointPassive()
                // Planner statistics a minute after start, then hourly (one collector per hour on PostgreSQL).
                if tick % 14_400 == 240,
                    try await database.claimWork("optimize", interval: .seconds(3_000), now: .now())
                {
                    try await database.optimize()
                }
                guard tick % 4 == 0 else { continue }
                if let before = try await database.checkpointIfNeeded(limitBytes: limitBytes) {
                    logger.info("WAL checkpointed and truncated", metadata: ["wal_bytes_before": "\(before)"])
                }
            } catch {
                logger.warning("WAL checkpoint did not finish; retrying", metadata: ["cause": "\(error)"])
            }
        }
        _ = try? await database.checkpointIfNeeded(limitBytes: -1)
    }
}
