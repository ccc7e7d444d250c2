import Foundation
import GRDB
import TallyCore
import TallySQL
import TallySecrets
import TallyStoreAPI

/// The single write path: every protocol's events enter here.
extension TallyDatabase {
    /// Applies `events` to `projectID` and returns one result per event, in input order.
    ///
    /// Contract: the events go through the group commit (`IngestQueue`): they are applied in one transaction,
    /// possibly shared with other requests, creates-first and each by timestamp
    /// (`IngestionEvent.applicationOrder`). An event the store refuses is reported alone while its neighbours
    /// commit. When this returns, everything reported as success is durable. Applying the same events again leaves
    /// the same state (idempotent by entity id). Throws `StoreError.overloaded` when the queue is full (nothing was
    /// written; send again later), or the commit error when the transaction could not commit (nothing was written).
    ///
    /// Memory: `events` is consumed. A new observation's content (input, output, metadata, model parameters) is
    /// kept encoded only, as it will be stored; a caller that passes its last reference frees the parsed content
    /// before the request waits for the writer.
    public func ingest(
        projectID: String, events: consuming [IngestionEvent], rules: AttributionRules
    ) async throws -> [Result<Void, IngestionError>] {
        if events.isEmpty { return [] }
        // Price lookups for the request's model names happen here, before the single writer is taken.
        let pricing = try await cachedPricing(projectID: projectID)
        pricing.table.prepare(names: events.lazy.flatMap(\.modelNames))
        // So is the work on new observations that needs no database (merge, price, check, encode): the writer is
        // the one serial stage, so everything that can run in parallel runs here.
        let now = Timestamp.now()
        var prepared = [PreparedObservation?](repeating: nil, count: events.count)
        for i in events.indices {
            prepared[i] = PreparedObservation(
                &events[i], projectID: projectID, rules: rules, pricing: pricing, now: now)
        }
        return try await ingestQueue.submit(
            IngestBatch(
                projectID: projectID, events: events, prepared: prepared, rules: rules, pricing: pricing, now: now))
    }

    /// Recomputes the per-trace totals columns of one trace from its observations (`SharedSQL.setTraceTotals`).
    static func refreshTraceTotals(_ db: Database, projectID: String, traceID: String) throws {
        try db.cachedStatement(sql: refreshTraceTotalsSQL).execute(arguments: [projectID, traceID])
    }

    /// Built once: the statement is cached by its text, per transaction and trace on the write path.
    static let refreshTraceTotalsSQL =
        "UPDATE trace AS t SET \(SharedSQL.setTraceTotals()) WHERE t.project_id = ?1 AND t.id = ?2"

