import TallyCore

/// The store contract the server talks to, one protocol per concern, values in and values out: no SQL text and no
/// database driver type crosses it. `TallyDatabase` (SQLite) and `PostgresStore` implement every one and run the same
/// conformance tests. Requirements that may do I/O are `async` (SQLite answers the budget check from memory).
/// Time parameters (`now`) are explicit in the requirements; the extensions below supply the current time.
public typealias TallyStorage = IngestStore & ProjectStore & TraceStore & AnalyticsStore & PricingStore & PromptStore
    & SavingsStore & ActivityStore & BudgetStore & AlertStore & ExportStore & RetentionStore & MaintenanceStore

/// The single write path (see `TallyDatabase.ingest`).
public protocol IngestStore: Sendable {
    /// Who hears of committed observations and of each ingest transaction (call log, health metrics).
    var commitFeed: CommitFeed { get }
    func ingest(projectID: String, events: consuming [IngestionEvent], rules: AttributionRules) async throws -> [Result<
        Void, IngestionError
    >]
    func queuedEvents() async -> Int
}

extension IngestStore {
    public func ingest(projectID: String, events: consuming [IngestionEvent]) async throws -> [Result<
        Void, IngestionError
    >] {
        try await ingest(projectID: projectID, events: events, rules: .standard)
    }
}

/// Projects, API keys and UI sessions.
public protocol ProjectStore: Sendable {
    /// Creates the project if no project has `id`; an existing project keeps its name.
    @discardableResult func ensureProject(id: String, name: String) async throws -> Project
    /// Stores a key (generated when `publicKey`/`secretKey` are nil); nil when this project already has that live
    /// public key; a key of another project moves here with the new secret.
    @discardableResult func createKey(
        projectID: String, publicKey: String?, secretKey: String?, note: String?, scope: KeyScope
    ) async throws -> CreatedKey?
    func projects() async throws -> [Project]
    func project(publicKey: String) async throws -> Project?
    func authenticatedKey(publicKey: String, secretKey: String) async throws -> (project: Project, scope: KeyScope)?
    func createGeneratedKey(projectID: String, note: String?, scope: KeyScope) async throws -> CreatedKey
    func listKeys(projectID: String) async throws -> [APIKeyInfo]
    func revokeKey(publicKey: String, inProject projectID: String) async throws -> Bool
    func openSession(publicKey: String, secretKey: String) async throws -> (
        token: String, project: Project, scope: KeyScope
    )?
    func session(token: String) async throws -> (project: Project, scope: KeyScope)?
    func closeSession(token: String) async throws
}

/// Langfuse's public read API and the UI's trace list.
public protocol TraceStore: Sendable {
    func trace(projectID: String, id: String) async throws -> (TraceSummary, [Observation], [Score])?
    func traces(projectID: String, query q: TraceQuery) async throws -> Paged<TraceSummary>
    func observation(projectID: String, id: String) async throws -> Observation?
    func observations(projectID: String, query q: ObservationQuery) async throws -> Paged<Observation>
    func observationsAfter(projectID: String, query q: ObservationQuery, cursor: ListCursor?, limit: Int) async throws
        -> [ObservationWithTrace]
    func score(projectID: String, id: String) async throws -> Score?
    func scores(projectID: String, query q: ScoreQuery) async throws -> Paged<ScoreWithTrace>
    func scoresAfter(projectID: String, query q: ScoreQuery, cursor: ListCursor?, limit: Int) async throws -> [Score]
    func session(projectID: String, id: String) async throws -> (Session, [TraceSummary])?
    func sessions(projectID: String, query q: SessionQuery) async throws -> Paged<Session>
    @discardableResult func deleteTraces(projectID: String, ids: [String]) async throws -> Int
    @discardableResult func deleteScore(projectID: String, id: String) async throws -> Bool
    func traceList(projectID: String, query q: TraceListQuery) async throws -> (
        rows: [TraceListRow], hasMore: Bool, next: ListCursor?
    )
    func modelCalls(projectID: String, ids: [String]) async throws -> [ModelCall]
}

