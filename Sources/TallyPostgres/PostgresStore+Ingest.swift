import Foundation
import PostgresNIO
import TallyCore
import TallySQL
import TallyStoreAPI

/// The single write path on PostgreSQL, for any number of collectors at once.
///
/// Contract (as `TallyDatabase.ingest`): one result per event, in input order; the events are applied in one
/// transaction, creates first and each by timestamp (`IngestionEvent.applicationOrder`); when this returns,
/// everything reported as success is committed; applying the same events again leaves the same state.
///
/// Concurrency: the transaction first locks every trace and observation id the request names (`EntityLocks`), in
/// one sorted order, then reads those rows, merges in memory with the domain rules (TallyCore) and
/// writes the results. A second request (on this collector or another) naming one of those ids waits until the first
/// commits and then merges over its result, so concurrent upserts of one trace merge exactly as sequential ones
/// would. Ids learnt after the first locks (the trace of a stored observation an update names without its trace id)
/// are locked afterwards; a deadlock that order may cause is detected by PostgreSQL and the request is retried.
/// Scores need no lock: their upsert is one statement.
///
/// One bad event never fails its neighbours: refusals of the merge rules (`IngestionError`) are made in memory;
/// when the database itself refuses the request's writes (a value a column cannot hold, a total past bigint), the
/// request is applied again one event per transaction and only the events the database refuses fail.
extension PostgresStore: IngestStore {
    public func queuedEvents() async -> Int { inFlight.value }

    public func ingest(
        projectID: String, events: consuming [IngestionEvent], rules: AttributionRules
    ) async throws -> [Result<Void, IngestionError>] {
        let events = events
        if events.isEmpty { return [] }
        inFlight.add(events.count)
        defer { inFlight.add(-events.count) }
        let started = ContinuousClock.now
        do {
            let pricing = try await pricing(projectID: projectID)
            pricing.table.prepare(names: events.lazy.flatMap(\.modelNames))
            try await ensurePartitions(covering: events.flatMap(Self.startTimes))
            let now = Timestamp.now()
            let order = IngestionEvent.applicationOrder(events)
            let results: [Result<Void, IngestionError>]
            do {
                results = try await applying(
                    events, order: order, projectID: projectID, rules: rules,
                    pricing: pricing, now: now)
            } catch let error as PSQLError where error.isDataError {
                results = try await applyingOneByOne(
                    events, order: order, projectID: projectID, rules: rules, pricing: pricing, now: now)
            }
            commitFeed.publish(projectID: projectID, events: events, results: results)
            commitFeed.report([(events, results)], duration: ContinuousClock.now - started)
            return results
        } catch {
            commitFeed.report([(events, nil)], duration: ContinuousClock.now - started)
            throw error
        }
    }

    /// The request in one transaction (retried after a deadlock or a serialization failure).
    private func applying(
        _ events: [IngestionEvent], order: [Int], projectID: String, rules: AttributionRules,
        pricing: ProjectPricing, now: Timestamp
    ) async throws -> [Result<Void, IngestionError>] {
        try await retryingConflicts {
            try await self.transaction { connection in
                let pass = IngestPass(
                    connection, logger: self.logger, projectID: projectID, rules: rules, pricing: pricing, now: now)
                return try await pass.run(events, order: order)
            }
        }
    }

    /// Each event in its own transaction, in application order: the database's refusal of one becomes its result.
    private func applyingOneByOne(
        _ events: [IngestionEvent], order: [Int], projectID: String, rules: AttributionRules,
        pricing: ProjectPricing, now: Timestamp
    ) async throws -> [Result<Void, IngestionError>] {
        var results = [Result<Void, IngestionError>](repeating: .success(()), count: events.count)
        for i in order {
            do {
                results[i] = try await applying(
                    [events[i]], order: [0], projectID: projectID, rules: rules, pricing: pricing, now: now)[0]
            } catch let error as PSQLError where error.isDataError {
                results[i] = .failure(IngestionError(refusedBy: error))
            }
        }
        return results
    }

