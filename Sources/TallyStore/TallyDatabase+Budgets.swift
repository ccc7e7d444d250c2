import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

/// Budgets: the tables of schema 0013 and the in-memory gate the check endpoint reads.
extension TallyDatabase {
    public typealias BudgetWriteError = TallyStoreAPI.BudgetWriteError

    // MARK: Check and status (memory only)

    /// Decides a budget check (see `BudgetCheck`); an allowed check counts for the rate limit and places its hold.
    public func checkBudget(
        projectID: String, tenant: String, feature: String?, estimateNanos: Int64, holdID: String?,
        now: Timestamp
    ) -> (BudgetVerdict, BudgetStatus) {
        let (verdict, spend, policy, requests) = budgetGate.check(
            projectID: projectID, tenant: tenant, feature: feature, estimateNanos: estimateNanos, holdID: holdID,
            now: now)
        return (verdict, BudgetStatus(tenant, policy: policy, spend: spend, requests: requests, now: now))
    }

    public func budgetStatus(projectID: String, tenant: String, now: Timestamp) -> BudgetStatus {
        let policy = budgetGate.policy(projectID: projectID)
        return BudgetStatus(
            tenant, policy: policy, spend: spendLedger.spend(projectID: projectID, tenant: tenant, now: now),
            requests: budgetGate.requestsInLastMinute(projectID: projectID, tenant: tenant, now: now), now: now)
    }

    /// Every tenant with a limit in force (assigned, or spending this month under a default plan), or a throttle.
    public func budgetStatuses(projectID: String, now: Timestamp) -> [BudgetStatus] {
        let policy = budgetGate.policy(projectID: projectID)
        let spending = spendLedger.tenants(projectID: projectID, now: now)
        let names = Set(spending.keys).union(policy.tenants.keys).union(policy.throttles.keys).subtracting([""])
        return names.compactMap { tenant in
            let status = BudgetStatus(
                tenant, policy: policy, spend: spending[tenant] ?? TenantSpend(),
                requests: budgetGate.requestsInLastMinute(projectID: projectID, tenant: tenant, now: now), now: now)
            return status.isListed ? status : nil
        }
    }

    public func budgetPolicy(projectID: String) -> BudgetPolicy { budgetGate.policy(projectID: projectID) }

    /// The project's committed spend this month over every tenant (and none), nano-USD.
    public func projectMonthSpend(projectID: String, now: Timestamp) -> Int64 {
        spendLedger.tenants(projectID: projectID, now: now).values.reduce(0) { $0.addingSaturating($1.monthNanos) }
    }

    // MARK: Writes (each one transaction, then the gate reloads)

    public func putPlan(projectID: String, _ plan: BudgetPlan, now: Timestamp) async throws {
        try await writeBudget(projectID) { db in
            try db.execute(
                sql: """
                    INSERT INTO budget_plan VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, name) DO UPDATE SET
                    daily_nanos = excluded.daily_nanos, monthly_nanos = excluded.monthly_nanos,
                    requests_per_minute = excluded.requests_per_minute, updated_at = excluded.updated_at
                    """,
                arguments: [
                    projectID, plan.name, plan.limits.dailyNanos, plan.limits.monthlyNanos,
                    plan.limits.requestsPerMinute, now.microseconds,
                ])
        }
    }

