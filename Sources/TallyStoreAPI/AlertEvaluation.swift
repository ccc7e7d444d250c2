import TallyCore

/// One evaluation of a project's alert rules, the same for every store: the numbers each rule type decides on are
/// read through the store's analytics and budget reads (rollups wherever they hold the measure; bounded index ranges
/// of recent observations otherwise), `AlertEvaluator` decides, and the store records each rule's cycle.
public struct AlertEvaluation<Store: AnalyticsStore & BudgetStore & AlertStore>: Sendable {
    public let store: Store
    private static var hour: Int64 { 3_600_000_000 }
    private static var day: Int64 { 86_400_000_000 }

    public init(_ store: Store) { self.store = store }

    /// One cycle over every rule of the project: findings, then `recordAlertCycle` per rule. A rule whose
    /// evaluation fails is skipped (the others still run) and reported in `failures`.
    public func run(projectID: String, baseURL: String, now: Timestamp) async throws
        -> (fired: [AlertFiring], resolved: [AlertFiring], failures: [(rule: String, error: String)])
    {
        var fired: [AlertFiring] = []
        var resolved: [AlertFiring] = []
        var failures: [(String, String)] = []
        for rule in try await store.rules(projectID: projectID) {
            do {
                let findings = try await findings(projectID: projectID, rule: rule, now: now)
                let outcome = try await store.recordAlertCycle(
                    projectID: projectID, rule: rule, findings: findings, baseURL: baseURL, now: now)
                fired += outcome.fired
                resolved += outcome.resolved
            } catch {
                failures.append((rule.id, "\(error)"))
            }
        }
        return (fired, resolved, failures)
    }

    /// The subjects `rule` holds for at `now` (none for a disabled rule).
    public func findings(projectID: String, rule: AlertRule, now: Timestamp = .now()) async throws
        -> [AlertFinding]
    {
        guard rule.enabled else { return [] }
        switch rule.type {
        case .tenantSpike: return try await tenantSpike(projectID, rule, now)
        case .featureRegression: return try await featureRegression(projectID, rule, now)
        case .errorBurn: return try await errorBurn(projectID, rule, now)
        case .budgetThreshold: return try await budgetThreshold(projectID, rule, now)
        case .embedSurge: return try await embedSurge(projectID, rule, now)
        case .threshold: return try await threshold(projectID, rule, now)
        }
    }

    /// A breakdown over [from, to) by `dimensions` with `metrics` and the rest of `filter`.
    private func sums(
        _ projectID: String, _ dimensions: [AnalyticsDimension], _ metrics: Set<Metric>, from: Int64, to: Int64,
        filter: AnalyticsFilter = AnalyticsFilter()
    ) async throws -> [BreakdownRow] {
        var q = BreakdownQuery()
        q.filter = filter
        q.filter.from = Timestamp(microseconds: from)
        q.filter.to = Timestamp(microseconds: to)
        q.dimensions = dimensions
        q.metrics = metrics
        q.limit = 10_000
        return try await store.breakdown(projectID: projectID, query: q)
    }

    private func tenantSpike(_ projectID: String, _ rule: AlertRule, _ now: Timestamp) async throws -> [AlertFinding] {
        let today = BudgetPeriod.dayStart(now)
        let days = rule.integer("baselineDays")
        let current = try await sums(projectID, [.tenant], [.totalCost], from: today, to: today + Self.day)
        let before = try await sums(
            projectID, [.tenant], [.totalCost], from: today - days * Self.day, to: today)
        return AlertEvaluator.tenantSpike(
            rule, today: Dictionary(current.map { ($0.keys[0] ?? "", $0.totalCostNanos) }) { a, b in a + b },
            baseline: Dictionary(before.map { ($0.keys[0] ?? "", [$0.totalCostNanos]) }) { a, b in a + b },
            day: Timestamp(microseconds: today).isoDate)
    }

    private func featureRegression(_ projectID: String, _ rule: AlertRule, _ now: Timestamp) async throws
        -> [AlertFinding]
    {
        let week = 7 * Self.day
        let end = now.microseconds
        func window(_ from: Int64, _ to: Int64) async throws -> [String: AlertEvaluator.FeatureWindow] {
            var q = UnitEconomicsQuery()
            q.dimensions = [.feature]
            q.filter.from = Timestamp(microseconds: from)
            q.filter.to = Timestamp(microseconds: to)
            q.success = rule.string("successScore").map { .scoreAtLeast(name: $0, min: 1) } ?? .noError
            q.limit = 10_000
            var out: [String: AlertEvaluator.FeatureWindow] = [:]
            for row in try await store.unitEconomics(projectID: projectID, query: q) {
                out[row.keys[0] ?? ""] = AlertEvaluator.FeatureWindow(
                    traces: row.traces, successes: row.successes, tokens: row.totalTokens)
            }
            return out
        }
        func versions(_ from: Int64, _ to: Int64) async throws -> [String: [AlertEvaluator.PromptVersion]] {
            var out: [String: [AlertEvaluator.PromptVersion]] = [:]
            let rows = try await sums(projectID, [.feature, .promptName, .promptVersion], [.count], from: from, to: to)
            for row in rows {
                guard let feature = row.keys[0], let name = row.keys[1], let version = row.keys[2].flatMap({ Int($0) })
                else { continue }
                out[feature, default: []].append(AlertEvaluator.PromptVersion(name: name, version: version))
            }
            return out
        }
        return AlertEvaluator.featureRegression(
            rule, current: try await window(end - week, end), previous: try await window(end - 2 * week, end - week),
            versions: (try await versions(end - week, end), try await versions(end - 2 * week, end - week)))
    }