    /// Runs `body` again (up to 5 times in all) when PostgreSQL aborted it for a deadlock or a serialization failure.
    func retryingConflicts<T>(_ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let error as PSQLError where error.isConflict && attempt < 5 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(10 * attempt))))
            }
        }
    }

    /// The start times an event may give an observation row (its own, or the event time for one without).
    static func startTimes(_ event: IngestionEvent) -> [Timestamp] {
        guard case .observation(let o) = event.body else { return [] }
        return [o.startTime, event.timestamp].compactMap { $0 }
    }
}

extension PSQLError {
    /// The server's SQLSTATE, when the server answered with an error.
    var sqlState: String? { serverInfo?[.sqlState] }

    /// The database refused a value (data exception, class 22) or an integrity rule (class 23): sending the same
    /// event again cannot help.
    var isDataError: Bool { sqlState.map { $0.hasPrefix("22") || $0.hasPrefix("23") } ?? false }

    /// A deadlock (40P01) or serialization failure (40001): the transaction may succeed when run again.
    var isConflict: Bool { sqlState == "40P01" || sqlState == "40001" }
}

extension IngestionError {
    /// One event the database refused (`PSQLError.isDataError`); the database text goes to `diagnostic` only.
    init(refusedBy error: PSQLError) {
        self = .invalid(
            "the event would break a stored invariant (a value, or a total it adds to, out of range, or text "
                + "PostgreSQL cannot store such as a NUL character)")
        diagnostic = "\(error.sqlState ?? "?"): \(error.serverInfo?[.message] ?? String(describing: error))"
    }
}

/// The events of one request applied in one transaction: locks, reads, merges in memory, writes.
final class IngestPass {
    let connection: PostgresConnection
    let logger: Logger
    let projectID: String
    let rules: AttributionRules
    let pricing: ProjectPricing
    let now: Timestamp
    /// Per trace id: the merged state and the stored row before this request (nil: none).
    private var traces: [String: (current: Trace, stored: Trace?)] = [:]
    private var dirtyTraces = OrderedIDs()
    /// Per observation id: the merged state and the stored row (nil: none).
    private var observations: [String: (current: Observation, stored: Observation?)] = [:]
    private var dirtyObservations = OrderedIDs()
    /// The stored shares of the stored observations that are shared.
    private var storedShares: [String: [TenantShares.Share]] = [:]
    private var scores: [Score] = []
    /// Traces whose observations changed: their totals are refreshed before commit.
    private var touched: Set<String> = []
    /// Traces whose observations name different tenants or features (`Trace.adopt`): settled before commit.
    private var contested: Set<String> = []

    init(
        _ connection: PostgresConnection, logger: Logger, projectID: String, rules: AttributionRules,
        pricing: ProjectPricing, now: Timestamp
    ) {
        self.connection = connection
        self.logger = logger
        self.projectID = projectID
        self.rules = rules
        self.pricing = pricing
        self.now = now
    }

    func run(_ events: [IngestionEvent], order: [Int]) async throws -> [Result<Void, IngestionError>] {
        var traceIDs = Set<String>()
        var observationIDs = Set<String>()
        for event in events {
            switch event.body {
            case .trace(let u): traceIDs.insert(u.id)
            case .observation(let u):
                observationIDs.insert(u.id)
                if let id = u.traceID { traceIDs.insert(id) }
            case .score, .log: break
            }
        }
        try await lock(traces: traceIDs, observations: observationIDs)
        try await loadObservations(observationIDs)
        let more = Set(observations.values.map(\.current.traceID)).subtracting(traceIDs)
        if !more.isEmpty {
            try await lock(traces: more, observations: [])
            traceIDs.formUnion(more)
        }
        try await loadTraces(traceIDs)
        var results = [Result<Void, IngestionError>](repeating: .success(()), count: events.count)
        for i in order {
            do {
                try apply(events[i])
            } catch let error as IngestionError {
                results[i] = .failure(error)
            }
        }
        try await write()
        return results
    }