    /// Deletes a plan no tenant (and not the default) uses; false if there was none.
    public func deletePlan(projectID: String, name: String) async throws -> Bool {
        try await writeBudget(projectID) { db in
            let tenants =
                try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM tenant_budget WHERE project_id = ? AND plan = ?",
                    arguments: [projectID, name]) ?? 0
            let isDefault =
                try String.fetchOne(
                    db, sql: "SELECT default_plan FROM project_setting WHERE project_id = ?", arguments: [projectID])
                == name
            guard tenants == 0, !isDefault else {
                throw BudgetWriteError.planInUse(name, tenants: tenants, isDefault: isDefault)
            }
            try db.execute(
                sql: "DELETE FROM budget_plan WHERE project_id = ? AND name = ?", arguments: [projectID, name])
            return db.changesCount > 0
        }
    }

    public func putTenantBudget(projectID: String, _ budget: TenantBudget, now: Timestamp) async throws {
        try await writeBudget(projectID) { db in
            if let plan = budget.plan { try Self.requirePlan(db, projectID: projectID, plan) }
            try db.execute(
                sql: """
                    INSERT INTO tenant_budget VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, tenant) DO UPDATE
                    SET plan = excluded.plan, daily_nanos = excluded.daily_nanos,
                    monthly_nanos = excluded.monthly_nanos, requests_per_minute = excluded.requests_per_minute,
                    updated_at = excluded.updated_at
                    """,
                arguments: [
                    projectID, budget.tenant, budget.plan, budget.overrides.dailyNanos, budget.overrides.monthlyNanos,
                    budget.overrides.requestsPerMinute, now.microseconds,
                ])
        }
    }

    public func deleteTenantBudget(projectID: String, tenant: String) async throws -> Bool {
        try await writeBudget(projectID) { db in
            try db.execute(
                sql: "DELETE FROM tenant_budget WHERE project_id = ? AND tenant = ?", arguments: [projectID, tenant])
            return db.changesCount > 0
        }
    }

    public func setBudgetSettings(projectID: String, defaultPlan: String?, projectMonthlyNanos: Int64?) async throws {
        try await writeBudget(projectID) { db in
            if let defaultPlan { try Self.requirePlan(db, projectID: projectID, defaultPlan) }
            try db.execute(
                sql: """
                    INSERT INTO project_setting (project_id, default_plan, project_monthly_nanos) VALUES (?, ?, ?)
                    ON CONFLICT (project_id) DO UPDATE SET default_plan = excluded.default_plan,
                    project_monthly_nanos = excluded.project_monthly_nanos
                    """, arguments: [projectID, defaultPlan, projectMonthlyNanos])
        }
    }

    public func putSwitch(projectID: String, _ s: FeatureSwitch, now: Timestamp) async throws {
        try await writeBudget(projectID) { db in
            try db.execute(
                sql: """
                    INSERT INTO feature_switch VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (project_id, feature, tenant) DO UPDATE SET enabled = excluded.enabled,
                    reason = excluded.reason, until = excluded.until, updated_at = excluded.updated_at
                    """,
                arguments: [
                    projectID, s.feature, s.tenant ?? "", s.enabled, s.reason, s.until?.microseconds, now.microseconds,
                ])
        }
    }

    public func deleteSwitch(projectID: String, feature: String, tenant: String?) async throws -> Bool {
        try await writeBudget(projectID) { db in
            try db.execute(
                sql: "DELETE FROM feature_switch WHERE project_id = ? AND feature = ? AND tenant = ?",
                arguments: [projectID, feature, tenant ?? ""])
            return db.changesCount > 0
        }
    }

    public func putThrottle(projectID: String, _ t: TenantThrottle, now: Timestamp) async throws {
        try await writeBudget(projectID) { db in
            try db.execute(
                sql: """
                    INSERT INTO tenant_throttle VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id, tenant) DO UPDATE
                    SET reason = excluded.reason, until = excluded.until, updated_at = excluded.updated_at
                    """, arguments: [projectID, t.tenant, t.reason, t.until?.microseconds, now.microseconds])
        }
    }

    public func deleteThrottle(projectID: String, tenant: String) async throws -> Bool {
        try await writeBudget(projectID) { db in
            try db.execute(
                sql: "DELETE FROM tenant_throttle WHERE project_id = ? AND tenant = ?", arguments: [projectID, tenant])
            return db.changesCount > 0
        }
    }

    private static func requirePlan(_ db: Database, projectID: String, _ name: String) throws {
        guard
            try Bool.fetchOne(
                db, sql: "SELECT 1 FROM budget_plan WHERE project_id = ? AND name = ?", arguments: [projectID, name])
                != nil
        else { throw BudgetWriteError.unknownPlan(name) }
    }

    /// One budget write of `projectID`, then that project's policy is read again in the same transaction and
    /// replaces the gate's copy once committed (before the write returns, so the next check sees it).
    private func writeBudget<T: Sendable>(
        _ projectID: String, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        let gate = budgetGate
        let (result, policy, before, after) = try await writer.write { db in
            let before = try Self.budgetRevision(db)
            let result = try body(db)
            let after = try Self.budgetRevision(db)
            return (result, try Self.loadPolicies(db, projectID: projectID)[projectID] ?? BudgetPolicy(), before, after)
        }
        gate.replacePolicy(policy, projectID: projectID, revisions: before...after)
        return result
    }

    // MARK: Loading

    /// Reads every project's budget tables into the gate; with `ifChanged`, only when `budget_revision` moved since
    /// the gate last read it (another process, e.g. `tally budgets`, wrote them). Cheap when nothing changed. Runs on
    /// the writer's queue, so it never applies a snapshot older than a write this process already applied.
    public func reloadBudgetPolicies(ifChanged: Bool) async throws {
        let gate = budgetGate
        try await writer.writeWithoutTransaction { db in
            let revision = try Self.budgetRevision(db)
            if ifChanged, revision == gate.revision { return }
            gate.replacePolicies(try Self.loadPolicies(db), revision: revision)
        }
    }

    /// Reads the spend ledger again from the rollups if `spend_revision` moved since it was loaded or keeping it
    /// failed (on the writer's queue, so no commit is counted twice or missed). This server's own commits keep it
    /// exact by themselves; this picks up other processes' writes (`tally costs recompute`, a `sqlite3` shell)
    /// without waiting for the next ingest.
    public func resyncSpend() async throws {
        let (observer, ledger) = (spendObserver, spendLedger)
        try await writer.writeWithoutTransaction { db in
            if try ledger.needsReload || SpendObserver.revision(db) != observer.loadedRevision {
                try observer.load(db)
            }
        }
    }

    /// `budget_revision` (schema 0013): moves with every change to the budget tables, whoever makes it.
    static func budgetRevision(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT revision FROM budget_revision")) ?? 0
    }

    /// Every project's policy, or only `projectID`'s.
    static func loadPolicies(_ db: Database, projectID: String? = nil) throws -> [String: BudgetPolicy] {
        var policies: [String: BudgetPolicy] = [:]
        let only = projectID == nil ? "" : " WHERE project_id = ?"
        let arguments: StatementArguments = projectID.map { [$0] } ?? []
        for row in try Row.fetchAll(db, sql: "SELECT * FROM budget_plan" + only, arguments: arguments) {
            let plan = BudgetPlan(
                name: row["name"],
                limits: BudgetLimits(
                    dailyNanos: row["daily_nanos"], monthlyNanos: row["monthly_nanos"],
                    requestsPerMinute: row["requests_per_minute"]))
            policies[row["project_id"], default: BudgetPolicy()].plans[plan.name] = plan
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM tenant_budget" + only, arguments: arguments) {
            let budget = TenantBudget(
                tenant: row["tenant"], plan: row["plan"],
                overrides: BudgetLimits(
                    dailyNanos: row["daily_nanos"], monthlyNanos: row["monthly_nanos"],
                    requestsPerMinute: row["requests_per_minute"]))
            policies[row["project_id"], default: BudgetPolicy()].tenants[budget.tenant] = budget
        }
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT project_id, default_plan, project_monthly_nanos FROM project_setting
                WHERE (default_plan IS NOT NULL OR project_monthly_nanos IS NOT NULL)
                """ + (projectID == nil ? "" : " AND project_id = ?"), arguments: arguments)
        {
            policies[row["project_id"], default: BudgetPolicy()].defaultPlan = row["default_plan"]
            policies[row["project_id"], default: BudgetPolicy()].projectMonthlyNanos = row["project_monthly_nanos"]
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM feature_switch" + only, arguments: arguments) {
            let tenant: String = row["tenant"]
            let s = FeatureSwitch(
                feature: row["feature"], tenant: tenant.isEmpty ? nil : tenant, enabled: row["enabled"],
                reason: row["reason"], until: (row["until"] as Int64?).map(Timestamp.init(microseconds:)))
            policies[row["project_id"], default: BudgetPolicy()].switches[s.feature, default: [:]][tenant] = s
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM tenant_throttle" + only, arguments: arguments) {
            let t = TenantThrottle(
                tenant: row["tenant"], reason: row["reason"],
                until: (row["until"] as Int64?).map(Timestamp.init(microseconds:)))
            policies[row["project_id"], default: BudgetPolicy()].throttles[t.tenant] = t
        }
        return policies
    }
}