    /// The `trace` row with every column (the per-trace totals included).
    static func fetchTraceRow(_ db: Database, projectID: String, id: String) throws -> Row? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM trace WHERE project_id = ? AND id = ?"), arguments: [projectID, id])
    }

    static func fetchObservation(_ db: Database, projectID: String, id: String) throws -> Observation? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM observation WHERE project_id = ? AND id = ?"),
            arguments: [projectID, id]
        ).map(Observation.init(row:))
    }

    /// Upserts `t`. `totals` are the per-trace totals columns for a new row (`TraceTotalsSum.columns`); an existing
    /// row keeps its own (`refreshTraceTotals` maintains them). `observationsAttributed`: the caller knows every
    /// stored observation of `t` already carries its tenant and feature (so none is looked for).
    static func write(
        _ t: Trace, previous: Trace?, totals: [DatabaseValue] = TraceTotalsSum().columns,
        observationsAttributed: Bool = false, projectID: String, now: Timestamp, _ db: Database
    ) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO trace (project_id, id, timestamp, name, user_id, session_id, release, version, environment,
                    input, output, metadata, tags, public, bookmarked, external_id, tenant, feature, is_placeholder,
                    created_at, updated_at, event_time, observation_count, input_tokens, output_tokens, total_tokens,
                    total_cost_nanos, duration_micros, max_level, call_count, step_repeat)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (project_id, id) DO UPDATE SET timestamp = excluded.timestamp, name = excluded.name,
                    user_id = excluded.user_id, session_id = excluded.session_id, release = excluded.release,
                    version = excluded.version, environment = excluded.environment, input = excluded.input,
                    output = excluded.output, metadata = excluded.metadata, tags = excluded.tags,
                    public = excluded.public, bookmarked = excluded.bookmarked, external_id = excluded.external_id,
                    tenant = excluded.tenant, feature = excluded.feature, is_placeholder = excluded.is_placeholder,
                    updated_at = excluded.updated_at, event_time = excluded.event_time
                """
        ).execute(
            arguments: [
                projectID, t.id, t.timestamp.microseconds, t.name, t.userID, t.sessionID, t.release, t.version,
                t.environment, StoredContent.encode(t.input), StoredContent.encode(t.output),
                JSONValue.object(t.metadata).serialized(), JSONValue.array(t.tags.map { .string($0) }).serialized(),
                t.isPublic, t.bookmarked, t.externalID, t.tenant, t.feature, t.isPlaceholder, now.microseconds,
                now.microseconds, t.eventTime?.microseconds,
            ] + StatementArguments(totals))
        if let previous, previous.timestamp != t.timestamp, !previous.tags.isEmpty {
            // A placeholder's timestamp moved (its root arrived): the tag rows carry it too.
            try db.cachedStatement(sql: "UPDATE trace_tag SET timestamp = ? WHERE project_id = ? AND trace_id = ?")
                .execute(arguments: [t.timestamp.microseconds, projectID, t.id])
        }
        for tag in Set(t.tags).subtracting(previous?.tags ?? []) {
            try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO trace_tag (project_id, tag, trace_id, timestamp) VALUES (?, ?, ?, ?)"
            )
            .execute(arguments: [projectID, tag, t.id, t.timestamp.microseconds])
        }
        if let sessionID = t.sessionID {
            try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO session (project_id, id, environment, created_at) VALUES (?, ?, ?, ?)"
            ).execute(arguments: [projectID, sessionID, t.environment, t.timestamp.microseconds])
        }
        if !observationsAttributed, t.tenant != previous?.tenant || t.feature != previous?.feature,
            t.tenant != nil || t.feature != nil
        {
            // Observations that arrived before the trace named its tenant now carry it too.
            // Rows that already carry them are not rewritten.
            try db.cachedStatement(
                sql: """
                    UPDATE observation SET tenant = coalesce(?1, tenant), feature = coalesce(?2, feature)
                    WHERE project_id = ?3 AND trace_id = ?4
                        AND (tenant IS NOT coalesce(?1, tenant) OR feature IS NOT coalesce(?2, feature))
                    """
            ).execute(arguments: [t.tenant, t.feature, projectID, t.id])
        }
    }

    /// Upserts `o` (the row takes every column of `o`) with its tenant shares (schema 0022); returns whether it is
    /// shared. Changed shares are replaced around the upsert: the old ones deleted while the row still holds the
    /// columns they were counted under, the new ones inserted once it holds the new columns (the triggers then move
    /// exactly what changed).
    @discardableResult
    static func write(_ o: Observation, projectID: String, now: Timestamp, _ db: Database) throws -> Bool {
        let totals = o.totals
        let shares = Self.shares(of: o, totals: totals)
        let stored = try storedShares(db, projectID: projectID, observationID: o.id)
        if shares != stored, !stored.isEmpty { try deleteShares(projectID: projectID, observationID: o.id, db) }
        try db.cachedStatement(sql: upsertObservationSQL).executeBound(
            PackedRow(observationColumns(o, totals: totals, shared: !shares.isEmpty, projectID: projectID, now: now)),
            db: db)
        if shares != stored, !shares.isEmpty {
            try insertShares(shares, projectID: projectID, observationID: o.id, db)
        }
        return !shares.isEmpty
    }

    /// Inserts a prepared observation unless a row has its id; returns whether it wrote (a brand-new observation
    /// needs no read first).
    static func insert(_ prepared: PreparedObservation, _ db: Database) throws -> Bool {
        try db.cachedStatement(sql: insertObservationSQL + "ON CONFLICT DO NOTHING").executeBound(
            prepared.columns, PackedRow(attributionColumns(prepared.observation)), db: db)
        return db.changesCount > 0
    }

    /// The values of `insertObservationSQL`'s columns, in its order.
    static func observationColumns(
        _ o: Observation, totals: Observation.Totals, shared: Bool, projectID: String, now: Timestamp
    ) -> [DatabaseValue] {
        unattributedColumns(o, totals: totals, shared: shared, projectID: projectID, now: now) + attributionColumns(o)
    }

    /// `observationColumns` but the last two, tenant and feature.
    static func unattributedColumns(
        _ o: Observation, totals: Observation.Totals, shared: Bool, projectID: String, now: Timestamp
    ) -> [DatabaseValue] {
        [
            projectID.databaseValue, o.id.databaseValue, o.traceID.databaseValue, o.parentObservationID.databaseValue,
            o.type.rawValue.databaseValue, o.name.databaseValue, o.startTime.microseconds.databaseValue,
            o.endTime?.microseconds.databaseValue ?? .null, o.completionStartTime?.microseconds.databaseValue ?? .null,
            o.model.databaseValue, o.responseModel.databaseValue, StoredContent.encode(o.modelParameters),
            StoredContent.encode(o.input), StoredContent.encode(o.output),
            JSONValue.object(o.metadata).serialized().databaseValue, o.level.rawValue.databaseValue,
            o.statusMessage.databaseValue, o.version.databaseValue, o.environment.databaseValue,
            o.promptName.databaseValue, o.promptVersion.databaseValue, Rows.usageJSON(o.usage).databaseValue,
            Rows.costJSON(o.providedCost).databaseValue, Rows.costJSON(o.cost).databaseValue,
            totals.inputTokens.databaseValue, totals.outputTokens.databaseValue, totals.totalTokens.databaseValue,
            totals.inputCost.map(Money.nanos(usd:)).databaseValue,
            totals.outputCost.map(Money.nanos(usd:)).databaseValue,
            totals.totalCost.map(Money.nanos(usd:)).databaseValue, o.isPlaceholder.databaseValue,
            now.microseconds.databaseValue, now.microseconds.databaseValue, o.costSource.databaseValue,
            o.pricedModelID.databaseValue, o.pricingTier.databaseValue,
            (o.unitPrices.isEmpty ? nil : Rows.costJSON(o.unitPrices)).databaseValue,
            o.eventTime?.microseconds.databaseValue ?? .null, o.savingsNanos.databaseValue, shared.databaseValue,
            o.inputHashParts.map(ContentHash.int64).databaseValue,
        ]
    }

    /// The last two of `observationColumns`: tenant and feature, which the writer settles (see `PreparedObservation`).
    static func attributionColumns(_ o: Observation) -> [DatabaseValue] {
        [o.tenant.databaseValue, o.feature.databaseValue]
    }

    /// Positions in `observationColumns`.
    static let modelParametersColumn = 11
    static let inputColumn = 12
    static let outputColumn = 13
    static let metadataColumn = 14

    static let insertObservationSQL = """
        INSERT INTO observation (project_id, id, trace_id, parent_observation_id, type, name, start_time,
            end_time, completion_start_time, model, response_model, model_parameters, input, output, metadata, level,
            status_message, version, environment, prompt_name, prompt_version, usage_details,
            provided_cost_details, cost_details, input_tokens, output_tokens, total_tokens, input_cost_nanos,
            output_cost_nanos, total_cost_nanos, is_placeholder, created_at, updated_at, cost_source,
            priced_model_id, pricing_tier, unit_prices, event_time, savings_nanos, shared, input_hash, tenant,
            feature)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
            ?, ?, ?, ?, ?, ?, ?, ?)

        """

    static let upsertObservationSQL =
        insertObservationSQL + """
            ON CONFLICT (project_id, id) DO UPDATE SET trace_id = excluded.trace_id,
                parent_observation_id = excluded.parent_observation_id, type = excluded.type, name = excluded.name,
                start_time = excluded.start_time, end_time = excluded.end_time,
                completion_start_time = excluded.completion_start_time, model = excluded.model,
                response_model = excluded.response_model,
                model_parameters = excluded.model_parameters, input = excluded.input, output = excluded.output,
                metadata = excluded.metadata, level = excluded.level, status_message = excluded.status_message,
                version = excluded.version, environment = excluded.environment,
                prompt_name = excluded.prompt_name, prompt_version = excluded.prompt_version,
                usage_details = excluded.usage_details, provided_cost_details = excluded.provided_cost_details,
                cost_details = excluded.cost_details, input_tokens = excluded.input_tokens,
                output_tokens = excluded.output_tokens, total_tokens = excluded.total_tokens,
                input_cost_nanos = excluded.input_cost_nanos, output_cost_nanos = excluded.output_cost_nanos,
                total_cost_nanos = excluded.total_cost_nanos, tenant = excluded.tenant, feature = excluded.feature,
                is_placeholder = excluded.is_placeholder, updated_at = excluded.updated_at,
                cost_source = excluded.cost_source, priced_model_id = excluded.priced_model_id,
                pricing_tier = excluded.pricing_tier, unit_prices = excluded.unit_prices,
                event_time = excluded.event_time, savings_nanos = excluded.savings_nanos, shared = excluded.shared,
                input_hash = excluded.input_hash
            """

    /// Scores are upserts by id; `timestamp`, subject and `environment` keep their first value. A score event
    /// older than the stored version's (`eventTime`) changes nothing: a stale re-send never reverts a score.
    static func write(_ s: Score, projectID: String, now: Timestamp, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO score (project_id, id, name, value, string_value, data_type, source, trace_id,
                    observation_id, session_id, dataset_run_id, comment, metadata, config_id, queue_id, environment,
                    timestamp, created_at, updated_at, event_time)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (project_id, id) DO UPDATE SET name = excluded.name, value = excluded.value,
                    string_value = excluded.string_value, data_type = excluded.data_type, source = excluded.source,
                    observation_id = coalesce(score.observation_id, excluded.observation_id),
                    comment = coalesce(excluded.comment, score.comment),
                    metadata = coalesce(excluded.metadata, score.metadata),
                    config_id = coalesce(excluded.config_id, score.config_id),
                    queue_id = coalesce(excluded.queue_id, score.queue_id), updated_at = excluded.updated_at,
                    event_time = excluded.event_time
                WHERE score.event_time IS NULL OR excluded.event_time IS NULL OR excluded.event_time >= score.event_time
                """
        ).execute(arguments: [
            projectID, s.id, s.name, s.value, s.stringValue, s.dataType.rawValue, s.source.rawValue, s.traceID,
            s.observationID, s.sessionID, s.datasetRunID, s.comment, Rows.json(s.metadata), s.configID, s.queueID,
            s.environment, s.timestamp.microseconds, now.microseconds, now.microseconds, s.eventTime?.microseconds,
        ])
    }
}