    /// Re-prices the observations `ids` with the current prices (`pricing`) and splits the ones that name tenant
    /// shares but were stored unsplit; writes the changed ones. Returns how many changed.
    func reprice(_ ids: [String]) async throws -> Int {
        try await lock(traces: [], observations: Set(ids))
        try await loadObservations(Set(ids))
        try await lock(traces: Set(observations.values.map(\.current.traceID)), observations: [])
        var changed = 0
        for id in ids {
            guard var o = observations[id]?.current else { continue }
            let before = (o.cost, o.savingsNanos)
            // A cost past the limit leaves the observation unpriced rather than failing the whole recompute.
            try? o.applyPricing(pricing.table, priceBy: pricing.priceBy)
            let unsplit = storedShares[id] == nil && !o.storedShares(totals: o.totals).isEmpty
            guard o.cost != before.0 || o.savingsNanos != before.1 || unsplit else { continue }
            observations[id] = (o, observations[id]?.stored)
            dirtyObservations.insert(id)
            touched.insert(o.traceID)
            changed += 1
        }
        try await write()
        return changed
    }

    // MARK: Locks and reads

    /// Locks these ids until the transaction ends (`EntityLocks`).
    private func lock(traces: Set<String>, observations: Set<String>) async throws {
        try await EntityLocks.lock(
            traces.map { EntityLocks.key("trace", projectID, $0) }
                + observations.map { EntityLocks.key("observation", projectID, $0) }, connection, logger: logger)
    }

    private func loadTraces(_ ids: Set<String>) async throws {
        guard !ids.isEmpty else { return }
        let rows = try await connection.query(
            """
            SELECT \(unescaped: PGColumns.trace("t")) FROM trace t
            WHERE t.project_id = \(projectID) AND t.id = ANY(\(Array(ids)))
            """, logger: logger)
        for try await row in rows {
            let t = try Trace(pg: row.makeRandomAccess())
            traces[t.id] = (t, t)
        }
    }

    private func loadObservations(_ ids: Set<String>) async throws {
        guard !ids.isEmpty else { return }
        var shared: [String] = []
        let rows = try await connection.query(
            """
            SELECT \(unescaped: PGColumns.observation("o")) FROM observation o
            WHERE o.project_id = \(projectID) AND o.id = ANY(\(Array(ids)))
            """, logger: logger)
        for try await row in rows {
            let r = row.makeRandomAccess()
            let o = try Observation(pg: r)
            observations[o.id] = (o, o)
            if try r.value("shared", as: Bool.self) { shared.append(o.id) }
        }
        guard !shared.isEmpty else { return }
        for try await row in try await connection.query(
            """
            SELECT * FROM observation_share WHERE project_id = \(projectID) AND observation_id = ANY(\(shared))
            ORDER BY observation_id, tenant
            """, logger: logger)
        {
            let r = row.makeRandomAccess()
            storedShares[try r.value("observation_id", as: String.self), default: []].append(
                try TenantShares.Share(pg: r))
        }
    }

    // MARK: Merging in memory

    /// Applies one event to the in-memory state. Throws `IngestionError` (having changed nothing) to refuse it.
    private func apply(_ event: IngestionEvent) throws {
        switch event.body {
        case .log:
            return
        case .trace(let upsert):
            put(Trace.merge(traces[upsert.id]?.current, upsert, eventTime: event.timestamp, rules: rules))
        case .observation(let upsert):
            let existing = observations[upsert.id]?.current
            var merged = try Observation.stored(
                merging: upsert, into: existing, eventTime: event.timestamp, prices: pricing.table,
                priceBy: pricing.priceBy)
            let own = merged.ownAttribution(rules)
            merged.attribute(trace: ensureTrace(for: merged), own: own)
            dirtyObservations.insert(merged.id)
            observations[merged.id] = (merged, observations[merged.id]?.stored)
            adopt(own, traceID: merged.traceID)
            touched.insert(merged.traceID)
            if let previous = existing?.traceID { touched.insert(previous) }
        case .score(var score):
            score.eventTime = event.timestamp
            scores.append(score)
        }
    }

