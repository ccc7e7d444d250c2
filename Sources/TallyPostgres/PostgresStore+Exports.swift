import Foundation
import PostgresNIO
import TallyCore
import TallySQL
import TallyStoreAPI

/// Usage export sinks (schema/postgres 0008) with the SQLite store's rules, for many collectors: a sink's pass runs
/// on the collector that leased it (`dueExportSinks`), and the change log is numbered after its writers committed
/// (`sequenceExportChanges`), so a cursor on seq skips nothing however the writers' commits interleave.
extension PostgresStore: ExportStore {
    private static let sinkColumns =
        "project_id, name, type, url, api_key, config::text AS config, cursor, next_push_at, attempts, events_sent, "
        + "requests_sent, last_success_at, last_failure_at, last_error, last_status, created_at, updated_at"

    // MARK: Sinks

    /// Creates or replaces sink `name`; true if it was created (see `TallyDatabase.putExportSink`).
    public func putExportSink(
        projectID: String, name: String, config: ExportSinkConfig, apiKey: String?, from: Timestamp?, now: Timestamp
    ) async throws -> Bool {
        try await sequenceExportChanges(projectID: projectID)
        return try await transaction { connection in
            var exists = false
            for try await _ in try await connection.query(
                "SELECT 1 FROM project WHERE id = \(projectID) FOR SHARE", logger: self.logger)
            {
                exists = true
            }
            guard exists else { throw ExportSinkWriteError.unknownProject }
            var head: Int64 = 0
            for try await h in try await connection.query(
                "SELECT coalesce(max(seq), 0) FROM export_change WHERE project_id = \(projectID)", logger: self.logger
            ).decode(Int64.self) {
                head = h
            }
            var old: (type: String, url: String, apiKey: String?)?
            for try await row in try await connection.query(
                """
                SELECT type, url, api_key FROM export_sink WHERE project_id = \(projectID) AND name = \(name)
                FOR UPDATE
                """, logger: self.logger
            ).decode((String, String, String?).self) {
                old = row
            }
            let key = apiKey ?? old?.apiKey
            let json = config.json.serialized()
            if let old {
                let moved = old.type != config.type.rawValue || old.url != config.url
                if moved { try await self.forgetReceiver(connection, projectID: projectID, sink: name) }
                try await connection.query(
                    """
                    UPDATE export_sink SET type = \(config.type.rawValue), url = \(config.url), api_key = \(key),
                        config = \(json)::jsonb, next_push_at = \(now.microseconds), attempts = 0,
                        cursor = CASE WHEN \(moved) THEN \(head) ELSE cursor END,
                        updated_at = greatest(updated_at + 1, \(now.microseconds)), leased_until = NULL
                    WHERE project_id = \(projectID) AND name = \(name)
                    """, logger: self.logger)
            } else {
                try await connection.query(
                    """
                    INSERT INTO export_sink (project_id, name, type, url, api_key, config, cursor, next_push_at,
                        created_at, updated_at)
                    VALUES (\(projectID), \(name), \(config.type.rawValue), \(config.url), \(key), \(json)::jsonb,
                        \(head), \(now.microseconds), \(now.microseconds), \(now.microseconds))
                    """, logger: self.logger)
            }
            if let from {
                // Every sink of the project sees these; each ledger drops what its receiver already holds.
                try await connection.query(
                    """
                    INSERT INTO export_change (project_id, observation_id, at)
                    SELECT project_id, id, \(now.microseconds) FROM observation
                    WHERE project_id = \(projectID) AND start_time >= \(from.microseconds)
                        AND type IN ('GENERATION', 'EMBEDDING')
                    ORDER BY start_time, id
                    """, logger: self.logger)
            }
            return old == nil
        }
    }

    /// Deletes a sink with its ledger and issues; false if there was none.
    public func deleteExportSink(projectID: String, name: String) async throws -> Bool {
        try await transaction { connection in
            try await self.forgetReceiver(connection, projectID: projectID, sink: name)
            var deleted = false
            for try await _ in try await connection.query(
                "DELETE FROM export_sink WHERE project_id = \(projectID) AND name = \(name) RETURNING 1",
                logger: self.logger)
            {
                deleted = true
            }
            try await self.trimExportChanges(connection, projectID: projectID)
            return deleted
        }
    }

    private func forgetReceiver(_ connection: PostgresConnection, projectID: String, sink: String) async throws {
        try await connection.query(
            "DELETE FROM export_ledger WHERE project_id = \(projectID) AND sink = \(sink)", logger: logger)
        try await connection.query(
            "DELETE FROM export_issue WHERE project_id = \(projectID) AND sink = \(sink)", logger: logger)
    }

