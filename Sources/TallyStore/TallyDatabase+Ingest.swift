import Foundation
import GRDB
import TallyCore

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
    public func ingest(
        projectID: String, events: [IngestionEvent], rules: AttributionRules = .standard
    ) async throws -> [Result<Void, IngestionError>] {
        if events.isEmpty { return [] }
        // Price lookups for the request's model names happen here, before the single writer is taken.
        let pricing = try await cachedPricing(projectID: projectID)
        pricing.table.prepare(names: events.lazy.flatMap(\.modelNames))
        return try await ingestQueue.submit(
            IngestBatch(projectID: projectID, events: events, rules: rules, pricing: pricing, now: Timestamp.now()))
    }

    /// Recomputes the per-trace totals columns of one trace from its observations (see schema 0011).
    static func refreshTraceTotals(_ db: Database, projectID: String, traceID: String) throws {
        try db.cachedStatement(
            sql: """
                UPDATE trace SET (observation_count, input_tokens, output_tokens, total_tokens, total_cost_nanos,
                        duration_micros, max_level) = (
                    SELECT count(*), coalesce(sum(x.input_tokens), 0), coalesce(sum(x.output_tokens), 0),
                        coalesce(sum(x.total_tokens), 0), coalesce(sum(x.total_cost_nanos), 0),
                        coalesce(max(coalesce(x.end_time, x.start_time)) - min(x.start_time), 0),
                        coalesce(max(\(levelRankSQL("x.level"))), 1)
                    FROM observation x WHERE x.project_id = ?1 AND x.trace_id = ?2)
                WHERE project_id = ?1 AND id = ?2
                """
        ).execute(arguments: [projectID, traceID])
    }

    /// An observation level as its severity rank: DEBUG 0, DEFAULT 1, WARNING 2, ERROR 3.
    static func levelRankSQL(_ column: String) -> String {
        "CASE \(column) WHEN 'ERROR' THEN 3 WHEN 'WARNING' THEN 2 WHEN 'DEFAULT' THEN 1 ELSE 0 END"
    }

    static func fetchTrace(_ db: Database, projectID: String, id: String) throws -> Trace? {
        try fetchTraceRow(db, projectID: projectID, id: id).map(Trace.init(row:))
    }

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

    static func write(_ t: Trace, previous: Trace?, projectID: String, now: Timestamp, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO trace (project_id, id, timestamp, name, user_id, session_id, release, version, environment,
                    input, output, metadata, tags, public, bookmarked, external_id, tenant, feature, is_placeholder,
                    created_at, updated_at, event_time)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (project_id, id) DO UPDATE SET timestamp = excluded.timestamp, name = excluded.name,
                    user_id = excluded.user_id, session_id = excluded.session_id, release = excluded.release,
                    version = excluded.version, environment = excluded.environment, input = excluded.input,
                    output = excluded.output, metadata = excluded.metadata, tags = excluded.tags,
                    public = excluded.public, bookmarked = excluded.bookmarked, external_id = excluded.external_id,
                    tenant = excluded.tenant, feature = excluded.feature, is_placeholder = excluded.is_placeholder,
                    updated_at = excluded.updated_at, event_time = excluded.event_time
                """
        ).execute(arguments: [
            projectID, t.id, t.timestamp.microseconds, t.name, t.userID, t.sessionID, t.release, t.version,
            t.environment, StoredContent.encode(t.input), StoredContent.encode(t.output), JSONValue.object(t.metadata).serialized(),
            JSONValue.array(t.tags.map { .string($0) }).serialized(), t.isPublic, t.bookmarked, t.externalID,
            t.tenant, t.feature, t.isPlaceholder, now.microseconds, now.microseconds, t.eventTime?.microseconds,
        ])
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
        if t.tenant != previous?.tenant || t.feature != previous?.feature, t.tenant != nil || t.feature != nil {
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

    /// Upserts `o` (the row takes every column of `o`); with `insertOnly`, writes only when no row has its id and
    /// returns whether it wrote (a brand-new observation needs no read first).
    @discardableResult
    static func write(
        _ o: Observation, projectID: String, now: Timestamp, insertOnly: Bool = false, _ db: Database
    ) throws -> Bool {
        let totals = o.totals
        let statement = try db.cachedStatement(
            sql: insertOnly ? insertObservationSQL + "ON CONFLICT DO NOTHING" : upsertObservationSQL)
        try statement.execute(arguments: [
            projectID, o.id, o.traceID, o.parentObservationID, o.type.rawValue, o.name, o.startTime.microseconds,
            o.endTime?.microseconds, o.completionStartTime?.microseconds, o.model, o.responseModel,
            StoredContent.encode(o.modelParameters), StoredContent.encode(o.input), StoredContent.encode(o.output),
            JSONValue.object(o.metadata).serialized(), o.level.rawValue,
            o.statusMessage, o.version, o.environment, o.promptName, o.promptVersion, Rows.usageJSON(o.usage),
            Rows.costJSON(o.providedCost), Rows.costJSON(o.cost), totals.inputTokens, totals.outputTokens,
            totals.totalTokens, totals.inputCost.map(Rows.nanos), totals.outputCost.map(Rows.nanos),
            totals.totalCost.map(Rows.nanos), o.tenant, o.feature, o.isPlaceholder, now.microseconds,
            now.microseconds, o.costSource, o.pricedModelID, o.pricingTier,
            o.unitPrices.isEmpty ? nil : Rows.costJSON(o.unitPrices), o.eventTime?.microseconds,
        ])
        return db.changesCount > 0
    }

    static let insertObservationSQL = """
        INSERT INTO observation (project_id, id, trace_id, parent_observation_id, type, name, start_time,
            end_time, completion_start_time, model, response_model, model_parameters, input, output, metadata, level,
            status_message, version, environment, prompt_name, prompt_version, usage_details,
            provided_cost_details, cost_details, input_tokens, output_tokens, total_tokens, input_cost_nanos,
            output_cost_nanos, total_cost_nanos, tenant, feature, is_placeholder, created_at, updated_at, cost_source,
            priced_model_id, pricing_tier, unit_prices, event_time)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
            ?, ?, ?, ?, ?)

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
            event_time = excluded.event_time
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
    func apply(_ event: IngestionEvent) throws {
        switch event.body {
        case .log:
            return
        case .trace(let upsert):
            let existing = try trace(upsert.id)
            try put(Trace.merge(existing, upsert, eventTime: event.timestamp, rules: rules))
        case .observation(let upsert):
            // Most observations are new (OTLP spans always are): try the insert alone first and read the stored row
            // only when the id exists. Nothing changes unless the insert happens (a trace not yet stored attributes
            // like its placeholder would: no tenant of its own), so an existing id falls through with the session
            // untouched.
            if upsert.traceID != nil, var fresh = try? validated(nil, upsert, eventTime: event.timestamp) {
                let known = try trace(fresh.traceID)
                fresh.attribute(trace: known, rules: rules)
                if try TallyDatabase.write(fresh, projectID: projectID, now: now, insertOnly: true, db) {
                    if known == nil { _ = try ensureTrace(for: fresh) }
                    try rollUp(inserted: fresh)
                    touchedTraces.insert(fresh.traceID)
                    return
                }
            }
            let existing = try TallyDatabase.fetchObservation(db, projectID: projectID, id: upsert.id)
            // Refusals (IngestionError) come before any state changes, so the fast path can report them alone.
            var merged = try validated(existing, upsert, eventTime: event.timestamp)
            merged.attribute(trace: try ensureTrace(for: merged), rules: rules)
            try TallyDatabase.write(merged, projectID: projectID, now: now, db)
            if existing == nil { try rollUp(inserted: merged) }
            touchedTraces.insert(merged.traceID)
            if let previous = existing?.traceID { touchedTraces.insert(previous) }
        case .score(var score):
            score.eventTime = event.timestamp
            try TallyDatabase.write(score, projectID: projectID, now: now, db)
        }
    }

    /// Adds an inserted observation to the rollups (there is no insert trigger): summed until `finish()` on the
    /// fast path, staged at once otherwise (inside the event's savepoint, applied by the delta trigger).
    func rollUp(inserted o: Observation) throws {
        try rollups.add(o)
        if !deferTraceWrites { try rollups.stage(projectID: projectID, db) }
    }

    /// `upsert` merged into `existing`, priced and range-checked; throws `IngestionError` when refused.
    func validated(_ existing: Observation?, _ upsert: ObservationUpsert, eventTime: Timestamp) throws -> Observation {
        var merged = Observation.merge(
            existing, upsert, eventTime: eventTime, newTraceID: { UUID().uuidString.lowercased() })
        do {
            try merged.applyPricing(pricing.table, priceBy: pricing.priceBy)
        } catch {
            throw IngestionError.invalid(error.description)
        }
        try merged.checkLimits()
        return merged
    }

    /// The cached trace state, to restore when an event's savepoint rolls back.
    func snapshot() -> [String: (current: Trace, stored: Trace?)] { traces }

    func restore(_ state: [String: (current: Trace, stored: Trace?)]) { traces = state }

    func trace(_ id: String) throws -> Trace? {
        if let cached = traces[id] { return cached.current }
        let stored = try TallyDatabase.fetchTrace(db, projectID: projectID, id: id)
        if let stored { traces[id] = (stored, stored) }
        return stored
    }

    func put(_ trace: Trace) throws {
        let stored = traces[trace.id]?.stored
        if deferTraceWrites {
            if dirtySet.insert(trace.id).inserted { dirty.append(trace.id) }
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
        try flush()
        for id in touchedTraces.sorted() {
            try TallyDatabase.refreshTraceTotals(db, projectID: projectID, traceID: id)
        }
        touchedTraces.removeAll()
        try rollups.stage(projectID: projectID, db)
    }

    /// Writes every trace changed in this request, once.
    func flush() throws {
        for id in dirty {
            guard let entry = traces[id] else { continue }
            try TallyDatabase.write(entry.current, previous: entry.stored, projectID: projectID, now: now, db)
        }
        dirty.removeAll()
        dirtySet.removeAll()
    }
}
