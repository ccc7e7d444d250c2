import Foundation
import PostgresNIO
import TallyCore
import TallyStoreAPI

/// Budgets (schema/postgres 0006). Unlike SQLite's in-memory gate, every check and status is read from the
/// database, so all collectors decide on the same committed spend (`rollup_tenant_total_day`), the same holds and
/// the same count of recent checks; a check locks its tenant for its transaction, so concurrent checks of one tenant
/// on any collectors are decided one after another. The policies (plans, tenant budgets, switches, throttles) are
/// cached per collector and read again whenever `budget_revision` moved.
extension PostgresStore: BudgetStore {
    /// `Int64.max`, the cap of every sum read here (bigint sums are numeric in PostgreSQL).
    private static let maxNanos = "9223372036854775807"

    // MARK: Policies

    public func budgetPolicy(projectID: String) async throws -> BudgetPolicy {
        try await policies()[projectID] ?? BudgetPolicy()
    }

    /// Every project's policy, current as of this call: one read of `budget_revision`, and of the tables when it
    /// moved since the cached copy.
    func policies() async throws -> [String: BudgetPolicy] {
        var revision: Int64 = 0
        for try await r in try await client.query("SELECT revision FROM budget_revision", logger: logger)
            .decode(Int64.self)
        {
            revision = r
        }
        if let hit = budgetCache.get(revision: revision) { return hit }
        // Read after the revision: a change in between is cached under the older revision and read again next time.
        let fresh = try await loadPolicies()
        budgetCache.put(fresh, revision: revision)
        return fresh
    }

    public func reloadBudgetPolicies(ifChanged: Bool) async throws {
        if !ifChanged { budgetCache.clear() }
        _ = try await policies()
    }

    /// Spend is never cached here; this drops expired holds and request counts once a minute, those of tenants no
    /// check touches any more (a check prunes its own tenant's).
    public func resyncSpend() async throws {
        let now = Timestamp.now()
        guard budgetCache.shouldPrune(at: now) else { return }
        try await client.query(
            "DELETE FROM budget_hold WHERE expires_at <= \(now.microseconds)", logger: logger)
        try await client.query(
            "DELETE FROM budget_request WHERE at <= \(now.microseconds - SlidingMinute.windowMicros)", logger: logger)
    }

    private func loadPolicies() async throws -> [String: BudgetPolicy] {
        var policies: [String: BudgetPolicy] = [:]
        for try await (project, name, daily, monthly, perMinute) in try await client.query(
            "SELECT project_id, name, daily_nanos, monthly_nanos, requests_per_minute FROM budget_plan",
            logger: logger
        ).decode((String, String, Int64?, Int64?, Int64?).self) {
            let limits = BudgetLimits(
                dailyNanos: daily, monthlyNanos: monthly, requestsPerMinute: perMinute.map(Int.init))
            policies[project, default: BudgetPolicy()].plans[name] = BudgetPlan(name: name, limits: limits)
        }
        for try await (project, tenant, plan, daily, monthly, perMinute) in try await client.query(
            "SELECT project_id, tenant, plan, daily_nanos, monthly_nanos, requests_per_minute FROM tenant_budget",
            logger: logger
        ).decode((String, String, String?, Int64?, Int64?, Int64?).self) {
            let overrides = BudgetLimits(
                dailyNanos: daily, monthlyNanos: monthly, requestsPerMinute: perMinute.map(Int.init))
            policies[project, default: BudgetPolicy()].tenants[tenant] = TenantBudget(
                tenant: tenant, plan: plan, overrides: overrides)
        }
        for try await (project, defaultPlan, monthly) in try await client.query(
            """
            SELECT project_id, default_plan, project_monthly_nanos FROM project_setting
            WHERE default_plan IS NOT NULL OR project_monthly_nanos IS NOT NULL
            """, logger: logger
        ).decode((String, String?, Int64?).self) {
            policies[project, default: BudgetPolicy()].defaultPlan = defaultPlan
            policies[project, default: BudgetPolicy()].projectMonthlyNanos = monthly
        }
        for try await (project, feature, tenant, enabled, reason, until) in try await client.query(
            "SELECT project_id, feature, tenant, enabled, reason, until FROM feature_switch", logger: logger
        ).decode((String, String, String, Bool, String?, Int64?).self) {
            let s = FeatureSwitch(
                feature: feature, tenant: tenant.isEmpty ? nil : tenant, enabled: enabled, reason: reason,
                until: until.map(Timestamp.init(microseconds:)))
            policies[project, default: BudgetPolicy()].switches[feature, default: [:]][tenant] = s
        }
        for try await (project, tenant, reason, until) in try await client.query(
            "SELECT project_id, tenant, reason, until FROM tenant_throttle", logger: logger
        ).decode((String, String, String?, Int64?).self) {
            policies[project, default: BudgetPolicy()].throttles[tenant] = TenantThrottle(
                tenant: tenant, reason: reason, until: until.map(Timestamp.init(microseconds:)))
        }
        return policies
    }