    /// Makes the sink due now (a pass already running keeps its lease); false if there is none.
    public func requestExportPush(projectID: String, name: String, now: Timestamp) async throws -> Bool {
        var found = false
        for try await _ in try await client.query(
            """
            UPDATE export_sink SET next_push_at = \(now.microseconds) WHERE project_id = \(projectID) AND name = \(name)
            RETURNING 1
            """, logger: logger)
        {
            found = true
        }
        return found
    }

    public func exportSinkStatuses(projectID: String) async throws -> [ExportSinkStatus] {
        var out: [ExportSinkStatus] = []
        for row in try await sinkRows("WHERE project_id = \(projectID) ORDER BY name") {
            if let status = try await status(row, recent: 0) { out.append(status) }
        }
        return out
    }

    /// One sink with the newest `recent` issues of each kind.
    public func exportSinkStatus(projectID: String, name: String, recent: Int) async throws -> ExportSinkStatus? {
        guard let row = try await sinkRows("WHERE project_id = \(projectID) AND name = \(name)").first else {
            return nil
        }
        return try await status(row, recent: recent)
    }

    private func sinkRows(_ condition: PostgresQuery) async throws -> [SQLRow] {
        try await fetchRows(.prefixed("SELECT \(Self.sinkColumns) FROM export_sink ", condition))
    }

    private func status(_ row: SQLRow, recent: Int) async throws -> ExportSinkStatus? {
        guard let project = row.text("project_id"), let name = row.text("name"),
            let config = StoredJSON.jsonValue(row.text("config")).flatMap(ExportSinkConfig.init(json:))
        else { return nil }
        let cursor = row.int("cursor") ?? 0
        var (pending, oldest): (Int64, Int64?) = (0, nil)
        for try await (n, at) in try await client.query(
            """
            SELECT count(*), min(at) FROM export_change
            WHERE project_id = \(project) AND (seq > \(cursor) OR seq IS NULL)
            """, logger: logger
        ).decode((Int64, Int64?).self) {
            (pending, oldest) = (n, at)
        }
        var totals: [ExportIssueKind: (count: Int64, costNanos: Int64)] = [:]
        for try await (kind, n, cost) in try await client.query(
            """
            SELECT kind, count(*), coalesce(sum(cost_nanos), 0)::bigint FROM export_issue
            WHERE project_id = \(project) AND sink = \(name) GROUP BY kind
            """, logger: logger
        ).decode((String, Int64, Int64).self) {
            if let kind = ExportIssueKind(rawValue: kind) { totals[kind] = (n, cost) }
        }
        var issues: [ExportIssueKind: [ExportIssue]] = [:]
        if recent > 0 {
            for kind in ExportIssueKind.allCases where totals[kind] != nil {
                for try await (observation, trace, cost, detail, at) in try await client.query(
                    """
                    SELECT observation_id, trace_id, cost_nanos, detail::text, at FROM export_issue
                    WHERE project_id = \(project) AND sink = \(name) AND kind = \(kind.rawValue)
                    ORDER BY at DESC, observation_id LIMIT \(Int64(recent))
                    """, logger: logger
                ).decode((String, String, Int64, String, Int64).self) {
                    issues[kind, default: []].append(
                        ExportIssue(
                            observationID: observation, traceID: trace, kind: kind, costNanos: cost,
                            detail: StoredJSON.jsonValue(detail) ?? [:], at: Timestamp(microseconds: at)))
                }
            }
        }
        let time = { (column: String) in row.int(column).map(Timestamp.init(microseconds:)) }
        return ExportSinkStatus(
            name: name, config: config, hasApiKey: row.text("api_key") != nil, cursor: cursor, pendingChanges: pending,
            oldestPendingAt: oldest.map(Timestamp.init(microseconds:)), eventsSent: row.int("events_sent") ?? 0,
            requestsSent: row.int("requests_sent") ?? 0, lastSuccessAt: time("last_success_at"),
            lastFailureAt: time("last_failure_at"), lastError: row.text("last_error"),
            lastStatus: row.int("last_status").map(Int.init), attempts: Int(row.int("attempts") ?? 0),
            nextPushAt: time("next_push_at") ?? Timestamp(microseconds: 0),
            createdAt: time("created_at") ?? Timestamp(microseconds: 0), issueTotals: totals, issues: issues)
    }

    // MARK: The push service's side