    private func put(_ trace: Trace) {
        dirtyTraces.insert(trace.id)
        traces[trace.id] = (trace, traces[trace.id]?.stored)
    }

    /// The observation's trace, created as a placeholder when no event has named it yet.
    private func ensureTrace(for o: Observation) -> Trace {
        if let trace = traces[o.traceID]?.current { return trace }
        let placeholder = Trace.placeholder(id: o.traceID, timestamp: o.startTime, environment: o.environment)
        put(placeholder)
        return placeholder
    }

    /// The attribution rule (`Trace.adopt`) for an observation of `traceID` whose own metadata names `own`.
    private func adopt(_ own: (tenant: String?, feature: String?), traceID: String) {
        guard own.tenant != nil || own.feature != nil, var trace = traces[traceID]?.current else { return }
        let (adopted, isContested) = trace.adopt(own, rules: rules)
        if adopted { put(trace) }
        if isContested { contested.insert(traceID) }
    }

    // MARK: Writing

    private func write() async throws {
        try await writeObservations()
        try await settleContested()
        try await writeTraces()
        try await refreshTotals()
        for score in scores { try await write(score) }
        try await releaseHolds()
    }

    /// Ends the budget holds of the traces that got a costed observation in this request: their real cost counts
    /// from this commit on, in the same transaction (never both, never neither).
    private func releaseHolds() async throws {
        var costed = Set<String>()
        for id in dirtyObservations.ids {
            if let o = observations[id]?.current, o.totals.totalCost != nil { costed.insert(o.traceID) }
        }
        guard !costed.isEmpty else { return }
        try await connection.query(
            "DELETE FROM budget_hold WHERE project_id = \(projectID) AND id = ANY(\(Array(costed)))", logger: logger)
    }

    private func writeObservations() async throws {
        var inserts: [[PGValue]] = []
        var shareRows: [[PGValue]] = []
        var replacedShares: [String] = []
        for id in dirtyObservations.ids {
            guard let (o, stored) = observations[id] else { continue }
            let totals = o.totals
            let shares = o.storedShares(totals: totals)
            let values = PGColumns.values(
                o, totals: totals, shared: !shares.isEmpty, projectID: projectID, now: now)
            if stored == nil {
                inserts.append(values)
            } else {
                try await update(values, id: id)
            }
            if shares != storedShares[id] ?? [] {
                if storedShares[id] != nil { replacedShares.append(id) }
                shareRows += shares.map { PGColumns.values($0, projectID: projectID, observationID: id) }
            }
        }
        if !replacedShares.isEmpty {
            try await connection.query(
                """
                DELETE FROM observation_share WHERE project_id = \(projectID)
                AND observation_id = ANY(\(replacedShares))
                """, logger: logger)
        }
        try await insert(
            into: "observation", columns: PGColumns.observationWritten, rows: inserts, perStatement: 1_000)
        try await insert(
            into: "observation_share",
            columns: [
                "project_id", "observation_id", "tenant", "n", "input_tokens", "output_tokens", "total_tokens",
                "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "input_cost_nanos",
                "output_cost_nanos", "total_cost_nanos", "savings_nanos",
            ], rows: shareRows, perStatement: 2_000)
    }

    /// Rewrites a stored observation (every column but `created_at`; a changed start time moves it to its month's
    /// partition).
    private func update(_ values: [PGValue], id: String) async throws {
        var binds = PGBinds()
        let sets = zip(PGColumns.observationWritten, values).filter {
            !["project_id", "id", "created_at"].contains($0.0)
        }
        .map { column, value in "\(column) = \(binds.add(value))" }
        let project = binds.add(.text(projectID))
        let idMark = binds.add(.text(id))
        try await connection.query(
            binds.query(
                "UPDATE observation SET \(sets.joined(separator: ", ")) WHERE project_id = \(project) AND id = \(idMark)"
            ),
            logger: logger)
    }

