import Logging
import ServiceLifecycle
import TallyStoreAPI

/// Keeps the budget check's memory in step with writes made outside this process: every `pollInterval` it reloads
/// the budget policies if `budget_revision` moved (`tally budgets` from a shell) and the spend ledger if
/// `spend_revision` moved (`tally costs recompute`, a `sqlite3` edit). Writes through this server take effect at
/// once without it.
struct BudgetService: Service {
    let database: any TallyStorage
    var pollInterval: Duration = .seconds(1)
    let logger: Logger

    func run() async throws {
        while await pauseUnlessShuttingDown(pollInterval) {
            do {
                try await database.reloadBudgetPolicies()
                try await database.resyncSpend()
            } catch {
                logger.warning("budget reload failed; retrying", metadata: ["cause": "\(error)"])
            }
        }
    }
}