/// Breakdowns, prompt comparison, unit economics, the metrics query API, billing exports and the health figures.
public protocol AnalyticsStore: Sendable {
    func breakdown(projectID: String, query q: BreakdownQuery) async throws -> [BreakdownRow]
    func promptVersions(projectID: String, promptName: String, filter: AnalyticsFilter) async throws
        -> [PromptVersionStats]
    func unitEconomics(projectID: String, query q: UnitEconomicsQuery) async throws -> [UnitEconomicsRow]
    func metrics(projectID: String, query q: MetricsQuery) async throws -> [[String: JSONValue]]
    func usageExport(projectID: String, query q: UsageExportQuery) async throws -> [UsageRow]
    func reconciliationUsage(projectID: String, from: Timestamp, to: Timestamp) async throws -> [Reconciliation.Usage]
    func llmMetrics(projectID: String, limits: LLMMetrics.Limits, now: Timestamp) async throws -> LLMMetrics
    func healthFigures(projectID: String) async throws -> HealthFigures
}

/// What the project's spend would be priced as another model, and the waste finders (`WhatIf`, `Insights` in
/// TallyCore; the SQL in TallySQL).
public protocol SavingsStore: Sendable {
    /// Throws `WhatIf.Failure` when the target model is unknown or a priced sum leaves Int64.
    func whatIf(projectID: String, query q: WhatIfQuery, now: Timestamp) async throws -> WhatIfAnswer
    /// Every finding in the range, most valuable first.
    func insights(projectID: String, query q: InsightQuery) async throws -> [Finding]
}

/// The Users and Sessions views (`Activity` in TallyCore; the SQL in TallySQL).
public protocol ActivityStore: Sendable {
    /// A page of users with traces in the range, and how many there are.
    func users(projectID: String, query q: UserListQuery) async throws -> (rows: [UserRow], total: Int)
    /// A page of sessions, newest start first, with their totals over all their traces.
    func sessionList(projectID: String, query q: SessionListQuery) async throws -> [SessionRow]
}

/// Model prices and the pricing settings.
public protocol PricingStore: Sendable {
    func models(projectID: String) async throws -> [ModelPrice]
    func saveModel(projectID: String, _ model: ModelPrice) async throws -> ModelPrice
    @discardableResult func deleteModel(projectID: String, id: String) async throws -> Bool
    func pricingSettings(projectID: String) async throws -> PricingSettings
    func setPricingSettings(projectID: String, _ settings: PricingSettings) async throws
    func recomputeCosts(projectID: String, from: Timestamp?, to: Timestamp?) async throws -> Int
}

/// Prompt management.
public protocol PromptStore: Sendable {
    func prompt(projectID: String, name: String, _ selector: PromptSelector) async throws -> Prompt?
    func prompts(projectID: String, query q: PromptListQuery) async throws -> Paged<PromptSummary>
    func promptVersions(projectID: String, name: String) async throws -> [Prompt]
    func createPrompt(projectID: String, _ p: NewPrompt, now: Timestamp) async throws -> Prompt
    func addPromptLabels(projectID: String, name: String, version: Int, labels: [String], now: Timestamp) async throws
        -> Prompt?
    func deletePrompt(projectID: String, name: String, _ selector: PromptSelector?) async throws -> Int
}

extension PromptStore {
    public func createPrompt(projectID: String, _ p: NewPrompt) async throws -> Prompt {
        try await createPrompt(projectID: projectID, p, now: .now())
    }

    public func addPromptLabels(projectID: String, name: String, version: Int, labels: [String]) async throws -> Prompt?
    {
        try await addPromptLabels(projectID: projectID, name: name, version: version, labels: labels, now: .now())
    }
}

