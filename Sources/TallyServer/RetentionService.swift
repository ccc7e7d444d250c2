import Logging
import ServiceLifecycle
import TallyCore
import TallyStoreAPI

/// Deletes traces (with their observations and scores) older than each project's retention, in batches of
/// `batchSize` traces per transaction with a pause between batches, so ingestion never waits behind one huge
/// delete; then gives freed pages back to the disk. Runs every `interval` until graceful shutdown.
struct RetentionService: Service {
    let database: any TallyStorage
    /// Days kept for projects without their own setting; nil keeps everything.
    let defaultDays: Int?
    let interval: Duration
    let batchSize = 500
    let logger: Logger

    func run() async throws {
        var wait = Duration.seconds(2)
        // The pause ends early on graceful shutdown (sleeping through it would hold the shutdown up).
        while await pauseUnlessShuttingDown(wait) {
            do {
                // Collectors on one PostgreSQL database take turns: one sweeps per interval.
                if try await database.claimWork("retention", interval: interval, now: .now()) { try await sweep() }
            } catch {
                logger.warning("retention sweep failed; retrying next interval", metadata: ["cause": "\(error)"])
            }
            wait = interval
        }
    }

    /// One pass over every project; returns the traces deleted.
    @discardableResult
    func sweep(now: Timestamp = .now()) async throws -> Int {
        var total = 0
        let policies = try await database.retentionPolicies(defaultDays: defaultDays)
        // When every project has a retention, what the longest one expired goes in bulk first (PostgreSQL drops
        // whole month partitions); the per-trace deletes below then find little left to do.
        if !policies.isEmpty, let longest = policies.map(\.days).max(),
            policies.count == (try await database.projects()).count
        {
            let dropped = try await database.dropExpired(
                olderThan: Timestamp(microseconds: now.microseconds - Int64(longest) * 86_400_000_000))
            if dropped > 0 {
                logger.info("retention dropped expired observations in bulk", metadata: ["observations": "\(dropped)"])
            }
        }
        for policy in policies {
            let cutoff = Timestamp(microseconds: now.microseconds - Int64(policy.days) * 86_400_000_000)
            var deleted = 0
            while !Task.isShuttingDownGracefully {
                let n = try await database.deleteTraces(
                    projectID: policy.projectID, olderThan: cutoff, limit: batchSize)
                deleted += n.traces
                if n.traces < batchSize, n.scores < batchSize { break }
                try? await Task.sleep(for: .milliseconds(20))  // let waiting writes in between batches
            }
            if deleted > 0 {
                logger.info(
                    "retention deleted traces",
                    metadata: ["project": "\(policy.projectID)", "traces": "\(deleted)", "days": "\(policy.days)"])
            }
            total += deleted
        }
        if total > 0 { try await database.reclaimSpace(pages: 100_000) }
        return total
    }
}