    /// Sinks whose next push is due and that no pass holds, across projects, each leased to the caller.
    public func dueExportSinks(now: Timestamp) async throws -> [ExportSink] {
        try await transaction { connection in
            var due: [ExportSink] = []
            for try await row in try await connection.query(
                """
                SELECT project_id, name, config::text, api_key, cursor, attempts, updated_at FROM export_sink
                WHERE next_push_at <= \(now.microseconds) AND coalesce(leased_until, 0) <= \(now.microseconds)
                ORDER BY next_push_at, project_id, name FOR UPDATE SKIP LOCKED
                """, logger: self.logger
            ).decode((String, String, String, String?, Int64, Int32, Int64).self) {
                let (project, name, config, apiKey, cursor, attempts, updatedAt) = row
                guard let config = StoredJSON.jsonValue(config).flatMap(ExportSinkConfig.init(json:)) else { continue }
                due.append(
                    ExportSink(
                        projectID: project, name: name, config: config, apiKey: apiKey, cursor: cursor,
                        attempts: Int(attempts), updatedAt: updatedAt))
            }
            for sink in due {
                try await connection.query(
                    """
                    UPDATE export_sink SET leased_until = \(now.microseconds + ExportLease.micros(sink.config))
                    WHERE project_id = \(sink.projectID) AND name = \(sink.name)
                    """, logger: self.logger)
            }
            return due
        }
    }

    /// As SQLite's: up to `limit` settled changes after the cursor, each call as it is now, with the ledger. The
    /// project's finished changes are numbered first.
    public func exportWork(_ sink: ExportSink, now: Timestamp, limit: Int) async throws -> ExportWork? {
        try await sequenceExportChanges(projectID: sink.projectID)
        let settled = now.microseconds - Int64(sink.config.settleSeconds) * 1_000_000
        var changes: [(seq: Int64, id: String, at: Int64)] = []
        for try await row in try await client.query(
            """
            SELECT seq, observation_id, at FROM export_change
            WHERE project_id = \(sink.projectID) AND seq > \(sink.cursor) ORDER BY seq LIMIT \(Int64(limit))
            """, logger: logger
        ).decode((Int64, String, Int64).self) {
            changes.append(row)
        }
        guard let (lastSeq, ids, complete) = ExportWork.settled(changes, settledAt: settled, limit: limit) else {
            return nil
        }
        return try await sharedExportWork(
            projectID: sink.projectID, sink: sink.name, ids: ids, lastSeq: lastSeq, complete: complete)
    }

    /// Numbers the project's committed changes not numbered yet, under the project's lock: a numbering commits
    /// before the next starts, so rows numbered later (those of writers still running now) all get larger numbers
    /// than these, and no cursor passes a change before it is numbered.
    func sequenceExportChanges(projectID: String) async throws {
        try await retryingConflicts {
            try await transaction { connection in
                try await EntityLocks.lock(
                    [EntityLocks.key("export-seq", projectID, "")], connection, logger: self.logger)
                try await connection.query(
                    """
                    UPDATE export_change SET seq = nextval('export_change_seq')
                    WHERE project_id = \(projectID) AND seq IS NULL
                    """, logger: self.logger)
            }
        }
    }

    /// The receiver took `pushes`: their ledger entries hold, their calls' issues are cleared, the lease renews.
    /// False (nothing written) if the sink changed since the pass read it.
    @discardableResult
    public func recordExportTaken(_ sink: ExportSink, _ pushes: [ExportPush], now: Timestamp) async throws -> Bool {
        let events = Int64(pushes.reduce(0) { $0 + $1.events.count })
        return try await transaction { connection in
            guard
                try await self.bump(
                    connection, sink,
                    """
                    UPDATE export_sink SET events_sent = events_sent + \(events), requests_sent = requests_sent + 1,
                        leased_until = \(now.microseconds + ExportLease.micros(sink.config))
                    """)
            else { return false }
            for p in pushes {
                let v = p.ledger.values
                let f = v?.figures ?? UsageFigures()
                try await connection.query(
                    """
                    INSERT INTO export_ledger VALUES (\(sink.projectID), \(sink.name), \(p.call.id),
                        \(Int64(p.ledger.revision)), \(v?.subject ?? ""), \(v?.model ?? ""), \(v?.feature ?? ""),
                        \(v?.timestamp ?? 0), \(f.inputTokens), \(f.outputTokens), \(f.cacheReadTokens),
                        \(f.cacheWriteTokens), \(f.reasoningTokens), \(f.costNanos), \(now.microseconds),
                        \(f.cacheSavingsNanos))
                    ON CONFLICT (project_id, sink, observation_id) DO UPDATE SET revision = excluded.revision,
                        subject = excluded.subject, model = excluded.model, feature = excluded.feature,
                        timestamp = excluded.timestamp, input_tokens = excluded.input_tokens,
                        output_tokens = excluded.output_tokens, cache_read_tokens = excluded.cache_read_tokens,
                        cache_write_tokens = excluded.cache_write_tokens, reasoning_tokens = excluded.reasoning_tokens,
                        cost_nanos = excluded.cost_nanos, pushed_at = excluded.pushed_at,
                        cache_savings_nanos = excluded.cache_savings_nanos
                    """, logger: self.logger)
                try await connection.query(
                    """
                    DELETE FROM export_issue WHERE project_id = \(sink.projectID) AND sink = \(sink.name)
                    AND observation_id = \(p.call.id)
                    """, logger: self.logger)
            }
            return true
        }
    }