extension IngestionError {
    /// One event's failure inside the store: an `IngestionError` as it is; a constraint the event broke (CHECK,
    /// NOT NULL, a STRICT column type — e.g. a rollup sum that would leave Int64) is permanent; anything else
    /// (busy, I/O, a full disk) is retryable. The database text goes to `diagnostic` only.
    init(classifying error: any Error) {
        if let e = error as? IngestionError {
            self = e
            return
        }
        let text = (error as? DatabaseError).map { "\($0.resultCode): \($0.message ?? "")" } ?? "\(error)"
        switch (error as? DatabaseError)?.resultCode.primaryResultCode {
        case .SQLITE_CONSTRAINT?, .SQLITE_MISMATCH?, .SQLITE_TOOBIG?:
            self = .invalid("the event would break a stored invariant (a value, or a total it adds to, out of range)")
        default:
            self = .retryable("the store could not apply this event now; send it again")
        }
        diagnostic = text
    }
}

/// The state of one write transaction. In the fast path (`deferTraceWrites`, with rollups deferred by the caller) a
/// trace named by many events of the request is read once, merged in memory and written once at `flush()`, and new
/// observations are summed into the rollups in memory; with per-event savepoints every write, rollup deltas
/// included, is immediate so a rolled-back event leaves nothing behind.
final class IngestSession {
    let db: Database
    let projectID: String
    let rules: AttributionRules
    let now: Timestamp
    let deferTraceWrites: Bool
    let pricing: ProjectPricing
    /// Per trace id: the merged state and the state in the database before this request (nil: not stored).
    private var traces: [String: (current: Trace, stored: Trace?)] = [:]
    private var dirty: [String] = []
    private var dirtySet: Set<String> = []
    /// The rollup sums of the observations this session inserted and has not staged yet.
    private var rollups = RollupAccumulator()
    /// Traces whose observations this session wrote: their totals are refreshed by `finish()`.
    private var touchedTraces: Set<String> = []
    /// The totals of traces this session creates, summed in memory while every observation of theirs comes from
    /// this session's inserts (a trace without a row has no observations: every observation write ensures its
    /// trace and retention deletes both), and written with the new row. Fast path only.
    private var newTraceTotals: [String: TraceTotalsSum] = [:]
    /// Traces whose observations name different tenants or features (`Trace.adopt`): settled by `finish()`.
    private var contestedTraces: Set<String> = []
    /// The rows of every trace this session reads before it writes them: `finish()` moves `rollup_user_day`.
    private var userRollup = UserRollupChanges()

