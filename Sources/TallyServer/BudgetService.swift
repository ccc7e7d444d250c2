import Logging
import ServiceLifecycle
import TallyStore

/// Keeps the budget check's memory in step with writes made outside this process: every `pollInterval` it reloads
/// the budget policies if `budget_revision` moved (`tally budgets` from a shell), and every `resyncInterval` it
/// reads the spend ledger again from the rollups (a `sqlite3` edit, `tally costs recompute`). Writes through this
/// server take effect at once without it.
struct BudgetService: Service {
    let database: TallyDatabase
    var pollInterval: Duration = .seconds(1)
    var resyncInterval: Duration = .seconds(60)
    let logger: Logger

    func run() async throws {
        var sinceResync = Duration.zero
        while await pauseUnlessShuttingDown(pollInterval) {
            sinceResync += pollInterval
            do {
                try await database.reloadBudgetPolicies()
                if sinceResync >= resyncInterval {
                    sinceResync = .zero
                    try await database.resyncSpend()
                }
            } catch {
                logger.warning("budget reload failed; retrying", metadata: ["cause": "\(error)"])
            }
        }
    }
}