    /// The receiver refused `push` for good (400/413/422): the call is listed as rejected.
    public func recordExportRejected(_ sink: ExportSink, _ push: ExportPush, status: Int, error: String, now: Timestamp)
        async throws
    {
        try await transaction { connection in
            guard
                try await self.bump(
                    connection, sink,
                    """
                    UPDATE export_sink SET requests_sent = requests_sent + 1,
                        leased_until = \(now.microseconds + ExportLease.micros(sink.config))
                    """)
            else { return }
            try await self.apply(.rejected(push, status: status, error: error), sink, connection, now: now)
        }
    }

    /// A pass pushed everything up to `lastSeq`: the cursor moves there, `issues` are recorded, the lease ends, the
    /// next push is due `intervalSeconds` from now (at once if `more` remains), and passed changes are deleted.
    public func recordExportPass(
        _ sink: ExportSink, through lastSeq: Int64?, issues: [ExportIssueChange], more: Bool, now: Timestamp
    ) async throws {
        let next = more ? now.microseconds : now.microseconds + Int64(sink.config.intervalSeconds) * 1_000_000
        try await transaction { connection in
            guard
                try await self.bump(
                    connection, sink,
                    """
                    UPDATE export_sink SET cursor = greatest(cursor, \(lastSeq ?? 0)), attempts = 0,
                        next_push_at = \(next), leased_until = NULL,
                        last_success_at = CASE WHEN \(lastSeq != nil) THEN \(now.microseconds) ELSE last_success_at END
                    """)
            else { return }
            for change in issues { try await self.apply(change, sink, connection, now: now) }
            if lastSeq != nil { try await self.trimExportChanges(connection, projectID: sink.projectID) }
        }
    }

    /// A pass failed: retried at `retryAt`; the lease ends.
    public func recordExportFailure(
        _ sink: ExportSink, status: Int?, error: String, retryAt: Timestamp, now: Timestamp
    ) async throws {
        try await transaction { connection in
            _ = try await self.bump(
                connection, sink,
                """
                UPDATE export_sink SET attempts = attempts + 1, last_failure_at = \(now.microseconds),
                    last_error = \(String(error.prefix(500))), last_status = \(status.map(Int32.init)),
                    next_push_at = \(retryAt.microseconds), leased_until = NULL
                """)
        }
    }

    /// Runs `update` (an `UPDATE export_sink SET …`) on the sink's row if it still has the version the pass read.
    private func bump(_ connection: PostgresConnection, _ sink: ExportSink, _ update: PostgresQuery) async throws
        -> Bool
    {
        var query = update
        let base = query.binds.count
        query.sql +=
            " WHERE project_id = $\(base + 1) AND name = $\(base + 2) AND updated_at = $\(base + 3) RETURNING 1"
        query.binds.append(sink.projectID)
        query.binds.append(sink.name)
        query.binds.append(sink.updatedAt)
        for try await _ in try await connection.query(query, logger: logger) { return true }
        return false
    }

    private func apply(
        _ change: ExportIssueChange, _ sink: ExportSink, _ connection: PostgresConnection, now: Timestamp
    )
        async throws
    {
        if let detail = change.detail, !detail.isNull {
            try await connection.query(
                """
                INSERT INTO export_issue VALUES (\(sink.projectID), \(sink.name), \(change.observationID),
                    \(change.kind.rawValue), \(change.traceID), \(change.costNanos), \(detail.serialized())::jsonb,
                    \(now.microseconds))
                ON CONFLICT (project_id, sink, kind, observation_id) DO UPDATE SET trace_id = excluded.trace_id,
                    cost_nanos = excluded.cost_nanos, detail = excluded.detail, at = excluded.at
                """, logger: logger)
        } else {
            try await connection.query(
                """
                DELETE FROM export_issue WHERE project_id = \(sink.projectID) AND sink = \(sink.name)
                AND kind = \(change.kind.rawValue) AND observation_id = \(change.observationID)
                """, logger: logger)
        }
    }

    /// Deletes the project's changes every one of its sinks has passed (all of them when it has none).
    private func trimExportChanges(_ connection: PostgresConnection, projectID: String) async throws {
        try await connection.query(
            """
            DELETE FROM export_change WHERE project_id = \(projectID) AND (
                seq <= coalesce((SELECT min(cursor) FROM export_sink WHERE project_id = \(projectID)),
                    9223372036854775807)
                OR NOT EXISTS (SELECT 1 FROM export_sink WHERE project_id = \(projectID)))
            """, logger: logger)
    }
}