/// Budgets: plans, tenant budgets, switches, throttles and the check. The check and the status reads are the
/// budget check API's hot path: SQLite answers them from memory, PostgreSQL in one short transaction so every
/// collector decides on the same spend, holds and request counts.
public protocol BudgetStore: Sendable {
    func budgetPolicy(projectID: String) async throws -> BudgetPolicy
    func budgetStatus(projectID: String, tenant: String, now: Timestamp) async throws -> BudgetStatus
    func budgetStatuses(projectID: String, now: Timestamp) async throws -> [BudgetStatus]
    /// Decides one check; an allowed check counts against the tenant's requests per minute and places hold
    /// `holdID` (if any) of `estimateNanos`, atomically with the decision.
    func checkBudget(
        projectID: String, tenant: String, feature: String?, estimateNanos: Int64, holdID: String?, now: Timestamp
    ) async throws -> (BudgetVerdict, BudgetStatus)
    /// The project's committed spend this month over every tenant (and none), nano-USD.
    func projectMonthSpend(projectID: String, now: Timestamp) async throws -> Int64
    func putPlan(projectID: String, _ plan: BudgetPlan, now: Timestamp) async throws
    func deletePlan(projectID: String, name: String) async throws -> Bool
    func putTenantBudget(projectID: String, _ budget: TenantBudget, now: Timestamp) async throws
    func deleteTenantBudget(projectID: String, tenant: String) async throws -> Bool
    func putSwitch(projectID: String, _ s: FeatureSwitch, now: Timestamp) async throws
    func deleteSwitch(projectID: String, feature: String, tenant: String?) async throws -> Bool
    func putThrottle(projectID: String, _ t: TenantThrottle, now: Timestamp) async throws
    func deleteThrottle(projectID: String, tenant: String) async throws -> Bool
    func setBudgetSettings(projectID: String, defaultPlan: String?, projectMonthlyNanos: Int64?) async throws
    func reloadBudgetPolicies(ifChanged: Bool) async throws
    func resyncSpend() async throws
}

extension BudgetStore {
    public func budgetStatus(projectID: String, tenant: String) async throws -> BudgetStatus {
        try await budgetStatus(projectID: projectID, tenant: tenant, now: .now())
    }

    public func budgetStatuses(projectID: String) async throws -> [BudgetStatus] {
        try await budgetStatuses(projectID: projectID, now: .now())
    }

    public func checkBudget(projectID: String, tenant: String, feature: String?, estimateNanos: Int64, holdID: String?)
        async throws -> (BudgetVerdict, BudgetStatus)
    {
        try await checkBudget(
            projectID: projectID, tenant: tenant, feature: feature, estimateNanos: estimateNanos, holdID: holdID,
            now: .now())
    }

    public func projectMonthSpend(projectID: String) async throws -> Int64 {
        try await projectMonthSpend(projectID: projectID, now: .now())
    }

    public func putPlan(projectID: String, _ plan: BudgetPlan) async throws {
        try await putPlan(projectID: projectID, plan, now: .now())
    }

    public func putTenantBudget(projectID: String, _ budget: TenantBudget) async throws {
        try await putTenantBudget(projectID: projectID, budget, now: .now())
    }

    public func putSwitch(projectID: String, _ s: FeatureSwitch) async throws {
        try await putSwitch(projectID: projectID, s, now: .now())
    }

    public func putThrottle(projectID: String, _ t: TenantThrottle) async throws {
        try await putThrottle(projectID: projectID, t, now: .now())
    }

    public func reloadBudgetPolicies() async throws {
        try await reloadBudgetPolicies(ifChanged: true)
    }
}

