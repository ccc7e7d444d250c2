import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// Budgets under `/api/tally/v1`: plans, tenant assignments, settings, kill switches, throttles, and the check
/// endpoint LLM middleware calls before paying a provider. Money is USD in JSON (nano-USD inside); periods are UTC
/// days and calendar months.
struct BudgetController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader

    func addRoutes(to tally: RouterGroup<TallyRequestContext>) {
        tally.get("plans", use: listPlans)
        tally.put("plans/:name", use: putPlan)
        tally.get("plans/:name", use: getPlan)
        tally.delete("plans/:name", use: deletePlan)
        tally.put("tenants/:tenantId/budget", use: putTenantBudget)
        tally.get("tenants/:tenantId/budget", use: getTenantBudget)
        tally.delete("tenants/:tenantId/budget", use: deleteTenantBudget)
        tally.put("tenants/:tenantId/throttle", use: putThrottle)
        tally.delete("tenants/:tenantId/throttle", use: deleteThrottle)
        tally.get("settings/budgets", use: getSettings)
        tally.put("settings/budgets", use: putSettings)
        tally.get("budgets", use: listBudgets)
        tally.post("budgets/check", use: check)
        tally.get("switches", use: listSwitches)
        tally.put("switches/:feature", use: putSwitch)
        tally.delete("switches/:feature", use: deleteSwitch)
    }

    // MARK: Plans

    @Sendable func listPlans(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let plans = try await database.budgetPolicy(projectID: project.id).plans.values.sorted { $0.name < $1.name }
        return JSONResponse.make(["data": .array(plans.map(Self.json))])
    }

    @Sendable func getPlan(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let name = try Self.name(context, "name")
        guard let plan = try await database.budgetPolicy(projectID: project.id).plans[name] else {
            throw APIError.notFound("Plan \(name) not found")
        }
        return JSONResponse.make(Self.json(plan))
    }

    @Sendable func putPlan(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let name = try Self.name(context, "name")
        let limits = try BudgetInput.limits(try await bodyReader.json(request))
        let plan = BudgetPlan(name: name, limits: limits)
        try await database.putPlan(projectID: project.id, plan)
        return JSONResponse.make(Self.json(plan))
    }

    @Sendable func deletePlan(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let name = try Self.name(context, "name")
        do {
            guard try await database.deletePlan(projectID: project.id, name: name) else {
                throw APIError.notFound("Plan \(name) not found")
            }
        } catch let BudgetWriteError.planInUse(_, tenants, isDefault) {
            let uses = [tenants > 0 ? "assigned to \(tenants) tenant(s)" : nil, isDefault ? "the default plan" : nil]
            throw APIError(
                status: .conflict,
                body: ["message": .string("Plan \(name) is \(uses.compactMap { $0 }.joined(separator: " and "))")])
        }
        return JSONResponse.make(["message": "Plan deleted"])
    }

    // MARK: Tenants

    @Sendable func putTenantBudget(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let tenant = try Self.name(context, "tenantId")
        let budget = try BudgetInput.tenantBudget(tenant: tenant, try await bodyReader.json(request))
        try await Self.writing { try await database.putTenantBudget(projectID: project.id, budget) }
        return JSONResponse.make(Self.json(try await database.budgetStatus(projectID: project.id, tenant: tenant)))
    }

    @Sendable func getTenantBudget(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let tenant = try Self.name(context, "tenantId")
        return JSONResponse.make(Self.json(try await database.budgetStatus(projectID: project.id, tenant: tenant)))
    }

    @Sendable func deleteTenantBudget(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let tenant = try Self.name(context, "tenantId")
        guard try await database.deleteTenantBudget(projectID: project.id, tenant: tenant) else {
            throw APIError.notFound("Tenant \(tenant) has no budget of its own")
        }
        return JSONResponse.make(Self.json(try await database.budgetStatus(projectID: project.id, tenant: tenant)))
    }

    @Sendable func putThrottle(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let tenant = try Self.name(context, "tenantId")
        let throttle = try BudgetInput.throttle(tenant: tenant, try await bodyReader.json(request))
        try await database.putThrottle(projectID: project.id, throttle)
        return JSONResponse.make(Self.json(try await database.budgetStatus(projectID: project.id, tenant: tenant)))
    }

    @Sendable func deleteThrottle(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let tenant = try Self.name(context, "tenantId")
        guard try await database.deleteThrottle(projectID: project.id, tenant: tenant) else {
            throw APIError.notFound("Tenant \(tenant) is not throttled")
        }
        return JSONResponse.make(Self.json(try await database.budgetStatus(projectID: project.id, tenant: tenant)))
    }

    // MARK: Settings and overview

    @Sendable func getSettings(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        return JSONResponse.make(try await settingsJSON(projectID: project.id))
    }

    @Sendable func putSettings(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let settings = try BudgetInput.settings(try await bodyReader.json(request))
        try await Self.writing {
            try await database.setBudgetSettings(
                projectID: project.id, defaultPlan: settings.defaultPlan,
                projectMonthlyNanos: settings.projectMonthlyNanos)
        }
        return JSONResponse.make(try await settingsJSON(projectID: project.id))
    }

    func settingsJSON(projectID: String) async throws -> JSONValue {
        let policy = try await database.budgetPolicy(projectID: projectID)
        let now = Timestamp.now()
        let spent = try await database.projectMonthSpend(projectID: projectID, now: now)
        return [
            "defaultPlan": policy.defaultPlan.map(JSONValue.string) ?? .null,
            "projectMonthlyUsd": policy.projectMonthlyNanos.map(Self.usd) ?? .null,
            "projectMonth": Self.period(
                spent: spent, held: 0, limit: policy.projectMonthlyNanos, resets: BudgetPeriod.nextMonthStart(now)),
        ]
    }

    /// Every tenant with limits (or a throttle), most used first: the larger of its day and month use as a share of
    /// the limit, then month spend.
    @Sendable func listBudgets(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let statuses = try await database.budgetStatuses(projectID: project.id).sorted { a, b in
            let (ua, ub) = (Self.usedShare(a), Self.usedShare(b))
            if ua != ub { return ua > ub }
            if a.spend.monthNanos != b.spend.monthNanos { return a.spend.monthNanos > b.spend.monthNanos }
            return a.tenant < b.tenant
        }
        return JSONResponse.make(["data": .array(statuses.map(Self.json))])
    }

    static func usedShare(_ s: BudgetStatus) -> Double {
        let used = Double(s.spend.monthNanos.addingSaturating(s.spend.heldNanos))
        let day = s.limits.dailyNanos.map { Double(s.spend.dayNanos + s.spend.heldNanos) / Double(max($0, 1)) } ?? 0
        let month = s.limits.monthlyNanos.map { used / Double(max($0, 1)) } ?? 0
        return max(day, month)
    }

    // MARK: Check

    /// 200 `{"allowed": true, …}` or 429 `{"allowed": false, "reason", "retryAfterSeconds", …}` with `Retry-After`.
    @Sendable func check(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let input = try BudgetInput.check(try await bodyReader.json(request))
        let (verdict, status) = try await database.checkBudget(
            projectID: project.id, tenant: input.tenant, feature: input.feature, estimateNanos: input.estimateNanos,
            holdID: input.holdID)
        guard var body = Self.json(status).objectValue else { return JSONResponse.make(Self.json(status)) }
        body["allowed"] = .bool(verdict.allowed)
        body["feature"] = input.feature.map(JSONValue.string) ?? .null
        guard let refusal = verdict.refusal else { return JSONResponse.make(.object(body)) }
        body["reason"] = .string(refusal.rawValue)
        body["retryAfterSeconds"] = verdict.retryAfterSeconds.map { .int(Int64($0)) } ?? .null
        body["message"] = verdict.message.map(JSONValue.string) ?? .null
        var response = JSONResponse.make(.object(body), status: .tooManyRequests)
        if let seconds = verdict.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
        return response
    }

    // MARK: Switches

    @Sendable func listSwitches(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let now = Timestamp.now()
        let all = try await database.budgetPolicy(projectID: project.id).switches.values.flatMap(\.values)
            .sorted { ($0.feature, $0.tenant ?? "") < ($1.feature, $1.tenant ?? "") }
        return JSONResponse.make(["data": .array(all.map { Self.json($0, now: now) })])
    }

    @Sendable func putSwitch(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let feature = try Self.name(context, "feature")
        let s = try BudgetInput.featureSwitch(feature: feature, try await bodyReader.json(request))
        try await database.putSwitch(projectID: project.id, s)
        return JSONResponse.make(Self.json(s, now: .now()))
    }

    /// Deletes the project-wide switch of the feature, or with `?tenantId=` that tenant's.
    @Sendable func deleteSwitch(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let feature = try Self.name(context, "feature")
        let tenant = try request.uri.queryParameters["tenantId"].map { raw in
            try BudgetInput.name(String(raw), field: "tenantId")
        }
        guard try await database.deleteSwitch(projectID: project.id, feature: feature, tenant: tenant) else {
            throw APIError.notFound("No switch for feature \(feature)" + (tenant.map { " and tenant \($0)" } ?? ""))
        }
        return JSONResponse.make(["message": "Switch deleted"])
    }

    // MARK: Helpers

    /// Runs a budget write, turning an unknown plan into a 400.
    static func writing(_ write: () async throws -> Void) async throws {
        do {
            try await write()
        } catch BudgetWriteError.unknownPlan(let name) {
            throw APIError.invalid("plan: no plan named \(name) (create it with PUT /api/tally/v1/plans/\(name))")
        }
    }

    static func name(_ context: TallyRequestContext, _ parameter: String) throws -> String {
        try BudgetInput.name(try context.pathID(parameter), field: parameter)
    }

    static func usd(_ nanos: Int64) -> JSONValue { .double(Money.usd(nanos: nanos)) }

    static func json(_ plan: BudgetPlan) -> JSONValue {
        ["name": .string(plan.name), "limits": json(plan.limits)]
    }

    static func json(_ limits: BudgetLimits) -> JSONValue {
        [
            "dailyUsd": limits.dailyNanos.map(usd) ?? .null, "monthlyUsd": limits.monthlyNanos.map(usd) ?? .null,
            "requestsPerMinute": limits.requestsPerMinute.map { .int(Int64($0)) } ?? .null,
        ]
    }

    /// One period's use: spent (committed), held (estimates of checks whose traces have not arrived), limit,
    /// remaining (never below 0) and when it resets.
    static func period(spent: Int64, held: Int64, limit: Int64?, resets: Int64) -> JSONValue {
        let used = spent.addingSaturating(held)
        return [
            "spentUsd": usd(spent), "heldUsd": usd(held), "limitUsd": limit.map(usd) ?? .null,
            "remainingUsd": limit.map { usd(max(0, $0 - used)) } ?? .null,
            "resetsAt": .string(Timestamp(microseconds: resets).iso8601),
        ]
    }

    static func json(_ s: BudgetStatus) -> JSONValue {
        let now = Timestamp.now()
        return [
            "tenantId": .string(s.tenant), "plan": s.plan.map(JSONValue.string) ?? .null, "limits": json(s.limits),
            "day": period(
                spent: s.spend.dayNanos, held: s.spend.heldNanos, limit: s.limits.dailyNanos,
                resets: BudgetPeriod.nextDayStart(now)),
            "month": period(
                spent: s.spend.monthNanos, held: s.spend.heldNanos, limit: s.limits.monthlyNanos,
                resets: BudgetPeriod.nextMonthStart(now)),
            "requestsLastMinute": .int(Int64(s.requestsInLastMinute)),
            "throttle": s.throttle.map { t in
                [
                    "until": t.until.map { .string($0.iso8601) } ?? .null,
                    "reason": t.reason.map(JSONValue.string) ?? .null,
                ]
            } ?? .null,
            "switches": .array(s.switches.map { json($0, now: now) }),
        ]
    }

    static func json(_ s: FeatureSwitch, now: Timestamp) -> JSONValue {
        [
            "feature": .string(s.feature), "tenantId": s.tenant.map(JSONValue.string) ?? .null,
            "enabled": .bool(s.enabled), "reason": s.reason.map(JSONValue.string) ?? .null,
            "until": s.until.map { .string($0.iso8601) } ?? .null, "active": .bool(s.applies(at: now)),
        ]
    }
}
