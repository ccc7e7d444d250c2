import Foundation
import GRDB
import TallyCore
import TallySQL
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
        f.add(ReadFilters.traceList(projectID: projectID, q, perTrace: "observation x INDEXED BY observation_trace"))
        let (from, timestamp, id) = Self.traceSource(tags: q.tags, projectID: projectID, filter: &f)
        let column = ReadFilters.traceListSortColumn(q.sort, timestamp: timestamp)
        let direction = q.ascending ? "ASC" : "DESC"
        // Ties by id, ascending under time descending (the order of the tag index, which carries the trace id).
        let idAscending = q.sort == .timestamp ? !q.ascending : q.ascending
        let tieColumn = q.sort == .timestamp ? id : "t.id"
        let tiebreak = "\(tieColumn) \(idAscending ? "ASC" : "DESC")"
        if let after = q.after {
            // The rows strictly after the cursor in this order.
            var keyset = SQLConditions()
            keyset.keyset(
                column: column, ascending: q.ascending, key: SQLValue(cursorKey: after.key), tie: tieColumn,
                tieAscending: idAscending, after: after.id)
            f.add(keyset)
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