    init(
        _ db: Database, projectID: String, rules: AttributionRules, pricing: ProjectPricing, now: Timestamp,
        deferTraceWrites: Bool
    ) {
        self.db = db
        self.projectID = projectID
        self.rules = rules
        self.pricing = pricing
        self.now = now
        self.deferTraceWrites = deferTraceWrites
    }

    /// Applies one event. An `IngestionError` thrown here is a refusal of this event made before it changed
    /// anything (in the database or in this session); any other error may leave a partial write behind.
    /// `prepared` is the event's `PreparedObservation`, when it has one.
    func apply(_ event: IngestionEvent, prepared: PreparedObservation?) throws {
        switch event.body {
        case .log:
            return
        case .trace(let upsert):
            let existing = try trace(upsert.id)
            try put(Trace.merge(existing, upsert, eventTime: event.timestamp, rules: rules))
        case .observation(let upsert):
            // Most observations are new (OTLP spans always are): try the prepared insert alone first and read the
            // stored row only when the id exists. Nothing changes unless the insert happens (a trace not yet stored
            // attributes like its placeholder would: no tenant of its own), so an existing id falls through with
            // the session untouched.
            if var fresh = prepared {
                let known = try trace(fresh.observation.traceID)
                fresh.attribute(trace: known)
                if try TallyDatabase.insert(fresh, db) {
                    if known == nil { _ = try ensureTrace(for: fresh.observation) }
                    try adopt(fresh.own, traceID: fresh.observation.traceID)
                    if fresh.shares.isEmpty {
                        try rollUp(inserted: fresh.observation, totals: fresh.totals)
                    } else {
                        // Stored with shared = 1: each share's insert trigger counts it (but the rollups without
                        // a tenant count it whole).
                        try TallyDatabase.insertShares(
                            fresh.shares, projectID: projectID, observationID: fresh.observation.id, db)
                        try rollUpWhole(inserted: fresh.observation, totals: fresh.totals)
                    }
                    let traceID = fresh.observation.traceID
                    if newTraceTotals[traceID]?.add(fresh.observation, fresh.totals) != true {
                        try refreshTotals(of: traceID)
                    }
                    return
                }
            }
            let upsert = prepared?.restoringContent(of: upsert) ?? upsert
            let existing = try TallyDatabase.fetchObservation(db, projectID: projectID, id: upsert.id)
            // Refusals (IngestionError) come before any state changes, so the fast path can report them alone.
            var merged = try Self.validated(existing, upsert, eventTime: event.timestamp, pricing: pricing)
            let own = merged.ownAttribution(rules)
            merged.attribute(trace: try ensureTrace(for: merged), own: own)
            let shared = try TallyDatabase.write(merged, projectID: projectID, now: now, db)
            try adopt(own, traceID: merged.traceID)
            if existing == nil, !shared { try rollUp(inserted: merged, totals: merged.totals) }
            if existing == nil, shared { try rollUpWhole(inserted: merged, totals: merged.totals) }
            try refreshTotals(of: merged.traceID)
            if let previous = existing?.traceID { try refreshTotals(of: previous) }
        case .score(var score):
            score.eventTime = event.timestamp
            try TallyDatabase.write(score, projectID: projectID, now: now, db)
        }
    }