/// Alert rules, channels, firings and webhook deliveries.
public protocol AlertStore: Sendable {
    func channels(projectID: String) async throws -> [AlertChannel]
    func createChannel(projectID: String, _ c: AlertInput.Channel, now: Timestamp) async throws -> AlertChannel
    func deleteChannel(projectID: String, idOrName: String) async throws -> Bool
    func rules(projectID: String) async throws -> [AlertRule]
    func rule(projectID: String, id: String) async throws -> AlertRule?
    func putRule(projectID: String, _ rule: AlertRule, now: Timestamp) async throws
    func deleteRule(projectID: String, id: String, now: Timestamp) async throws -> Bool
    func firings(projectID: String, limit: Int) async throws -> [AlertFiring]
    /// One evaluation of every rule of the project (`AlertEvaluation`).
    func evaluateAlerts(projectID: String, baseURL: String, now: Timestamp) async throws -> (
        fired: [AlertFiring], resolved: [AlertFiring], failures: [(rule: String, error: String)]
    )
    /// Records one evaluation of `rule` atomically: a finding with no open firing opens one (with a pending
    /// delivery per channel and the rule's actions applied); an open firing no finding names is resolved (with a
    /// pending `alert.resolved` delivery per channel). Concurrent records of one rule apply one after the other, so
    /// a subject fires once however many collectors evaluate it. Returns what fired and what resolved.
    func recordAlertCycle(
        projectID: String, rule: AlertRule, findings: [AlertFinding], baseURL: String, now: Timestamp
    ) async throws -> (fired: [AlertFiring], resolved: [AlertFiring])
    /// Pending deliveries whose next attempt is due, oldest first, each leased to the caller: no other caller gets
    /// it before `recordDeliveryAttempt` or `AlertDelivery.leaseMicros` later (then it is due again: delivery is at
    /// least once, receivers dedupe by the body's `id`).
    func dueDeliveries(now: Timestamp, limit: Int) async throws -> [PendingDelivery]
    func recordDeliveryAttempt(
        id: Int64, delivered: Bool, httpStatus: Int?, error: String?, retryAt: Timestamp?, now: Timestamp) async throws
}

extension AlertStore {
    public func createChannel(projectID: String, _ c: AlertInput.Channel) async throws -> AlertChannel {
        try await createChannel(projectID: projectID, c, now: .now())
    }

    public func putRule(projectID: String, _ rule: AlertRule) async throws {
        try await putRule(projectID: projectID, rule, now: .now())
    }

    public func deleteRule(projectID: String, id: String) async throws -> Bool {
        try await deleteRule(projectID: projectID, id: id, now: .now())
    }

    public func firings(projectID: String) async throws -> [AlertFiring] {
        try await firings(projectID: projectID, limit: 100)
    }

    public func evaluateAlerts(projectID: String, baseURL: String) async throws -> (
        fired: [AlertFiring], resolved: [AlertFiring], failures: [(rule: String, error: String)]
    ) {
        try await evaluateAlerts(projectID: projectID, baseURL: baseURL, now: .now())
    }

    public func dueDeliveries(limit: Int = 50) async throws -> [PendingDelivery] {
        try await dueDeliveries(now: .now(), limit: limit)
    }

    public func recordDeliveryAttempt(id: Int64, delivered: Bool, httpStatus: Int?, error: String?, retryAt: Timestamp?)
        async throws
    {
        try await recordDeliveryAttempt(
            id: id, delivered: delivered, httpStatus: httpStatus, error: error, retryAt: retryAt, now: .now())
    }
}

/// Usage export sinks (Lago, OpenMeter) and their push service's records.
public protocol ExportStore: Sendable {
    func putExportSink(
        projectID: String, name: String, config: ExportSinkConfig, apiKey: String?, from: Timestamp?, now: Timestamp
    ) async throws -> Bool
    func deleteExportSink(projectID: String, name: String) async throws -> Bool
    func exportSinkStatus(projectID: String, name: String, recent: Int) async throws -> ExportSinkStatus?
    func exportSinkStatuses(projectID: String) async throws -> [ExportSinkStatus]
    func requestExportPush(projectID: String, name: String, now: Timestamp) async throws -> Bool
    /// Sinks whose next push is due, each leased to the caller: no other caller gets it while its pass runs (the
    /// lease is renewed by `recordExportTaken` and `recordExportRejected` and ends with `recordExportPass` or
    /// `recordExportFailure`, or `ExportLease.micros` after the last renewal when its collector died).
    func dueExportSinks(now: Timestamp) async throws -> [ExportSink]
    func exportWork(_ sink: ExportSink, now: Timestamp, limit: Int) async throws -> ExportWork?
    @discardableResult func recordExportTaken(_ sink: ExportSink, _ pushes: [ExportPush], now: Timestamp) async throws
        -> Bool
    func recordExportRejected(_ sink: ExportSink, _ push: ExportPush, status: Int, error: String, now: Timestamp)
        async throws
    func recordExportPass(
        _ sink: ExportSink, through lastSeq: Int64?, issues: [ExportIssueChange], more: Bool, now: Timestamp)
        async throws
    func recordExportFailure(_ sink: ExportSink, status: Int?, error: String, retryAt: Timestamp, now: Timestamp)
        async throws
}