    // MARK: Check and status

    public func checkBudget(
        projectID: String, tenant: String, feature: String?, estimateNanos: Int64, holdID: String?, now: Timestamp
    ) async throws -> (BudgetVerdict, BudgetStatus) {
        let policy = try await budgetPolicy(projectID: projectID)
        let perMinute = policy.limits(of: tenant).requestsPerMinute
        return try await retryingConflicts {
            try await transaction { connection in
                try await EntityLocks.lock(
                    [EntityLocks.key("budget", projectID, tenant)], connection, logger: self.logger)
                let use = try await Self.tenantUse(
                    connection, projectID: projectID, tenant: tenant, perMinute: perMinute, now: now,
                    logger: self.logger)
                let verdict = BudgetCheck.evaluate(
                    policy: policy, tenant: tenant, feature: feature, estimateNanos: estimateNanos, spend: use.spend,
                    requestsInLastMinute: use.requests, oldestRequestInMinute: use.oldest, now: now)
                var requests = use.requests
                if verdict.allowed {
                    try await Self.record(
                        connection, projectID: projectID, tenant: tenant, counted: perMinute != nil,
                        holdID: holdID, estimateNanos: estimateNanos, now: now, logger: self.logger)
                    if let perMinute { requests = min(requests + 1, max(perMinute, 1)) }
                }
                return (verdict, BudgetStatus(tenant, policy: policy, spend: use.spend, requests: requests, now: now))
            }
        }
    }

    public func budgetStatus(projectID: String, tenant: String, now: Timestamp) async throws -> BudgetStatus {
        let policy = try await budgetPolicy(projectID: projectID)
        let use = try await client.withConnection { connection in
            try await Self.tenantUse(
                connection, projectID: projectID, tenant: tenant,
                perMinute: policy.limits(of: tenant).requestsPerMinute, now: now, logger: self.logger)
        }
        return BudgetStatus(tenant, policy: policy, spend: use.spend, requests: use.requests, now: now)
    }

    /// Every tenant with a limit in force (assigned, or spending this month under a default plan), or a throttle.
    public func budgetStatuses(projectID: String, now: Timestamp) async throws -> [BudgetStatus] {
        let policy = try await budgetPolicy(projectID: projectID)
        let (day, month) = (BudgetPeriod.dayStart(now), BudgetPeriod.monthStart(now))
        var spending: [String: TenantSpend] = [:]
        for try await (tenant, dayNanos, monthNanos) in try await client.query(
            """
            SELECT tenant, least(coalesce(sum(total_cost_nanos) FILTER (WHERE day = \(day)), 0),
                    \(unescaped: Self.maxNanos))::bigint,
                least(sum(total_cost_nanos), \(unescaped: Self.maxNanos))::bigint
            FROM rollup_tenant_total_day WHERE project_id = \(projectID) AND day >= \(month) GROUP BY tenant
            """, logger: logger
        ).decode((String, Int64, Int64).self) {
            spending[tenant] = TenantSpend(dayNanos: dayNanos, monthNanos: monthNanos)
        }
        for try await (tenant, held) in try await client.query(
            """
            SELECT tenant, least(sum(nanos), \(unescaped: Self.maxNanos))::bigint FROM budget_hold
            WHERE project_id = \(projectID) AND expires_at > \(now.microseconds) GROUP BY tenant
            """, logger: logger
        ).decode((String, Int64).self) {
            spending[tenant, default: TenantSpend()].heldNanos = held
        }
        var requests: [String: Int] = [:]
        for try await (tenant, n) in try await client.query(
            """
            SELECT tenant, count(*) FROM budget_request
            WHERE project_id = \(projectID) AND at > \(now.microseconds - SlidingMinute.windowMicros) GROUP BY tenant
            """, logger: logger
        ).decode((String, Int64).self) {
            requests[tenant] = Int(n)
        }
        let names = Set(spending.keys).union(policy.tenants.keys).union(policy.throttles.keys).subtracting([""])
        return names.compactMap { tenant in
            let cap = max(policy.limits(of: tenant).requestsPerMinute ?? .max, 1)
            let status = BudgetStatus(
                tenant, policy: policy, spend: spending[tenant] ?? TenantSpend(),
                requests: min(requests[tenant] ?? 0, cap), now: now)
            return status.isListed ? status : nil
        }
    }

