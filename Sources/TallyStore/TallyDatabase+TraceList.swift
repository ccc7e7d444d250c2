import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

extension TallyDatabase {
    // Per-trace subqueries name their index (INDEXED BY): without ANALYZE statistics SQLite takes the leading
    // project_id of the primary key as selective and would scan every observation of the project per trace.

    /// A page of traces for `q` (limit + 1 fetched to tell whether more follow), newest first by default, and the
    /// cursor of the page after it (nil on the last page).
    public func traceList(projectID: String, query q: TraceListQuery) async throws -> (
        rows: [TraceListRow], hasMore: Bool, next: ListCursor?
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
        // The per-trace totals are columns of the trace row, each with an index for the unfiltered list.
        let column: String
        switch q.sort {
        case .timestamp: column = timestamp
        case .name: column = "coalesce(t.name, '')"
        case .totalCost: column = "t.total_cost_nanos"
        case .latency: column = "t.duration_micros"
        case .totalTokens: column = "t.total_tokens"
        }
        let direction = q.ascending ? "ASC" : "DESC"
        // Ties by id, ascending under time descending (the order of the tag index, which carries the trace id).
        let idAscending = q.sort == .timestamp ? !q.ascending : q.ascending
        let tieColumn = q.sort == .timestamp ? id : "t.id"
        let tiebreak = "\(tieColumn) \(idAscending ? "ASC" : "DESC")"
        if let after = q.after {
            // The rows strictly after the cursor in this order.
            let key: (any DatabaseValueConvertible)?
            switch after.key {
            case .int(let v): key = v
            case .string(let v): key = v
            default: key = nil
            }
            f.keyset(
                column: column, ascending: q.ascending, key: key, tie: tieColumn, tieAscending: idAscending,
                after: after.id)
        }
        let sql = """
            SELECT t.*, \(column) AS sort_key, \(tieColumn) AS sort_id FROM \(from) WHERE \(f.sql)
            ORDER BY \(column) \(direction), \(tiebreak) LIMIT ? OFFSET ?
            """
        let arguments = f.arguments + [q.limit + 1, q.after == nil ? q.offset : 0]
        let limit = q.limit
        return try await boundedRead { db in
            let fetched = try Row.fetchAll(db, sql: sql, arguments: arguments)
            let rows = fetched.prefix(limit).map {
                TraceListRow(trace: Trace(row: $0), totals: TraceTotals(traceRow: $0))
            }
            var next: ListCursor?
            if fetched.count > limit, let last = fetched.prefix(limit).last {
                let key: DatabaseValue = last["sort_key"]
                let value: JSONValue
                switch key.storage {
                case .int64(let v): value = .int(v)
                case .string(let v): value = .string(v)
                default: value = .string("")
                }
                next = ListCursor(key: value, id: last["sort_id"])
            }
            return (rows, fetched.count > limit, next)
        }
    }
}