    private func errorBurn(_ projectID: String, _ rule: AlertRule, _ now: Timestamp) async throws -> [AlertFinding] {
        let span = rule.integer("windowMinutes") * 60_000_000
        var filter = AnalyticsFilter()
        filter.types = [.generation]
        func window(_ from: Int64, _ to: Int64) async throws -> [String: AlertEvaluator.CallWindow] {
            let rows = try await sums(
                projectID, [.feature], [.count, .totalTokens, .errorRate], from: from, to: to, filter: filter)
            return Dictionary(
                rows.map {
                    (
                        $0.keys[0] ?? "",
                        AlertEvaluator.CallWindow(calls: $0.count, errors: $0.errors, tokens: $0.totalTokens)
                    )
                }
            ) { a, _ in a }
        }
        let end = now.microseconds + 1
        return AlertEvaluator.errorBurn(
            rule, current: try await window(end - span, end), previous: try await window(end - 2 * span, end - span))
    }

    private func budgetThreshold(_ projectID: String, _ rule: AlertRule, _ now: Timestamp) async throws
        -> [AlertFinding]
    {
        let uses = try await store.budgetStatuses(projectID: projectID, now: now).map {
            AlertEvaluator.BudgetUse(
                tenant: $0.tenant, dayNanos: $0.spend.dayNanos, monthNanos: $0.spend.monthNanos, limits: $0.limits)
        }
        return AlertEvaluator.budgetThreshold(
            rule, tenants: uses, projectMonthNanos: try await store.projectMonthSpend(projectID: projectID, now: now),
            projectMonthlyLimit: try await store.budgetPolicy(projectID: projectID).projectMonthlyNanos, now: now)
    }

    private func embedSurge(_ projectID: String, _ rule: AlertRule, _ now: Timestamp) async throws -> [AlertFinding] {
        let end = now.microseconds + 1
        var filter = AnalyticsFilter()
        filter.types = [.generation, .embedding]
        let rows = try await sums(
            projectID, [.tenant, .type, .model], [.totalTokens], from: end - rule.integer("windowHours") * Self.hour,
            to: end, filter: filter)
        var embedding: [String: Int64] = [:]
        var generation: [String: Int64] = [:]
        for row in rows {
            let tenant = row.keys[0] ?? ""
            let isEmbedding =
                row.keys[1] == ObservationType.embedding.rawValue
                || (row.keys[2]?.lowercased().contains("embed") ?? false)
            if isEmbedding {
                embedding[tenant, default: 0].addSaturating(row.totalTokens)
            } else {
                generation[tenant, default: 0].addSaturating(row.totalTokens)
            }
        }
        return AlertEvaluator.embedSurge(rule, embedding: embedding, generation: generation)
    }

    private func threshold(_ projectID: String, _ rule: AlertRule, _ now: Timestamp) async throws -> [AlertFinding] {
        guard let metricName = rule.string("metric"), let dimensionName = rule.string("groupBy"),
            let dimension = AnalyticsDimension(name: dimensionName)
        else { return [] }
        let end = now.microseconds + 1
        let from: Int64
        switch rule.string("window") ?? "24h" {
        case "1h": from = end - Self.hour
        case "7d": from = end - 7 * Self.day
        case "30d": from = end - 30 * Self.day
        case "today": from = BudgetPeriod.dayStart(now)
        case "month": from = BudgetPeriod.monthStart(now)
        default: from = end - Self.day
        }
        var filter = AnalyticsFilter()
        for (key, value) in rule.params["filters"]?.objectValue ?? [:] {
            guard let v = value.stringValue else { continue }
            switch key {
            case "tenantId": filter.tenants = [v]
            case "feature": filter.features = [v]
            case "model": filter.models = [v]
            case "environment": filter.environments = [v]
            default: continue
            }
        }
        let metric = Metric(rawValue: metricName == "errors" ? "errorRate" : metricName) ?? .totalCost
        let rows = try await sums(projectID, [dimension], [metric, .count], from: from, to: end, filter: filter)
        let values = rows.map { row -> (key: String?, value: Double) in
            let v: Double
            switch metricName {
            case "count": v = Double(row.count)
            case "errors": v = Double(row.errors)
            case "inputTokens": v = Double(row.inputTokens)
            case "outputTokens": v = Double(row.outputTokens)
            case "totalTokens": v = Double(row.totalTokens)
            case "inputCost": v = Money.usd(nanos: row.inputCostNanos)
            case "outputCost": v = Money.usd(nanos: row.outputCostNanos)
            default: v = Money.usd(nanos: row.totalCostNanos)
            }
            return (row.keys[0], v)
        }
        let policy = try await store.budgetPolicy(projectID: projectID)
        return AlertEvaluator.threshold(rule, values: values, planOf: { policy.planName(of: $0) })
    }
}