    public func projectMonthSpend(projectID: String, now: Timestamp) async throws -> Int64 {
        var total: Int64 = 0
        for try await n in try await client.query(
            """
            SELECT least(coalesce(sum(total_cost_nanos), 0), \(unescaped: Self.maxNanos))::bigint
            FROM rollup_tenant_total_day WHERE project_id = \(projectID) AND day >= \(BudgetPeriod.monthStart(now))
            """, logger: logger
        ).decode(Int64.self) {
            total = n
        }
        return total
    }

    /// A tenant's committed spend today and this month (UTC), its live holds, and its allowed checks in the last
    /// minute (at most the newest `perMinute`, as many as decide the limit) with the oldest of them.
    private static func tenantUse(
        _ connection: PostgresConnection, projectID: String, tenant: String, perMinute: Int?, now: Timestamp,
        logger: Logger
    ) async throws -> (spend: TenantSpend, requests: Int, oldest: Timestamp?) {
        let cap = Int64(max(perMinute ?? Int(Int32.max), 1))
        let query: PostgresQuery = """
            WITH spend AS (
                SELECT coalesce(sum(total_cost_nanos) FILTER (WHERE day = \(BudgetPeriod.dayStart(now))), 0) AS day,
                    coalesce(sum(total_cost_nanos), 0) AS month
                FROM rollup_tenant_total_day
                WHERE project_id = \(projectID) AND tenant = \(tenant) AND day >= \(BudgetPeriod.monthStart(now))
            ), held AS (
                SELECT coalesce(sum(nanos), 0) AS nanos FROM budget_hold
                WHERE project_id = \(projectID) AND tenant = \(tenant) AND expires_at > \(now.microseconds)
            ), recent AS (
                SELECT at FROM budget_request
                WHERE project_id = \(projectID) AND tenant = \(tenant)
                    AND at > \(now.microseconds - SlidingMinute.windowMicros)
                ORDER BY at DESC LIMIT \(cap)
            )
            SELECT least(spend.day, \(unescaped: maxNanos))::bigint, least(spend.month, \(unescaped: maxNanos))::bigint,
                least(held.nanos, \(unescaped: maxNanos))::bigint, (SELECT count(*) FROM recent),
                (SELECT min(at) FROM recent)
            FROM spend, held
            """
        for try await (day, month, held, n, oldest) in try await connection.query(query, logger: logger)
            .decode((Int64, Int64, Int64, Int64, Int64?).self)
        {
            return (
                TenantSpend(dayNanos: day, monthNanos: month, heldNanos: held), Int(n),
                oldest.map(Timestamp.init(microseconds:))
            )
        }
        return (TenantSpend(), 0, nil)
    }