    /// Multi-row INSERTs of `rows` (values in `columns`' order), `perStatement` rows per statement.
    private func insert(
        into table: String, columns: [String], rows: [[PGValue]], perStatement: Int, suffix: String = ""
    ) async throws {
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + perStatement, rows.count)]
            var binds = PGBinds()
            let values = chunk.map { binds.row($0) }.joined(separator: ", ")
            try await connection.query(
                binds.query(
                    "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES \(values) \(suffix)"),
                logger: logger)
            start += perStatement
        }
    }

    /// Decides contested traces: the earliest observation (start time, then id) that names a tenant or feature wins
    /// (`Trace.settle`); reads each such trace's observations' metadata once, after this request's are written.
    private func settleContested() async throws {
        for id in contested.sorted() {
            guard var trace = traces[id]?.current else { continue }
            var named: [(tenant: String?, feature: String?)] = []
            for try await text in try await connection.query(
                """
                SELECT metadata::text FROM observation WHERE project_id = \(projectID) AND trace_id = \(id)
                ORDER BY start_time, id
                """, logger: logger
            ).decode(String.self) {
                let m = StoredJSON.object(text)
                named.append((rules.tenant(metadata: m, tags: []), rules.feature(metadata: m)))
            }
            if trace.settle(from: named, rules: rules) { put(trace) }
        }
    }

    private func writeTraces() async throws {
        guard !dirtyTraces.ids.isEmpty else { return }
        let rows = dirtyTraces.ids.compactMap {
            traces[$0].map { PGColumns.values($0.current, projectID: projectID, now: now) }
        }
        let updated = PGColumns.traceWritten.filter { !["project_id", "id", "created_at"].contains($0) }
        try await insert(
            into: "trace", columns: PGColumns.traceWritten, rows: rows, perStatement: 1_000,
            suffix: "ON CONFLICT (project_id, id) DO UPDATE SET "
                + updated.map { "\($0) = excluded.\($0)" }.joined(separator: ", "))
        var tagRows: [[PGValue]] = []
        var movedTags: [(id: String, timestamp: Int64)] = []
        var sessions: [[PGValue]] = []
        var attributed: [(id: String, tenant: String, feature: String)] = []
        for id in dirtyTraces.ids {
            guard let (t, stored) = traces[id] else { continue }
            for tag in Set(t.tags).subtracting(stored?.tags ?? []).sorted() {
                tagRows.append([.text(projectID), .text(tag), .text(t.id), .int(t.timestamp.microseconds)])
            }
            if let stored, stored.timestamp != t.timestamp, !stored.tags.isEmpty {
                movedTags.append((t.id, t.timestamp.microseconds))
            }
            if let session = t.sessionID {
                sessions.append([
                    .text(projectID), .text(session), .text(t.environment), .int(t.timestamp.microseconds),
                ])
            }
            if t.tenant != stored?.tenant || t.feature != stored?.feature, t.tenant != nil || t.feature != nil {
                attributed.append((t.id, t.tenant ?? "", t.feature ?? ""))
            }
        }
        if !attributed.isEmpty {
            // Observations stored before their trace named its tenant (or feature) now carry it too; rows that
            // already do are not rewritten. One statement for every such trace ('' stands for none: tenant and
            // feature names are never empty).
            try await connection.query(
                """
                UPDATE observation o SET tenant = coalesce(NULLIF(v.tenant, ''), o.tenant),
                    feature = coalesce(NULLIF(v.feature, ''), o.feature)
                FROM unnest(\(attributed.map(\.id))::text[], \(attributed.map(\.tenant))::text[],
                    \(attributed.map(\.feature))::text[]) AS v(id, tenant, feature)
                WHERE o.project_id = \(projectID) AND o.trace_id = v.id
                    AND (o.tenant IS DISTINCT FROM coalesce(NULLIF(v.tenant, ''), o.tenant)
                        OR o.feature IS DISTINCT FROM coalesce(NULLIF(v.feature, ''), o.feature))
                """, logger: logger)
        }
        for (id, timestamp) in movedTags {
            try await connection.query(
                "UPDATE trace_tag SET timestamp = \(timestamp) WHERE project_id = \(projectID) AND trace_id = \(id)",
                logger: logger)
        }
        try await insert(
            into: "trace_tag", columns: ["project_id", "tag", "trace_id", "timestamp"], rows: tagRows,
            perStatement: 2_000, suffix: "ON CONFLICT DO NOTHING")
        try await insert(
            into: "session", columns: ["project_id", "id", "environment", "created_at"], rows: sessions,
            perStatement: 2_000, suffix: "ON CONFLICT DO NOTHING")
    }

    /// Recomputes the per-trace totals of every trace whose observations changed (a sum past bigint is refused by
    /// the assignment: SQLSTATE 22003).
    private func refreshTotals() async throws {
        guard !touched.isEmpty else { return }
        try await connection.query(
            """
            UPDATE trace AS t SET \(unescaped: SharedSQL.setTraceTotals())
            WHERE t.project_id = \(projectID) AND t.id = ANY(\(touched.sorted()))
            """, logger: logger)
    }

    /// Scores are upserts by id; `timestamp`, subject and `environment` keep their first value; an event older than
    /// the stored version's changes nothing.
    private func write(_ s: Score) async throws {
        var binds = PGBinds()
        let values = binds.row(PGColumns.values(s, projectID: projectID, now: now))
        try await connection.query(
            binds.query(
                """
                INSERT INTO score (\(PGColumns.score)) VALUES \(values)
                ON CONFLICT (project_id, id) DO UPDATE SET name = excluded.name, value = excluded.value,
                    string_value = excluded.string_value, data_type = excluded.data_type, source = excluded.source,
                    observation_id = coalesce(score.observation_id, excluded.observation_id),
                    comment = coalesce(excluded.comment, score.comment),
                    metadata = coalesce(excluded.metadata, score.metadata),
                    config_id = coalesce(excluded.config_id, score.config_id),
                    queue_id = coalesce(excluded.queue_id, score.queue_id), updated_at = excluded.updated_at,
                    event_time = excluded.event_time
                WHERE score.event_time IS NULL OR excluded.event_time IS NULL
                    OR excluded.event_time >= score.event_time
                """), logger: logger)
    }
}

