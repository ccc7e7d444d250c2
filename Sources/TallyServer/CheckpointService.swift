import Logging
import ServiceLifecycle
import TallyStore

/// Keeps the WAL bounded under any read load: once a second, when the WAL has grown past `limitBytes`, it is
/// checkpointed and truncated (`TallyDatabase.checkpointIfNeeded`). Runs until graceful shutdown, then checkpoints
/// once more so a stopped server leaves an empty WAL.
struct CheckpointService: Service {
    let database: TallyDatabase
    let limitBytes: Int
    let logger: Logger

    func run() async throws {
        // The pause ends early on graceful shutdown; then one last checkpoint leaves an empty WAL.
        while await pauseUnlessShuttingDown(.seconds(1)) {
            do {
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