    /// Adds an inserted observation (`totals` are its `totals`) to the rollups (there is no insert trigger): summed
    /// until `finish()` on the fast path, staged at once otherwise (inside the event's savepoint, applied by the delta
    /// trigger).
    func rollUp(inserted o: Observation, totals: Observation.Totals) throws {
        try rollups.add(o, totals: totals)
        if !deferTraceWrites { try rollups.stage(projectID: projectID, db) }
    }

    /// Adds an inserted shared call to the rollups without a tenant only (its shares' triggers count the others).
    func rollUpWhole(inserted o: Observation, totals: Observation.Totals) throws {
        try rollups.addWhole(o, totals: totals)
        if !deferTraceWrites { try rollups.stage(projectID: projectID, db) }
    }

    /// `upsert` merged into `existing`, priced and range-checked (`Observation.stored`); throws `IngestionError`
    /// when refused.
    static func validated(
        _ existing: Observation?, _ upsert: ObservationUpsert, eventTime: Timestamp, pricing: ProjectPricing
    ) throws -> Observation {
        try Observation.stored(
            merging: upsert, into: existing, eventTime: eventTime, prices: pricing.table, priceBy: pricing.priceBy)
    }

    /// The cached trace state, to restore when an event's savepoint rolls back.
    func snapshot() -> [String: (current: Trace, stored: Trace?)] { traces }