/// Per-entity write locks held until the end of the transaction (schema/postgres 0002, `ingest_lock`): the key of
/// each entity is inserted and deleted again at once; another transaction inserting the same key waits for this one
/// to end. Keys are taken in ascending order by every writer, so two writers never wait for each other in a cycle.
enum EntityLocks {
    /// A stable 64-bit hash (FNV-1a) of kind, project and id. Two ids that collide only serialise their writers.
    static func key(_ kind: String, _ projectID: String, _ id: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in [kind, projectID, id] {
            for byte in part.utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x100_0000_01b3
            }
            hash ^= 0xff
            hash &*= 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    /// Takes `keys` (any order, repeats allowed) for the rest of the transaction on `connection`.
    static func lock(_ keys: [Int64], _ connection: PostgresConnection, logger: Logger) async throws {
        let keys = Array(Set(keys)).sorted()
        guard !keys.isEmpty else { return }
        // A key left behind (never by this code) is locked by the update instead of failing the insert.
        try await connection.query(
            """
            INSERT INTO ingest_lock (key) SELECT k FROM unnest(\(keys)::bigint[]) AS k ORDER BY k
            ON CONFLICT (key) DO UPDATE SET key = excluded.key
            """, logger: logger)
        try await connection.query("DELETE FROM ingest_lock WHERE key = ANY(\(keys)::bigint[])", logger: logger)
    }
}

/// Ids in the order first inserted, each once.
struct OrderedIDs {
    private(set) var ids: [String] = []
    private var seen: Set<String> = []

    mutating func insert(_ id: String) {
        if seen.insert(id).inserted { ids.append(id) }
    }
}

/// A count shared by concurrent requests.
final class InFlightCounter: @unchecked Sendable {  // `count` is only touched under `lock`
    private let lock = NSLock()
    private var count = 0

    func add(_ n: Int) { lock.withLock { count += n } }
    var value: Int { lock.withLock { count } }
}