    /// Records an allowed check: one request (when `counted`), hold `holdID` (added to a live hold of the same
    /// tenant, else replacing it), and drops the tenant's expired rows.
    private static func record(
        _ connection: PostgresConnection, projectID: String, tenant: String, counted: Bool, holdID: String?,
        estimateNanos: Int64, now: Timestamp, logger: Logger
    ) async throws {
        let expires = now.microseconds.addingSaturating(SpendHold.lifetimeMicros)
        let query: PostgresQuery = """
            WITH request AS (
                INSERT INTO budget_request (project_id, tenant, at)
                SELECT \(projectID), \(tenant), \(now.microseconds) WHERE \(counted)
            ), hold AS (
                INSERT INTO budget_hold (project_id, id, tenant, nanos, expires_at)
                SELECT \(projectID), id, \(tenant), \(estimateNanos), \(expires)
                FROM (SELECT CAST(\(holdID) AS text) AS id) AS h WHERE id IS NOT NULL AND \(estimateNanos) > 0
                ON CONFLICT (project_id, id) DO UPDATE SET
                    nanos = CASE WHEN budget_hold.tenant = excluded.tenant
                            AND budget_hold.expires_at > \(now.microseconds)
                        THEN least(budget_hold.nanos::numeric + excluded.nanos, \(unescaped: maxNanos))::bigint
                        ELSE excluded.nanos END,
                    tenant = excluded.tenant, expires_at = excluded.expires_at
            ), old_requests AS (
                DELETE FROM budget_request WHERE project_id = \(projectID) AND tenant = \(tenant)
                    AND at <= \(now.microseconds - SlidingMinute.windowMicros)
            )
            DELETE FROM budget_hold WHERE project_id = \(projectID) AND tenant = \(tenant)
                AND expires_at <= \(now.microseconds) AND id IS DISTINCT FROM \(holdID)
            """
        try await connection.query(query, logger: logger)
    }

    // MARK: Writes (each one transaction; every collector's next read sees the moved budget_revision)

    public func putPlan(projectID: String, _ plan: BudgetPlan, now: Timestamp) async throws {
        let l = plan.limits
        try await client.query(
            """
            INSERT INTO budget_plan VALUES (\(projectID), \(plan.name), \(l.dailyNanos), \(l.monthlyNanos),
                \(l.requestsPerMinute.map(Int64.init)), \(now.microseconds))
            ON CONFLICT (project_id, name) DO UPDATE SET daily_nanos = excluded.daily_nanos,
                monthly_nanos = excluded.monthly_nanos, requests_per_minute = excluded.requests_per_minute,
                updated_at = excluded.updated_at
            """, logger: logger)
    }

    /// Deletes a plan no tenant (and not the default) uses; false if there was none.
    public func deletePlan(projectID: String, name: String) async throws -> Bool {
        try await transaction { connection in
            // Lock the plan first: a tenant assigned to it meanwhile waits (the FK-like check below stays true).
            var exists = false
            for try await _ in try await connection.query(
                "SELECT 1 FROM budget_plan WHERE project_id = \(projectID) AND name = \(name) FOR UPDATE",
                logger: self.logger)
            {
                exists = true
            }
            guard exists else { return false }
            var (tenants, isDefault) = (0, false)
            for try await (n, d) in try await connection.query(
                """
                SELECT (SELECT count(*) FROM tenant_budget WHERE project_id = \(projectID) AND plan = \(name)),
                    coalesce((SELECT default_plan = \(name) FROM project_setting WHERE project_id = \(projectID)),
                        false)
                """, logger: self.logger
            ).decode((Int64, Bool).self) {
                (tenants, isDefault) = (Int(n), d)
            }
            guard tenants == 0, !isDefault else {
                throw BudgetWriteError.planInUse(name, tenants: tenants, isDefault: isDefault)
            }
            try await connection.query(
                "DELETE FROM budget_plan WHERE project_id = \(projectID) AND name = \(name)", logger: self.logger)
            return true
        }
    }

    public func putTenantBudget(projectID: String, _ budget: TenantBudget, now: Timestamp) async throws {
        let o = budget.overrides
        try await transaction { connection in
            if let plan = budget.plan { try await self.requirePlan(connection, projectID: projectID, plan) }
            try await connection.query(
                """
                INSERT INTO tenant_budget VALUES (\(projectID), \(budget.tenant), \(budget.plan), \(o.dailyNanos),
                    \(o.monthlyNanos), \(o.requestsPerMinute.map(Int64.init)), \(now.microseconds))
                ON CONFLICT (project_id, tenant) DO UPDATE SET plan = excluded.plan,
                    daily_nanos = excluded.daily_nanos, monthly_nanos = excluded.monthly_nanos,
                    requests_per_minute = excluded.requests_per_minute, updated_at = excluded.updated_at
                """, logger: self.logger)
        }
    }