    func restore(_ state: [String: (current: Trace, stored: Trace?)]) { traces = state }

    func trace(_ id: String) throws -> Trace? {
        if let cached = traces[id] { return cached.current }
        let row = try TallyDatabase.fetchTraceRow(db, projectID: projectID, id: id)
        userRollup.noteBefore(id, row: row)
        guard let row else { return nil }
        let stored = Trace(row: row)
        traces[id] = (stored, stored)
        return stored
    }

    /// Applies the attribution rule (`Trace.adopt`) for an observation of `traceID` that names `own`, just stored.
    private func adopt(_ own: (tenant: String?, feature: String?), traceID: String) throws {
        guard own.tenant != nil || own.feature != nil, var trace = try trace(traceID) else { return }
        let (adopted, contested) = trace.adopt(own, rules: rules)
        if adopted { try put(trace) }
        if contested { contestedTraces.insert(traceID) }
    }

    /// Decides the traces whose observations name different tenants or features: the earliest observation that
    /// names one wins (`Trace.settle`). Reads each such trace's observations' metadata once.
    private func settleContested() throws {
        for id in contestedTraces.sorted() {
            guard var trace = try trace(id) else { continue }
            let metadata = try String.fetchAll(
                db.cachedStatement(
                    sql:
                        "SELECT metadata FROM observation WHERE project_id = ? AND trace_id = ? ORDER BY start_time, id"
                ),
                arguments: [projectID, id])
            let named = metadata.lazy.map { text in
                let m = Rows.object(text)
                return (tenant: self.rules.tenant(metadata: m, tags: []), feature: self.rules.feature(metadata: m))
            }
            if trace.settle(from: named, rules: rules) { try put(trace) }
        }
        contestedTraces.removeAll()
    }

    /// Marks `traceID`'s totals for the SQL refresh at `finish()` (they are no longer summed in memory).
    private func refreshTotals(of traceID: String) throws {
        try userRollup.noteBefore(traceID, projectID: projectID, db)
        newTraceTotals[traceID] = nil
        touchedTraces.insert(traceID)
    }

