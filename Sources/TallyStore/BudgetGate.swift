import Foundation
import TallyCore
import TallyStoreAPI

/// The budget check, answered from memory: each project's `BudgetPolicy` (a copy of the budget tables, replaced
/// whenever they change), the `SpendLedger`, and each tenant's requests in the last minute.
final class BudgetGate: @unchecked Sendable {
    let ledger: SpendLedger
    private let lock = NSLock()
    private var policies: [String: BudgetPolicy] = [:]
    /// The `budget_revision` the policies were read at.
    private(set) var revision: Int64 = -1
    /// project → tenant → allowed checks in the last minute.
    private var minutes: [String: [String: SlidingMinute]] = [:]

    init(ledger: SpendLedger) { self.ledger = ledger }

    func policy(projectID: String) -> BudgetPolicy { lock.withLock { policies[projectID] ?? BudgetPolicy() } }

    func replacePolicies(_ fresh: [String: BudgetPolicy], revision: Int64) {
        lock.withLock {
            policies = fresh
            self.revision = revision
        }
    }

    /// Replaces one project's policy after a write of this process that moved `budget_revision` from
    /// `revisions.lowerBound` to `.upperBound`. The gate takes the new revision only if it had read the old one;
    /// otherwise another process wrote in between and the next `reloadBudgetPolicies` reads every project.
    func replacePolicy(_ policy: BudgetPolicy, projectID: String, revisions: ClosedRange<Int64>) {
        lock.withLock {
            policies[projectID] = policy
            if revision == revisions.lowerBound { revision = revisions.upperBound }
        }
    }

    func requestsInLastMinute(projectID: String, tenant: String, now: Timestamp) -> Int {
        lock.withLock {
            minutes[projectID]?[tenant]?.expire(at: now)
            return minutes[projectID]?[tenant]?.count ?? 0
        }
    }

    /// Decides one check and, when it is allowed, counts it against the tenant's requests per minute and places
    /// its hold, all under one lock (concurrent checks of a tenant are decided one after another, so a burst cannot
    /// pass on the same remaining budget). Returns the verdict with the use it was decided on (its hold not included).
    func check(
        projectID: String, tenant: String, feature: String?, estimateNanos: Int64, holdID: String?, now: Timestamp
    ) -> (BudgetVerdict, TenantSpend, BudgetPolicy, requestsInLastMinute: Int) {
        lock.withLock {
            let spend = ledger.spend(projectID: projectID, tenant: tenant, now: now)
            let policy = policies[projectID] ?? BudgetPolicy()
            var window = minutes[projectID]?[tenant] ?? SlidingMinute()
            window.expire(at: now)
            let verdict = BudgetCheck.evaluate(
                policy: policy, tenant: tenant, feature: feature, estimateNanos: estimateNanos, spend: spend,
                requestsInLastMinute: window.count, oldestRequestInMinute: window.oldest, now: now)
            if verdict.allowed {
                if let perMinute = policy.limits(of: tenant).requestsPerMinute {
                    window.record(at: now, capacity: perMinute)
                    minutes[projectID, default: [:]][tenant] = window
                }
                if let holdID {
                    ledger.hold(projectID: projectID, tenant: tenant, id: holdID, nanos: estimateNanos, now: now)
                }
            }
            return (verdict, spend, policy, window.count)
        }
    }
}