    public func deleteTenantBudget(projectID: String, tenant: String) async throws -> Bool {
        try await deleted(
            "DELETE FROM tenant_budget WHERE project_id = \(projectID) AND tenant = \(tenant) RETURNING 1")
    }

    public func setBudgetSettings(projectID: String, defaultPlan: String?, projectMonthlyNanos: Int64?) async throws {
        try await transaction { connection in
            if let defaultPlan { try await self.requirePlan(connection, projectID: projectID, defaultPlan) }
            try await connection.query(
                """
                INSERT INTO project_setting (project_id, default_plan, project_monthly_nanos)
                VALUES (\(projectID), \(defaultPlan), \(projectMonthlyNanos))
                ON CONFLICT (project_id) DO UPDATE SET default_plan = excluded.default_plan,
                    project_monthly_nanos = excluded.project_monthly_nanos
                """, logger: self.logger)
        }
    }

    public func putSwitch(projectID: String, _ s: FeatureSwitch, now: Timestamp) async throws {
        try await client.query(
            """
            INSERT INTO feature_switch VALUES (\(projectID), \(s.feature), \(s.tenant ?? ""), \(s.enabled),
                \(s.reason), \(s.until?.microseconds), \(now.microseconds))
            ON CONFLICT (project_id, feature, tenant) DO UPDATE SET enabled = excluded.enabled,
                reason = excluded.reason, until = excluded.until, updated_at = excluded.updated_at
            """, logger: logger)
    }

    public func deleteSwitch(projectID: String, feature: String, tenant: String?) async throws -> Bool {
        try await deleted(
            """
            DELETE FROM feature_switch WHERE project_id = \(projectID) AND feature = \(feature)
            AND tenant = \(tenant ?? "") RETURNING 1
            """)
    }

    public func putThrottle(projectID: String, _ t: TenantThrottle, now: Timestamp) async throws {
        try await client.query(
            """
            INSERT INTO tenant_throttle VALUES (\(projectID), \(t.tenant), \(t.reason), \(t.until?.microseconds),
                \(now.microseconds))
            ON CONFLICT (project_id, tenant) DO UPDATE SET reason = excluded.reason, until = excluded.until,
                updated_at = excluded.updated_at
            """, logger: logger)
    }

    public func deleteThrottle(projectID: String, tenant: String) async throws -> Bool {
        try await deleted(
            "DELETE FROM tenant_throttle WHERE project_id = \(projectID) AND tenant = \(tenant) RETURNING 1")
    }

    /// Runs a `DELETE … RETURNING 1`; true if it deleted a row.
    private func deleted(_ query: PostgresQuery) async throws -> Bool {
        var any = false
        for try await _ in try await client.query(query, logger: logger) { any = true }
        return any
    }

    /// Throws `unknownPlan` unless plan `name` exists; keeps it (FOR SHARE) until the transaction ends, so a
    /// concurrent delete of the plan waits and then sees it in use.
    private func requirePlan(_ connection: PostgresConnection, projectID: String, _ name: String) async throws {
        for try await _ in try await connection.query(
            "SELECT 1 FROM budget_plan WHERE project_id = \(projectID) AND name = \(name) FOR SHARE", logger: logger)
        {
            return
        }
        throw BudgetWriteError.unknownPlan(name)
    }
}

/// Each collector's copy of the budget policies, tagged with the `budget_revision` it was read at.
final class PostgresBudgetCache: @unchecked Sendable {  // state only touched under `lock`
    private let lock = NSLock()
    private var revision: Int64 = -1
    private var policies: [String: BudgetPolicy] = [:]
    private var lastPrune: Int64 = 0

    func get(revision: Int64) -> [String: BudgetPolicy]? {
        lock.withLock { self.revision == revision ? policies : nil }
    }

    func put(_ policies: [String: BudgetPolicy], revision: Int64) {
        lock.withLock { (self.policies, self.revision) = (policies, revision) }
    }

    func clear() { lock.withLock { revision = -1 } }

    /// True once a minute: the caller prunes expired budget rows.
    func shouldPrune(at now: Timestamp) -> Bool {
        lock.withLock {
            guard now.microseconds - lastPrune >= SlidingMinute.windowMicros else { return false }
            lastPrune = now.microseconds
            return true
        }
    }
}