extension ExportStore {
    public func putExportSink(
        projectID: String, name: String, config: ExportSinkConfig, apiKey: String?, from: Timestamp?
    ) async throws -> Bool {
        try await putExportSink(
            projectID: projectID, name: name, config: config, apiKey: apiKey, from: from, now: .now())
    }

    public func exportSinkStatus(projectID: String, name: String) async throws -> ExportSinkStatus? {
        try await exportSinkStatus(projectID: projectID, name: name, recent: 50)
    }

    public func requestExportPush(projectID: String, name: String) async throws -> Bool {
        try await requestExportPush(projectID: projectID, name: name, now: .now())
    }

    public func dueExportSinks() async throws -> [ExportSink] {
        try await dueExportSinks(now: .now())
    }

    public func exportWork(_ sink: ExportSink, limit: Int = 1_000) async throws -> ExportWork? {
        try await exportWork(sink, now: .now(), limit: limit)
    }

    @discardableResult public func recordExportTaken(_ sink: ExportSink, _ pushes: [ExportPush]) async throws -> Bool {
        try await recordExportTaken(sink, pushes, now: .now())
    }

    public func recordExportRejected(_ sink: ExportSink, _ push: ExportPush, status: Int, error: String) async throws {
        try await recordExportRejected(sink, push, status: status, error: error, now: .now())
    }

    public func recordExportPass(_ sink: ExportSink, through lastSeq: Int64?, issues: [ExportIssueChange], more: Bool)
        async throws
    {
        try await recordExportPass(sink, through: lastSeq, issues: issues, more: more, now: .now())
    }

    public func recordExportFailure(_ sink: ExportSink, status: Int?, error: String, retryAt: Timestamp) async throws {
        try await recordExportFailure(sink, status: status, error: error, retryAt: retryAt, now: .now())
    }
}

/// Retention policies and their deletions.
public protocol RetentionStore: Sendable {
    func retentionDays(projectID: String) async throws -> Int?
    func setRetentionDays(projectID: String, _ days: Int?) async throws
    func retentionPolicies(defaultDays: Int?) async throws -> [(projectID: String, days: Int)]
    /// Deletes up to `limit` traces older than `cutoff` with their observations and scores (and old trace-less scores).
    func deleteTraces(projectID: String, olderThan cutoff: Timestamp, limit: Int) async throws -> (
        traces: Int, scores: Int
    )
    @discardableResult func reclaimSpace(pages: Int) async throws -> Int
    /// Removes in bulk the observations every project's retention has expired: those that started before `cutoff`
    /// (the oldest cutoff in force, asked only when every project has one), with their shares and rollup
    /// contributions; their traces and scores are left to `deleteTraces`. Returns how many observations went. A
    /// store without a bulk path does nothing and returns 0 (SQLite: its per-trace deletes are fast enough).
    @discardableResult func dropExpired(olderThan cutoff: Timestamp) async throws -> Int
}

/// Upkeep the server runs in the background, and reachability.
public protocol MaintenanceStore: Sendable {
    @discardableResult func checkpointIfNeeded(limitBytes: Int, wait: Duration) async throws -> Int?
    @discardableResult func checkpointPassive() async throws -> (walFrames: Int, copied: Int)
    func optimize() async throws
    func isReachable() async -> Bool
    /// True when the caller should run periodic `task` now: no one (no other collector on the same database) has
    /// claimed it in the last `interval` (less a tenth, for timer jitter). Claims it when it answers true. A store
    /// only one process serves (SQLite) always answers true.
    func claimWork(_ task: String, interval: Duration, now: Timestamp) async throws -> Bool
}

extension MaintenanceStore {
    @discardableResult public func checkpointIfNeeded(limitBytes: Int) async throws -> Int? {
        try await checkpointIfNeeded(limitBytes: limitBytes, wait: .seconds(5))
    }
}
