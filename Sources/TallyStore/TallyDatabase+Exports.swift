import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

extension TallyDatabase {
    public typealias ExportSinkWriteError = TallyStoreAPI.ExportSinkWriteError

    // MARK: Sinks

    /// Creates or replaces sink `name`; returns true if it was created. A new sink (or one pointed at another type or
    /// URL, whose ledger then starts empty) pushes the calls changed from now on, plus, with `from`, the model calls
    /// already stored that started at or after `from`. An absent `apiKey` keeps the stored one.
    public func putExportSink(
        projectID: String, name: String, config: ExportSinkConfig, apiKey: String?, from: Timestamp?,
        now: Timestamp
    ) async throws -> Bool {
        try await writer.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM project WHERE id = ?", arguments: [projectID]) != nil else {
                throw ExportSinkWriteError.unknownProject
            }
            let head = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM export_change") ?? 0
            let old = try Row.fetchOne(
                db, sql: "SELECT type, url, api_key FROM export_sink WHERE project_id = ? AND name = ?",
                arguments: [projectID, name])
            let key = apiKey ?? old?["api_key"]
            if let old {
                let moved = old["type"] != config.type.rawValue || old["url"] != config.url
                if moved {
                    try Self.forgetReceiver(db, projectID: projectID, sink: name)
                }
                try db.execute(
                    sql: """
                        UPDATE export_sink SET type = ?, url = ?, api_key = ?, config = ?, next_push_at = ?, attempts = 0,
                            cursor = CASE WHEN ? THEN ? ELSE cursor END, updated_at = max(updated_at + 1, ?)
                        WHERE project_id = ? AND name = ?
                        """,
                    arguments: [
                        config.type.rawValue, config.url, key, config.json.serialized(), now.microseconds, moved, head,
                        now.microseconds, projectID, name,
                    ])
            } else {
                try db.execute(
                    sql: """
                        INSERT INTO export_sink (project_id, name, type, url, api_key, config, cursor, next_push_at,
                            created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        projectID, name, config.type.rawValue, config.url, key, config.json.serialized(), head,
                        now.microseconds, now.microseconds, now.microseconds,
                    ])
            }
            try Self.syncExportTriggers(db)
            if let from {
                // Every sink of the project sees these; each ledger drops what its receiver already holds.
                try db.execute(
                    sql: """
                        INSERT INTO export_change (project_id, observation_id, at)
                        SELECT project_id, id, ? FROM observation
                        WHERE project_id = ? AND start_time >= ? AND type IN ('GENERATION', 'EMBEDDING')
                        ORDER BY start_time, id
                        """, arguments: [now.microseconds, projectID, from.microseconds])
            }
            return old == nil
        }
    }

    /// Deletes a sink with its ledger and issues; false if there was none.
    public func deleteExportSink(projectID: String, name: String) async throws -> Bool {
        try await writer.write { db in
            try Self.forgetReceiver(db, projectID: projectID, sink: name)
            try db.execute(
                sql: "DELETE FROM export_sink WHERE project_id = ? AND name = ?", arguments: [projectID, name])
            let deleted = db.changesCount > 0
            try Self.trimExportChanges(db, projectID: projectID)
            try Self.syncExportTriggers(db)
            return deleted
        }
    }

    /// Deletes what the sink knows of its receiver: the ledger of what it holds and the listed issues.
    static func forgetReceiver(_ db: Database, projectID: String, sink: String) throws {
        for table in ["export_ledger", "export_issue"] {
            try db.execute(sql: "DELETE FROM \(table) WHERE project_id = ? AND sink = ?", arguments: [projectID, sink])
        }
    }

    /// Makes the sink due now; false if there is none.
    public func requestExportPush(projectID: String, name: String, now: Timestamp) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE export_sink SET next_push_at = ? WHERE project_id = ? AND name = ?",
                arguments: [now.microseconds, projectID, name])
            return db.changesCount > 0
        }
    }

    public func exportSinkStatuses(projectID: String) async throws -> [ExportSinkStatus] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM export_sink WHERE project_id = ? ORDER BY name", arguments: [projectID]
            ).compactMap { try Self.status($0, db, recent: 0) }
        }
    }

    /// One sink with the newest `recent` issues of each kind.
    public func exportSinkStatus(projectID: String, name: String, recent: Int) async throws -> ExportSinkStatus? {
        try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM export_sink WHERE project_id = ? AND name = ?", arguments: [projectID, name]
            ).flatMap { try Self.status($0, db, recent: recent) }
        }
    }

    /// The settings stored in a sink row (nil if they do not read back: the row is skipped, not fatal).
    static func sinkConfig(_ row: Row) -> ExportSinkConfig? {
        (try? JSONValue.parse(row["config"] as String)).flatMap(ExportSinkConfig.init(json:))
    }

    static func status(_ row: Row, _ db: Database, recent: Int) throws -> ExportSinkStatus? {
        guard let config = sinkConfig(row) else { return nil }
        let project: String = row["project_id"]
        let name: String = row["name"]
        let cursor: Int64 = row["cursor"]
        let pending = try Row.fetchOne(
            db, sql: "SELECT count(*) AS n, min(at) AS oldest FROM export_change WHERE project_id = ? AND seq > ?",
            arguments: [project, cursor])
        var totals: [ExportIssueKind: (count: Int64, costNanos: Int64)] = [:]
        for r in try Row.fetchAll(
            db,
            sql: """
                SELECT kind, count(*) AS n, sum(cost_nanos) AS cost FROM export_issue WHERE project_id = ? AND sink = ?
                GROUP BY kind
                """, arguments: [project, name])
        {
            if let kind = ExportIssueKind(rawValue: r["kind"]) { totals[kind] = (r["n"], r["cost"] ?? 0) }
        }
        var issues: [ExportIssueKind: [ExportIssue]] = [:]
        if recent > 0 {
            for kind in ExportIssueKind.allCases where totals[kind] != nil {
                issues[kind] = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT * FROM export_issue WHERE project_id = ? AND sink = ? AND kind = ?
                        ORDER BY at DESC, observation_id LIMIT ?
                        """, arguments: [project, name, kind.rawValue, recent]
                ).map { r in
                    ExportIssue(
                        observationID: r["observation_id"], traceID: r["trace_id"], kind: kind,
                        costNanos: r["cost_nanos"], detail: (try? JSONValue.parse(r["detail"] as String)) ?? [:],
                        at: Timestamp(microseconds: r["at"]))
                }
            }
        }
        let time = { (column: String) in (row[column] as Int64?).map(Timestamp.init(microseconds:)) }
        return ExportSinkStatus(
            name: name, config: config, hasApiKey: (row["api_key"] as String?) != nil, cursor: cursor,
            pendingChanges: pending?["n"] ?? 0,
            oldestPendingAt: (pending?["oldest"] as Int64?).map(Timestamp.init(microseconds:)),
            eventsSent: row["events_sent"], requestsSent: row["requests_sent"], lastSuccessAt: time("last_success_at"),
            lastFailureAt: time("last_failure_at"), lastError: row["last_error"], lastStatus: row["last_status"],
            attempts: row["attempts"], nextPushAt: Timestamp(microseconds: row["next_push_at"]),
            createdAt: Timestamp(microseconds: row["created_at"]), issueTotals: totals, issues: issues)
    }

    // MARK: The push service's side

    /// Sinks whose next push is due, across projects.
    public func dueExportSinks(now: Timestamp) async throws -> [ExportSink] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM export_sink WHERE next_push_at <= ? ORDER BY next_push_at",
                arguments: [now.microseconds]
            ).compactMap { r in
                guard let config = Self.sinkConfig(r) else { return nil }
                return ExportSink(
                    projectID: r["project_id"], name: r["name"], config: config, apiKey: r["api_key"],
                    cursor: r["cursor"], attempts: r["attempts"], updatedAt: r["updated_at"])
            }
        }
    }

    /// Up to `limit` changes after the sink's cursor that are at least `settleSeconds` old (stopping at the first
    /// younger one, so the cursor never passes a change it did not push); nil when there are none. A change to a
    /// call deleted since is dropped (a deletion does not reverse what a receiver holds). A shared call is one call
    /// per tenant share (`BillableCall.id`); a billing id of a changed call that the receiver holds but that no
    /// longer stands for anything (the call became shared, or a tenant left its shares) comes back `withdrawn`.
    public func exportWork(_ sink: ExportSink, now: Timestamp, limit: Int) async throws -> ExportWork? {
        let settled = now.microseconds - Int64(sink.config.settleSeconds) * 1_000_000
        let changes = try await boundedRead { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT seq, observation_id, at FROM export_change WHERE project_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                arguments: [sink.projectID, sink.cursor, limit]
            ).map { (seq: $0["seq"] as Int64, id: $0["observation_id"] as String, at: $0["at"] as Int64) }
        }
        guard let (lastSeq, ids, complete) = ExportWork.settled(changes, settledAt: settled, limit: limit) else {
            return nil
        }
        return try await sharedExportWork(
            projectID: sink.projectID, sink: sink.name, ids: ids, lastSeq: lastSeq, complete: complete)
    }

    /// The receiver took `pushes`: their ledger entries hold, their calls' issues are cleared. False (nothing
    /// written) if the sink changed since the pass read it.
    @discardableResult
    public func recordExportTaken(_ sink: ExportSink, _ pushes: [ExportPush], now: Timestamp) async throws
        -> Bool
    {
        try await writer.write { db in
            guard
                try Self.bump(
                    db, sink, "events_sent = events_sent + ?, requests_sent = requests_sent + 1",
                    [pushes.reduce(0) { $0 + $1.events.count }])
            else { return false }
            for p in pushes {
                let v = p.ledger.values
                let f = v?.figures ?? UsageFigures()
                try db.cachedStatement(
                    sql: """
                        INSERT INTO export_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT DO UPDATE SET revision = excluded.revision, subject = excluded.subject,
                            model = excluded.model, feature = excluded.feature, timestamp = excluded.timestamp,
                            input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
                            cache_read_tokens = excluded.cache_read_tokens, cache_write_tokens = excluded.cache_write_tokens,
                            reasoning_tokens = excluded.reasoning_tokens, cost_nanos = excluded.cost_nanos,
                            pushed_at = excluded.pushed_at, cache_savings_nanos = excluded.cache_savings_nanos
                        """
                ).execute(arguments: [
                    sink.projectID, sink.name, p.call.id, p.ledger.revision, v?.subject ?? "",
                    v?.model ?? "", v?.feature ?? "", v?.timestamp ?? 0, f.inputTokens, f.outputTokens,
                    f.cacheReadTokens, f.cacheWriteTokens, f.reasoningTokens, f.costNanos, now.microseconds,
                    f.cacheSavingsNanos,
                ])
                try db.cachedStatement(
                    sql: "DELETE FROM export_issue WHERE project_id = ? AND sink = ? AND observation_id = ?"
                )
                .execute(arguments: [sink.projectID, sink.name, p.call.id])
            }
            return true
        }
    }

    /// The receiver refused `push` for good (400/413/422): the call is listed as rejected and not retried until it
    /// changes again.
    public func recordExportRejected(
        _ sink: ExportSink, _ push: ExportPush, status: Int, error: String, now: Timestamp
    ) async throws {
        try await writer.write { db in
            guard try Self.bump(db, sink, "requests_sent = requests_sent + 1", []) else { return }
            try Self.apply(.rejected(push, status: status, error: error), sink, db, now: now)
        }
    }

    /// A pass pushed everything up to `lastSeq`: the cursor moves there, `issues` are recorded, the next push is
    /// due `intervalSeconds` from now (at once if `more` remains), and changes every sink has passed are deleted.
    public func recordExportPass(
        _ sink: ExportSink, through lastSeq: Int64?, issues: [ExportIssueChange], more: Bool, now: Timestamp
    ) async throws {
        try await writer.write { db in
            let next = more ? now.microseconds : now.microseconds + Int64(sink.config.intervalSeconds) * 1_000_000
            guard
                try Self.bump(
                    db, sink,
                    "cursor = max(cursor, ?), attempts = 0, next_push_at = ?, last_success_at = CASE WHEN ? THEN ? ELSE last_success_at END",
                    [lastSeq ?? 0, next, lastSeq != nil, now.microseconds])
            else { return }
            for change in issues { try Self.apply(change, sink, db, now: now) }
            if lastSeq != nil { try Self.trimExportChanges(db, projectID: sink.projectID) }
        }
    }

    /// A pass failed (the receiver was down, slow or refused the key): retried at `retryAt`.
    public func recordExportFailure(
        _ sink: ExportSink, status: Int?, error: String, retryAt: Timestamp, now: Timestamp
    ) async throws {
        try await writer.write { db in
            _ = try Self.bump(
                db, sink,
                "attempts = attempts + 1, last_failure_at = ?, last_error = ?, last_status = ?, next_push_at = ?",
                [now.microseconds, String(error.prefix(500)), status, retryAt.microseconds])
        }
    }

    /// Applies `set` to the sink's row if it still has the version the pass read; false otherwise.
    static func bump(_ db: Database, _ sink: ExportSink, _ set: String, _ args: [(any DatabaseValueConvertible)?])
        throws -> Bool
    {
        try db.execute(
            sql: "UPDATE export_sink SET \(set) WHERE project_id = ? AND name = ? AND updated_at = ?",
            arguments: StatementArguments(args + [sink.projectID, sink.name, sink.updatedAt]))
        return db.changesCount > 0
    }

    static func apply(_ change: ExportIssueChange, _ sink: ExportSink, _ db: Database, now: Timestamp) throws {
        if let detail = change.detail, !detail.isNull {
            try db.cachedStatement(
                sql: """
                    INSERT INTO export_issue VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET
                    trace_id = excluded.trace_id, cost_nanos = excluded.cost_nanos, detail = excluded.detail, at = excluded.at
                    """
            ).execute(arguments: [
                sink.projectID, sink.name, change.observationID, change.kind.rawValue, change.traceID, change.costNanos,
                detail.serialized(), now.microseconds,
            ])
        } else {
            try db.cachedStatement(
                sql: "DELETE FROM export_issue WHERE project_id = ? AND sink = ? AND kind = ? AND observation_id = ?"
            ).execute(arguments: [sink.projectID, sink.name, change.kind.rawValue, change.observationID])
        }
    }

    /// The change-log triggers (schema 0018's definitions, and the shares of 0022): a model call written, changed in
    /// a column an event carries, or given new tenant shares, while its project has a sink appends a row to
    /// `export_change`.
    static let exportTriggerNames = [
        "observation_export_insert", "observation_export_update", "observation_export_share",
    ]
    static let exportTriggers = [
        """
        CREATE TRIGGER IF NOT EXISTS observation_export_insert AFTER INSERT ON observation
        WHEN NEW.type IN ('GENERATION', 'EMBEDDING') AND EXISTS (SELECT 1 FROM export_sink WHERE project_id = NEW.project_id)
        BEGIN
            INSERT INTO export_change (project_id, observation_id, at)
            VALUES (NEW.project_id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
        END
        """,
        """
        CREATE TRIGGER IF NOT EXISTS observation_export_update AFTER UPDATE ON observation
        WHEN (OLD.type IN ('GENERATION', 'EMBEDDING') OR NEW.type IN ('GENERATION', 'EMBEDDING'))
            AND (OLD.type IS NOT NEW.type OR OLD.tenant IS NOT NEW.tenant OR OLD.feature IS NOT NEW.feature
                OR OLD.model IS NOT NEW.model OR OLD.level IS NOT NEW.level OR OLD.usage_details IS NOT NEW.usage_details
                OR OLD.input_tokens IS NOT NEW.input_tokens OR OLD.output_tokens IS NOT NEW.output_tokens
                OR OLD.total_cost_nanos IS NOT NEW.total_cost_nanos OR OLD.start_time IS NOT NEW.start_time
                OR OLD.is_placeholder IS NOT NEW.is_placeholder OR OLD.savings_nanos IS NOT NEW.savings_nanos
                OR OLD.shared IS NOT NEW.shared)
            AND EXISTS (SELECT 1 FROM export_sink WHERE project_id = NEW.project_id)
        BEGIN
            INSERT INTO export_change (project_id, observation_id, at)
            VALUES (NEW.project_id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
        END
        """,
        """
        CREATE TRIGGER IF NOT EXISTS observation_export_share AFTER INSERT ON observation_share
        WHEN EXISTS (SELECT 1 FROM export_sink WHERE project_id = NEW.project_id)
        BEGIN
            INSERT INTO export_change (project_id, observation_id, at)
            VALUES (NEW.project_id, NEW.observation_id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
        END
        """,
    ]

    /// Installs the change-log triggers while any export sink exists and drops them otherwise (schema 0021: even
    /// idle, an insert trigger doubles the cost of every observation insert). In the caller's transaction.
    static func syncExportTriggers(_ db: Database) throws {
        // Dropped first either way, so a database whose triggers an older version installed gets these.
        for name in exportTriggerNames { try db.execute(sql: "DROP TRIGGER IF EXISTS \(name)") }
        if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM export_sink)") == true {
            for sql in exportTriggers { try db.execute(sql: sql) }
        }
    }

    /// Deletes the project's changes that every one of its sinks has passed (all of them when it has none).
    static func trimExportChanges(_ db: Database, projectID: String) throws {
        try db.execute(
            sql: """
                DELETE FROM export_change WHERE project_id = ?1
                AND seq <= coalesce((SELECT min(cursor) FROM export_sink WHERE project_id = ?1), 9223372036854775807)
                """, arguments: [projectID])
    }
}