    func put(_ trace: Trace) throws {
        let stored = traces[trace.id]?.stored
        if deferTraceWrites {
            if dirtySet.insert(trace.id).inserted {
                dirty.append(trace.id)
                if traces[trace.id] == nil { newTraceTotals[trace.id] = TraceTotalsSum() }  // no row yet
            }
            traces[trace.id] = (trace, stored)
        } else {
            try TallyDatabase.write(trace, previous: stored, projectID: projectID, now: now, db)
            traces[trace.id] = (trace, trace)
        }
    }

    /// The observation's trace, created as a placeholder (timestamp and environment from the observation) when no
    /// event has named it yet, so every observation is reachable from a trace.
    func ensureTrace(for o: Observation) throws -> Trace {
        if let trace = try trace(o.traceID) { return trace }
        let placeholder = Trace.placeholder(id: o.traceID, timestamp: o.startTime, environment: o.environment)
        try put(placeholder)
        return placeholder
    }

    /// Writes the deferred traces and refreshes the totals of every trace whose observations changed. Must run
    /// before the transaction commits.
    func finish() throws {
        try settleContested()
        try flush()
        for id in touchedTraces.sorted() {
            try TallyDatabase.refreshTraceTotals(db, projectID: projectID, traceID: id)
        }
        touchedTraces.removeAll()
        try userRollup.apply(projectID: projectID, db)
        try rollups.stage(projectID: projectID, db)
    }

    /// Writes every trace changed in this request, once.
    private func flush() throws {
        for id in dirty {
            guard let entry = traces[id] else { continue }
            let sums = newTraceTotals[id]
            try TallyDatabase.write(
                entry.current, previous: entry.stored, totals: (sums ?? TraceTotalsSum()).columns,
                observationsAttributed: sums?.attributes(entry.current) ?? false, projectID: projectID, now: now, db)
            // Written: from here on (a later request in the transaction) its row holds the totals.
            traces[id] = (entry.current, entry.current)
        }
        newTraceTotals.removeAll()
        dirty.removeAll()
        dirtySet.removeAll()
    }
}

/// A new observation worked out before the writer is taken: the event merged as if no row had its id, priced,
/// range-checked, and its columns encoded. Its content lives in `columns` only (the event and `observation` no longer
/// hold it; `restoringContent(of:)` gives it back for the general path). Tenant and feature are left to the writer,
/// which knows the trace.
struct PreparedObservation: Sendable {
    /// The merged observation without input, output, metadata and model parameters.
    private(set) var observation: Observation
    let totals: Observation.Totals
    /// `TallyDatabase.unattributedColumns` of the merged observation (the writer adds tenant and feature).
    let columns: PackedRow
    /// The tenant and feature the observation's own metadata names (`Observation.ownAttribution`).
    let own: (tenant: String?, feature: String?)
    /// Its tenant shares (empty: not a shared call), stored with it (`TallyDatabase.insertShares`).
    let shares: [TenantShares.Share]

    /// nil when the event is not an observation with a trace id, or would be refused as a new observation (the
    /// writer then takes the general path, which reports the refusal). Otherwise takes the content out of `event`.
    init?(
        _ event: inout IngestionEvent, projectID: String, rules: AttributionRules, pricing: ProjectPricing,
        now: Timestamp
    ) {
        guard case .observation(var upsert) = event.body, upsert.traceID != nil,
            var o = try? IngestSession.validated(nil, upsert, eventTime: event.timestamp, pricing: pricing)
        else { return nil }
        totals = o.totals
        own = o.ownAttribution(rules)
        shares = TallyDatabase.shares(of: o, totals: totals)
        columns = PackedRow(
            TallyDatabase.unattributedColumns(
                o, totals: totals, shared: !shares.isEmpty, projectID: projectID, now: now))
        (o.input, o.output, o.modelParameters, o.metadata) = (nil, nil, nil, [:])
        observation = o
        (upsert.input, upsert.output, upsert.modelParameters, upsert.metadata) = (nil, nil, nil, nil)
        event.body = .observation(upsert)
    }

