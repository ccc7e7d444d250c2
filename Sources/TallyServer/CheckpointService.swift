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
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if let before = try await database.checkpointIfNeeded(limitBytes: limitBytes) {
                    logger.info("WAL checkpointed and truncated", metadata: ["wal_bytes_before": "\(before)"])
                }
            } catch {
                logger.warning("WAL checkpoint did not finish; retrying", metadata: ["cause": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
        _ = try? await database.checkpointIfNeeded(limitBytes: -1)
    }
}
