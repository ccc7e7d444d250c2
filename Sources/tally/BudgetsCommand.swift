import ArgumentParser
import Foundation
import TallyCore
import TallyStore
import TallyStoreAPI

/// `tally budgets`: the budget tables from a shell. A running server picks the change up within a second
/// (`budget_revision`).
struct Budgets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-tenant budgets (the same as /api/tally/v1/plans and /tenants/{id}/budget).",
        subcommands: [SetPlan.self, Assign.self, Show.self])

    /// The three limits as options; each optional (absent: none on a plan, the plan's on a tenant).
    struct LimitOptions: ParsableArguments {
        @Option(help: "USD per UTC day") var dailyUsd: Double?
        @Option(help: "USD per UTC calendar month") var monthlyUsd: Double?
        @Option(help: "Budget checks allowed per sliding minute") var requestsPerMinute: Int?

        /// Checked exactly as the API checks its JSON body.
        func limits() throws -> BudgetLimits {
            var body: [String: JSONValue] = [:]
            if let dailyUsd { body["dailyUsd"] = .double(dailyUsd) }
            if let monthlyUsd { body["monthlyUsd"] = .double(monthlyUsd) }
            if let requestsPerMinute { body["requestsPerMinute"] = .int(Int64(requestsPerMinute)) }
            do {
                return try BudgetInput.limits(.object(body))
            } catch let e as IngestionError {
                var text = e.error ?? e.message
                for (field, option) in [
                    ("body.dailyUsd", "--daily-usd"), ("body.monthlyUsd", "--monthly-usd"),
                    ("body.requestsPerMinute", "--requests-per-minute"),
                ] {
                    text = text.replacingOccurrences(of: field, with: option)
                }
                throw ValidationError(text)
            }
        }
    }

    struct SetPlan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-plan", abstract: "Create or replace a plan (e.g. starter --daily-usd 5).")
        @Argument(help: "Plan name") var name: String
        @OptionGroup var limits: LimitOptions
        @Option(help: "Project id. Default: default") var project: String = "default"
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let plan = BudgetPlan(name: try checkedName(name, "NAME"), limits: try limits.limits())
            let project = project
            try await store.withStorage { db in try await db.putPlan(projectID: project, plan) }
            print("plan \(plan.name): \(describe(plan.limits))")
        }
    }

    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a tenant on a plan, optionally with its own limits over the plan's.")
        @Argument(help: "Tenant id") var tenant: String
        @Argument(help: "Plan name") var plan: String
        @OptionGroup var limits: LimitOptions
        @Option(help: "Project id. Default: default") var project: String = "default"
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let budget = TenantBudget(
                tenant: try checkedName(tenant, "TENANT"), plan: try checkedName(plan, "PLAN"),
                overrides: try limits.limits())
            let project = project
            do {
                try await store.withStorage { db in try await db.putTenantBudget(projectID: project, budget) }
            } catch BudgetWriteError.unknownPlan(let name) {
                throw ValidationError("no plan named \(name) in project \(project) (create it with set-plan)")
            }
            print("tenant \(budget.tenant) on plan \(plan)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Plans, the default plan, and every tenant with limits: spend today and this month.")
        @Argument(help: "Only this tenant") var tenant: String?
        @Option(help: "Project id. Default: default") var project: String = "default"
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let now = Timestamp.now()
            let (project, tenant) = (project, tenant)
            let (policy, spent, statuses) = try await store.withStorage { db in
                let statuses =
                    if let tenant {
                        [try await db.budgetStatus(projectID: project, tenant: tenant, now: now)]
                    } else {
                        try await db.budgetStatuses(projectID: project, now: now)
                    }
                return (
                    try await db.budgetPolicy(projectID: project),
                    try await db.projectMonthSpend(projectID: project, now: now), statuses
                )
            }
            if tenant == nil {
                for plan in policy.plans.values.sorted(by: { $0.name < $1.name }) {
                    print(
                        "plan \(plan.name)\(plan.name == policy.defaultPlan ? " (default)" : ""): \(describe(plan.limits))"
                    )
                }
                if let org = policy.projectMonthlyNanos {
                    print("project budget: \(usd(spent)) of \(usd(org)) this month")
                }
            }
            for s in statuses.sorted(by: { $0.spend.monthNanos > $1.spend.monthNanos }) {
                let day = s.limits.dailyNanos.map { " of \(usd($0))" } ?? ""
                let month = s.limits.monthlyNanos.map { " of \(usd($0))" } ?? ""
                var line = "tenant \(s.tenant)\tplan \(s.plan ?? "-")\ttoday \(usd(s.spend.dayNanos))\(day)"
                line += "\tmonth \(usd(s.spend.monthNanos))\(month)"
                if let t = s.throttle { line += "\tthrottled until \(t.until?.iso8601 ?? "deleted")" }
                print(line)
            }
        }
    }
}

private func checkedName(_ s: String, _ argument: String) throws -> String {
    do {
        return try BudgetInput.name(s, field: argument)
    } catch let e as IngestionError {
        throw ValidationError(e.error ?? e.message)
    }
}

private func usd(_ nanos: Int64) -> String { String(format: "$%.4f", Money.usd(nanos: nanos)) }

private func describe(_ l: BudgetLimits) -> String {
    let parts = [
        l.dailyNanos.map { "\(usd($0))/day" }, l.monthlyNanos.map { "\(usd($0))/month" },
        l.requestsPerMinute.map { "\($0) checks/min" },
    ].compactMap { $0 }
    return parts.isEmpty ? "no limits" : parts.joined(separator: ", ")
}