    /// Takes the tenant and feature of `trace`, or the observation's own when there is none.
    mutating func attribute(trace: Trace?) {
        observation.attribute(trace: trace, own: own)
    }

    /// `stripped` (the event's upsert after `init`) with its content back, decoded from `columns`. Merging it gives
    /// what the original upsert gives: empty content was never stored (and never replaces anything), and metadata
    /// was stored as the object the original merges in.
    func restoringContent(of stripped: ObservationUpsert) -> ObservationUpsert {
        var upsert = stripped
        upsert.modelParameters = StoredContent.decode(columns[TallyDatabase.modelParametersColumn])
        upsert.input = StoredContent.decode(columns[TallyDatabase.inputColumn])
        upsert.output = StoredContent.decode(columns[TallyDatabase.outputColumn])
        upsert.metadata = .object(Rows.object(String.fromDatabaseValue(columns[TallyDatabase.metadataColumn])))
        return upsert
    }
}

/// The per-trace totals columns (schema 0011) summed over observations in memory, with the aggregates of
/// `refreshTraceTotals`: count, token and cost sums, first start to last end (or start), most severe level, model
/// calls and the most observations of one name among the others; and whether those observations were all stored with
/// one tenant and feature.
struct TraceTotalsSum {
    private var attribution: (tenant: String?, feature: String?) = (nil, nil)
    private var mixedAttribution = false
    private var count: Int64 = 0
    private var inputTokens: Int64 = 0
    private var outputTokens: Int64 = 0
    private var totalTokens: Int64 = 0
    private var costNanos: Int64 = 0
    private var firstStart = Int64.max
    private var lastEnd = Int64.min
    private var maxLevel: Int64 = 0
    private var calls: Int64 = 0
    /// Per name of the observations that are not model calls: how many.
    private var steps: [String: Int64] = [:]

    /// Adds one observation (`totals` are its `totals`); false when a sum would leave Int64 (the SQL refresh then
    /// reports it), leaving `self` unusable.
    mutating func add(_ o: Observation, _ totals: Observation.Totals) -> Bool {
        func sum(_ a: inout Int64, _ b: Int64) -> Bool {
            let (s, overflow) = a.addingReportingOverflow(b)
            a = s
            return !overflow
        }
        if count == 0 {
            attribution = (o.tenant, o.feature)
        } else if attribution != (o.tenant, o.feature) {
            mixedAttribution = true
        }
        let start = o.startTime.microseconds
        firstStart = min(firstStart, start)
        lastEnd = max(lastEnd, o.endTime?.microseconds ?? start)
        maxLevel = max(maxLevel, o.level.rank)
        if o.type == .generation || o.type == .embedding {
            calls += 1
        } else if let name = o.name {
            steps[name, default: 0] += 1
        }
        return sum(&count, 1) && sum(&inputTokens, totals.inputTokens) && sum(&outputTokens, totals.outputTokens)
            && sum(&totalTokens, totals.totalTokens)
            && sum(&costNanos, totals.totalCost.map(Money.nanos(usd:)) ?? 0)
            && !lastEnd.subtractingReportingOverflow(firstStart).overflow
    }

    /// Whether the observations summed (all of `trace`'s) already carry `trace`'s tenant and feature, where it
    /// names them (the attribution `TallyDatabase.write(_:previous:...)` would otherwise propagate).
    func attributes(_ trace: Trace) -> Bool {
        guard count > 0 else { return true }
        return !mixedAttribution && (trace.tenant == nil || trace.tenant == attribution.tenant)
            && (trace.feature == nil || trace.feature == attribution.feature)
    }

    /// observation_count, input/output/total tokens, total_cost_nanos, duration_micros, max_level, call_count,
    /// step_repeat.
    var columns: [DatabaseValue] {
        guard count > 0 else { return [0, 0, 0, 0, 0, 0, 1, 0, 0].map(\.databaseValue) }
        return [
            count, inputTokens, outputTokens, totalTokens, costNanos, lastEnd - firstStart, maxLevel, calls,
            steps.values.max() ?? 0,
        ].map(\.databaseValue)
    }
}
