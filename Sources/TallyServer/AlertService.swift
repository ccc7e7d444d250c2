import Logging
import ServiceLifecycle
import TallyCore
import TallyStoreAPI

/// Evaluates every project's alert rules every `interval` (from the rollups and budgets) and records what fired
/// and resolved, with their pending deliveries, until graceful shutdown. Every collector runs it; a project is
/// evaluated by whichever claims it first in each interval (`claimWork`).
struct AlertService: Service {
    let database: any TallyStorage
    let interval: Duration
    let baseURL: String
    let logger: Logger

    func run() async throws {
        while await pauseUnlessShuttingDown(interval) {
            do {
                for project in try await database.projects() {
                    guard try await database.claimWork("alerts:\(project.id)", interval: interval, now: .now())
                    else { continue }
                    let outcome = try await database.evaluateAlerts(projectID: project.id, baseURL: baseURL)
                    for f in outcome.fired {
                        logger.info(
                            "alert firing",
                            metadata: ["project": "\(project.id)", "rule": "\(f.ruleName)", "message": "\(f.message)"])
                    }
                    for failure in outcome.failures {
                        logger.warning(
                            "alert rule failed",
                            metadata: [
                                "project": "\(project.id)", "rule": "\(failure.rule)", "cause": "\(failure.error)",
                            ])
                    }
                }
            } catch {
                logger.warning("alert evaluation failed; retrying next interval", metadata: ["cause": "\(error)"])
            }
        }
    }
}
