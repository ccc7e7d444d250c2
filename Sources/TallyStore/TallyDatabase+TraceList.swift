import Foundation
import GRDB
import TallyCore

/// One row of the UI's trace list: the trace and its observations' totals.
public struct TraceListRow: Sendable {
    public var trace: Trace
    public var observations: Int
    /// Milliseconds from the first observation start to the last end; nil without observations.
    public var latencyMs: Double?
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var totalTokens: Int64
    public var totalCostNanos: Int64
    /// The most severe observation level; nil without observations.
    public var level: ObservationLevel?
}

extension TallyDatabase {
    // Per-trace subqueries name their index (INDEXED BY): without ANALYZE statistics SQLite takes the leading
    // project_id of the primary key as selective and would scan every observation of the project per trace.

    /// A page of traces for `q` (limit + 1 fetched to tell whether more follow), newest first by default.
    public func traceList(projectID: String, query q: TraceListQuery) async throws -> (
        rows: [TraceListRow], hasMore: Bool
    ) {
        var f = SQLFilter()
        f.add("t.project_id = ?", [projectID])
        if let v = q.from { f.add("t.timestamp >= ?", [v.microseconds]) }
        if let v = q.to { f.add("t.timestamp < ?", [v.microseconds]) }
        if let v = q.tenant { f.add("t.tenant = ?", [v]) }
        if let v = q.userID { f.add("t.user_id = ?", [v]) }
        if let v = q.sessionID { f.add("t.session_id = ?", [v]) }
        f.any("t.environment", q.environments)
        if let v = q.nameContains, !v.isEmpty {
            let escaped = v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_")
            f.add("t.name LIKE ? ESCAPE '\\'", ["%\(escaped)%"])
        }
        if let name = q.promptName {
            // Driven from the (project, prompt, version, start) index: the prompt's traces, not every trace.
            if let version = q.promptVersion {
                f.add(
                    "t.id IN (SELECT trace_id FROM observation WHERE project_id = ? AND prompt_name = ? AND prompt_version = ?)",
                    [projectID, name, version])
            } else {
                f.add(
                    "t.id IN (SELECT trace_id FROM observation WHERE project_id = ? AND prompt_name = ?)",
                    [projectID, name])
            }
        }
        if let v = q.model {
            f.add(
                "EXISTS (SELECT 1 FROM observation x INDEXED BY observation_trace WHERE x.project_id = t.project_id AND x.trace_id = t.id AND (x.model = ? OR x.response_model = ?))",
                [v, v])
        }
        if let v = q.level {
            f.add(
                "EXISTS (SELECT 1 FROM observation x INDEXED BY observation_trace WHERE x.project_id = t.project_id AND x.trace_id = t.id AND x.level = ?)",
                [v.rawValue])
        }
        let (from, timestamp, id) = Self.traceSource(tags: q.tags, projectID: projectID, filter: &f)
        let perTrace =
            "FROM observation x INDEXED BY observation_trace WHERE x.project_id = t.project_id AND x.trace_id = t.id"
        let column: String
        switch q.sort {
        case .timestamp: column = timestamp
        case .name: column = "t.name"
        case .totalCost: column = "(SELECT coalesce(sum(x.total_cost_nanos), 0) \(perTrace))"
        case .latency: column = "(SELECT max(coalesce(x.end_time, x.start_time)) - min(x.start_time) \(perTrace))"
        case .totalTokens: column = "(SELECT coalesce(sum(x.total_tokens), 0) \(perTrace))"
        }
        let direction = q.ascending ? "ASC" : "DESC"
        // Ties by id in the driving index's order (id ascending under time descending): no sort step for time.
        let tiebreak = q.sort == .timestamp ? "\(id) \(q.ascending ? "DESC" : "ASC")" : "t.id \(direction)"
        let sql = "SELECT t.* FROM \(from) WHERE \(f.sql) ORDER BY \(column) \(direction), \(tiebreak) LIMIT ? OFFSET ?"
        let arguments = f.arguments + [q.limit + 1, q.offset]
        let limit = q.limit
        return try await writer.read { db in
            let traces = try Row.fetchAll(db, sql: sql, arguments: arguments).map(Trace.init(row:))
            let page = Array(traces.prefix(limit))
            guard !page.isEmpty else { return ([], false) }
            let marks = Array(repeating: "?", count: page.count).joined(separator: ", ")
            var totals: [String: TraceListRow] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT trace_id, count(*) AS n, min(start_time) AS first, max(coalesce(end_time, start_time)) AS last,
                        sum(input_tokens) AS it, sum(output_tokens) AS ot, sum(total_tokens) AS tt,
                        coalesce(sum(total_cost_nanos), 0) AS tc,
                        max(CASE level WHEN 'ERROR' THEN 3 WHEN 'WARNING' THEN 2 WHEN 'DEFAULT' THEN 1 ELSE 0 END) AS lv
                    FROM observation INDEXED BY observation_trace
                    WHERE project_id = ? AND trace_id IN (\(marks)) GROUP BY trace_id
                    """, arguments: StatementArguments([projectID] + page.map(\.id)))
            {
                let first: Int64 = row["first"]
                let last: Int64 = row["last"]
                let levels: [ObservationLevel] = [.debug, .default, .warning, .error]
                totals[row["trace_id"]] = TraceListRow(
                    trace: page[0], observations: row["n"], latencyMs: Double(last - first) / 1000,
                    inputTokens: row["it"], outputTokens: row["ot"], totalTokens: row["tt"], totalCostNanos: row["tc"],
                    level: levels[min(3, max(0, row["lv"] as Int))])
            }
            let rows = page.map { t -> TraceListRow in
                var r =
                    totals[t.id]
                    ?? TraceListRow(
                        trace: t, observations: 0, latencyMs: nil, inputTokens: 0, outputTokens: 0, totalTokens: 0,
                        totalCostNanos: 0, level: nil)
                r.trace = t
                return r
            }
            return (rows, traces.count > limit)
        }
    }
}
