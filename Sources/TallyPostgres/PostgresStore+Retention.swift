import Foundation
import PostgresNIO
import TallyCore
import TallySQL
import TallyStoreAPI

/// Retention on PostgreSQL: per-project settings, per-trace deletes in short batches, and the bulk path: a month
/// partition of observations that every project's retention has expired is dropped whole (its rollup
/// contributions subtracted first), instead of being deleted row by row.
extension PostgresStore: RetentionStore {
    /// The project's own retention in days (nil: the server default; 0: keep forever).
    public func retentionDays(projectID: String) async throws -> Int? {
        var days: Int?
        for try await d in try await client.query(
            "SELECT retention_days FROM project_setting WHERE project_id = \(projectID)", logger: logger
        ).decode(Int?.self) {
            days = d
        }
        return days
    }

    public func setRetentionDays(projectID: String, _ days: Int?) async throws {
        try await client.query(
            """
            INSERT INTO project_setting (project_id, retention_days) VALUES (\(projectID), \(days))
            ON CONFLICT (project_id) DO UPDATE SET retention_days = excluded.retention_days
            """, logger: logger)
    }

    /// Every project with the retention in force for it: its own setting, else `defaultDays`; projects that keep
    /// everything (0, or no setting and no default) are left out.
    public func retentionPolicies(defaultDays: Int?) async throws -> [(projectID: String, days: Int)] {
        var out: [(projectID: String, days: Int)] = []
        for try await (id, days) in try await client.query(
            """
            SELECT p.id, coalesce(s.retention_days, \(defaultDays)) FROM project p
            LEFT JOIN project_setting s ON s.project_id = p.id ORDER BY p.id
            """, logger: logger
        ).decode((String, Int?).self) {
            if let days, days > 0 { out.append((id, days)) }
        }
        return out
    }

    /// Deletes at most `limit` of the project's traces whose timestamp is before `cutoff`, with their observations
    /// and scores, and its trace-less scores older than `cutoff`, in one short transaction. Returns how many traces
    /// and how many trace-less scores went; a caller repeats while either count reached `limit`.
    public func deleteTraces(projectID: String, olderThan cutoff: Timestamp, limit: Int) async throws -> (
        traces: Int, scores: Int
    ) {
        var ids: [String] = []
        for try await id in try await client.query(
            """
            SELECT id FROM trace WHERE project_id = \(projectID) AND timestamp < \(cutoff.microseconds)
            ORDER BY timestamp LIMIT \(limit)
            """, logger: logger
        ).decode(String.self) {
            ids.append(id)
        }
        let traces = try await deleteTraces(projectID: projectID, ids: ids)
        var scores = 0
        for try await _ in try await client.query(
            """
            DELETE FROM score WHERE project_id = \(projectID) AND id IN (SELECT id FROM score
                WHERE project_id = \(projectID) AND trace_id IS NULL AND timestamp < \(cutoff.microseconds)
                LIMIT \(limit))
            RETURNING id
            """, logger: logger)
        {
            scores += 1
        }
        return (traces, scores)
    }

    /// Space comes back by itself on PostgreSQL (autovacuum, and dropped partitions at once): nothing to do.
    @discardableResult
    public func reclaimSpace(pages: Int) async throws -> Int { 0 }

    /// Drops every month partition of `observation` that ends at or before `cutoff` (rows outside any month's
    /// partition stay for the per-trace deletes). Returns how many observations went.
    @discardableResult
    public func dropExpired(olderThan cutoff: Timestamp) async throws -> Int {
        var expired: [PartitionMonth] = []
        for try await name in try await client.query(
            """
            SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'observation'::regclass ORDER BY 1
            """, logger: logger
        ).decode(String.self) {
            guard let month = PartitionMonth(table: name), month.next.startMicros <= cutoff.microseconds else {
                continue
            }
            expired.append(month)
        }
        var dropped = 0
        for month in expired { dropped += try await drop(month) }
        return dropped
    }

    /// Drops one month's partition in one transaction: its rollup contributions (own figures and shares, usage keys,
    /// call shapes; the model-call counters keep deleted calls) are subtracted, the totals of its calls' traces
    /// refreshed without them, the partition dropped and its calls' shares deleted. Returns the observations dropped.
    func drop(_ month: PartitionMonth) async throws -> Int {
        let table = month.table
        return try await transaction { connection in
            // Writers to this month wait for the drop; its rows are read once more, to subtract them.
            try await connection.query(
                PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE"), logger: self.logger)
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE TEMP TABLE tally_dropped ON COMMIT DROP AS
                        SELECT project_id, id, trace_id, shared FROM \(table)
                        """), logger: self.logger)
            var count = 0
            for try await n in try await connection.query("SELECT count(*) FROM tally_dropped", logger: self.logger)
                .decode(Int.self)
            {
                count = n
            }
            var subtraction = ""
            for try await sql in try await connection.query(
                "SELECT tally_apply_sql(tally_calls_delta_sql(\(table), -1), false)", logger: self.logger
            ).decode(String.self) {
                subtraction = sql
            }
            try await connection.query(PostgresQuery(unsafeSQL: subtraction), logger: self.logger)
            // The rollups without a tenant (what-if's usage keys, the finders' call shapes) lose the month's calls
            // as their delete triggers would subtract them.
            for rollup in ["usage_key", "call_shape"] {
                var sql = ""
                for try await text in try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "SELECT tally_\(rollup)_apply_sql(tally_\(rollup)_delta_sql('\(table)', -1))"),
                    logger: self.logger
                ).decode(String.self) {
                    sql = text
                }
                try await connection.query(PostgresQuery(unsafeSQL: sql), logger: self.logger)
            }
            // Totals of the traces that had calls this month, without them (the partition holds every row of its
            // month; an ingest refreshing one of these traces reads the locked partition, so it waits and counts after
            // the drop).
            let outsideMonth = { (o: String) in
                "NOT (\(o).start_time >= \(month.startMicros) AND \(o).start_time < \(month.next.startMicros))"
            }
            try await connection.query(
                """
                UPDATE trace AS t SET \(unescaped: SharedSQL.setTraceTotals(observations: outsideMonth))
                WHERE (t.project_id, t.id) IN (SELECT DISTINCT project_id, trace_id FROM tally_dropped)
                """, logger: self.logger)
            try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"), logger: self.logger)
            // The calls are gone: deleting their shares now subtracts nothing again (the share trigger finds no call).
            try await connection.query(
                """
                DELETE FROM observation_share s USING tally_dropped d
                WHERE d.shared AND s.project_id = d.project_id AND s.observation_id = d.id
                """, logger: self.logger)
            return count
        }
    }
}

extension PartitionMonth {
    /// The month of a partition named `observation_yYYYYmMM`; nil for any other name (the default partition).
    init?(table: String) {
        let prefix = "observation_y"
        guard table.hasPrefix(prefix), table.count == prefix.count + 7 else { return nil }
        let rest = table.dropFirst(prefix.count)
        guard let year = Int(rest.prefix(4)), rest.dropFirst(4).first == "m", let month = Int(rest.suffix(2)),
            (1...12).contains(month)
        else { return nil }
        self.init(index: year * 12 + month - 1)
    }
}
