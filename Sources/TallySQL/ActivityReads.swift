import Foundation
import TallyCore
import TallyStoreAPI

/// The Users and Sessions views over either store. Users: whole UTC days from `rollup_user_day` (summed per user
/// there), partial days from the traces (index `trace_time`), summed per user in SQL. Sessions: a page of session
/// ids from an index (`session` by start, or the tenant's or user's traces), then the page's totals from
/// `trace_session`.
public struct ActivitySQL: Sendable {
    public let dialect: SQLDialect

    public init(_ dialect: SQLDialect) { self.dialect = dialect }

    /// Per user: traces, errors, tokens, cost, first and last time, and the least and greatest tenant (one tenant
    /// when they are equal); `q`'s page in its order, with `total` (the number of users) on every row.
    public func users(_ q: UserListQuery, projectID: String) -> SQLQuery {
        var parts: [String] = []
        var values: [SQLValue] = []
        func addRollup(_ range: RollupRange) {
            var w = SQLConditions()
            w.add("r.project_id = ?", .text(projectID))
            range.addUnits(to: &w)
            w.any("r.tenant", q.tenants)
            w.any("r.environment", q.environments)
            // Summed per user first: the rollup is keyed by user before day, so this streams without a sort.
            parts.append(
                """
                SELECT r.user_id AS u, min(r.tenant) AS ftn, max(r.tenant) AS tn, \(dialect.sum("r.traces")) AS n,
                    \(dialect.sum("r.errors")) AS e, \(dialect.sum("r.tokens")) AS tk, \(dialect.sum("r.cost_nanos")) AS c,
                    min(r.first_time) AS f, max(r.last_time) AS l
                FROM rollup_user_day r WHERE \(w.sql) GROUP BY r.user_id
                """)
            values += w.values
        }
        func addTraces(from: Int64?, to: Int64?) {
            var w = SQLConditions()
            w.add("t.project_id = ?", .text(projectID))
            w.add("t.user_id IS NOT NULL")
            if let from { w.add("t.timestamp >= ?", .int(from)) }
            if let to { w.add("t.timestamp < ?", .int(to)) }
            w.any("t.tenant", q.tenants)
            w.any("t.environment", q.environments)
            parts.append(
                "SELECT t.user_id AS u, coalesce(t.tenant, '') AS ftn, coalesce(t.tenant, '') AS tn, 1 AS n, "
                    + "\(dialect.int("t.max_level = 3")) AS e, "
                    + "t.total_tokens AS tk, t.total_cost_nanos AS c, t.timestamp AS f, t.timestamp AS l "
                    + "FROM trace t WHERE \(w.sql)")
            values += w.values
        }
        let range = RollupRange(from: q.from, to: q.to)
        if let range {
            addRollup(range)
            for edge in range.edges { addTraces(from: edge.from, to: edge.to) }
        } else {
            addTraces(from: q.from?.microseconds, to: q.to?.microseconds)
        }
        let order =
            switch q.sort {
            case .cost: "cost"
            case .traces: "traces"
            case .tokens: "tokens"
            case .errorRate: "CAST(errors AS \(dialect.double)) / traces"
            case .firstSeen: "first_time"
            case .lastSeen: "last_time"
            case .userId: dialect.bytewise("u")
            }
        // Whole days alone are one row per user already; otherwise the parts are summed per user.
        let perUser =
            range?.edges.isEmpty == true
            ? """
            SELECT u, n AS traces, e AS errors, tk AS tokens, c AS cost, f AS first_time, l AS last_time,
                ftn AS first_tenant, tn AS tenant
            FROM base WHERE n > 0
            """
            : """
            SELECT u, \(dialect.sum("n")) AS traces, \(dialect.sum("e")) AS errors, \(dialect.sum("tk")) AS tokens,
                \(dialect.sum("c")) AS cost, min(f) AS first_time, max(l) AS last_time,
                min(ftn) AS first_tenant, max(tn) AS tenant
            FROM base GROUP BY u HAVING \(dialect.sum("n")) > 0
            """
        let sql = """
            WITH base AS (\(parts.joined(separator: " UNION ALL "))), a AS (\(perUser))
            SELECT a.*, count(*) OVER () AS total FROM a
            ORDER BY \(order) \(q.ascending ? "ASC" : "DESC"), \(dialect.bytewise("u")) LIMIT ? OFFSET ?
            """
        return SQLQuery(sql, values + [.int(Int64(q.limit)), .int(Int64(q.offset))])
    }

    /// A page of session ids (`sid`), newest start first: from `session` (its `created_at` is the first trace's
    /// time), or grouped from the tenant's or user's traces when `q` names one.
    public func sessionPage(_ q: SessionListQuery, projectID: String) -> SQLQuery {
        var w = SQLConditions()
        let page: [SQLValue] = [.int(Int64(q.limit)), .int(Int64(q.offset))]
        if q.tenants.isEmpty, q.userID == nil {
            w.add("s.project_id = ?", .text(projectID))
            if let v = q.from { w.add("s.created_at >= ?", .int(v.microseconds)) }
            if let v = q.to { w.add("s.created_at < ?", .int(v.microseconds)) }
            w.any("s.environment", q.environments)
            return SQLQuery(
                "SELECT s.id AS sid FROM session s WHERE \(w.sql) ORDER BY s.created_at DESC, "
                    + "\(dialect.bytewise("s.id")) LIMIT ? OFFSET ?", w.values + page)
        }
        // The user's or the tenants' traces through their index (SQLite would otherwise walk every session).
        let index = dialect.table("trace", "t", index: q.userID != nil ? "trace_user" : "trace_tenant")
        w.add("t.project_id = ?", .text(projectID))
        w.add("t.session_id IS NOT NULL")
        if let v = q.userID { w.add("t.user_id = ?", .text(v)) }
        w.any("t.tenant", q.tenants)
        w.any("t.environment", q.environments)
        var having = SQLConditions()
        if let v = q.from { having.add("min(t.timestamp) >= ?", .int(v.microseconds)) }
        if let v = q.to { having.add("min(t.timestamp) < ?", .int(v.microseconds)) }
        return SQLQuery(
            """
            SELECT t.session_id AS sid, min(t.timestamp) AS started FROM \(index) WHERE \(w.sql)
            GROUP BY t.session_id HAVING \(having.sql)
            ORDER BY started DESC, \(dialect.bytewise("t.session_id")) LIMIT ? OFFSET ?
            """, w.values + having.values + page)
    }

    /// The totals of sessions `ids` over all their traces.
    public func sessionTotals(ids: [String], projectID: String) -> SQLQuery {
        var w = SQLConditions()
        w.add("t.project_id = ?", .text(projectID))
        w.any("t.session_id", ids)
        return SQLQuery(
            """
            SELECT t.session_id AS sid, count(*) AS traces, \(dialect.sum(dialect.int("t.max_level = 3"))) AS errors,
                \(dialect.sum("t.total_tokens")) AS tokens, \(dialect.sum("t.total_cost_nanos")) AS cost,
                min(t.timestamp) AS first_time, max(t.timestamp) AS last_time,
                count(DISTINCT t.user_id) AS users, max(t.user_id) AS user_id,
                count(DISTINCT t.tenant) AS tenants, max(t.tenant) AS tenant
            FROM trace t WHERE \(w.sql) GROUP BY t.session_id
            """, w.values)
    }
}

extension SQLReader {
    var activity: ActivitySQL { ActivitySQL(dialect) }

    /// `q`'s page of users and the number of users in the range.
    public func sharedUsers(projectID: String, query q: UserListQuery) async throws -> (rows: [UserRow], total: Int) {
        let rows = try await rows(activity.users(q, projectID: projectID))
        let users = rows.compactMap { row -> UserRow? in
            guard let id = row.text("u") else { return nil }
            let tenant = row.text("tenant")
            let several = tenant != row.text("first_tenant")
            return UserRow(
                userID: id, traces: row.int("traces") ?? 0, errors: row.int("errors") ?? 0,
                tokens: row.int("tokens") ?? 0, costNanos: row.int("cost") ?? 0,
                firstSeen: Timestamp(microseconds: row.int("first_time") ?? 0),
                lastSeen: Timestamp(microseconds: row.int("last_time") ?? 0),
                tenant: several || tenant == "" ? nil : tenant, severalTenants: several)
        }
        return (users, Int(rows.first?.int("total") ?? 0))
    }

    /// `q`'s page of sessions with their totals, newest start first.
    public func sharedSessions(projectID: String, query q: SessionListQuery) async throws -> [SessionRow] {
        let ids = try await rows(activity.sessionPage(q, projectID: projectID)).compactMap { $0.text("sid") }
        guard !ids.isEmpty else { return [] }
        var byID: [String: SessionRow] = [:]
        for row in try await rows(activity.sessionTotals(ids: ids, projectID: projectID)) {
            guard let id = row.text("sid") else { continue }
            let users = row.int("users") ?? 0
            byID[id] = SessionRow(
                sessionID: id, traces: row.int("traces") ?? 0, errors: row.int("errors") ?? 0,
                tokens: row.int("tokens") ?? 0, costNanos: row.int("cost") ?? 0,
                start: Timestamp(microseconds: row.int("first_time") ?? 0),
                end: Timestamp(microseconds: row.int("last_time") ?? 0),
                userID: users == 1 ? row.text("user_id") : nil,
                tenant: row.int("tenants") == 1 ? row.text("tenant") : nil, userCount: users)
        }
        return ids.compactMap { byID[$0] }
    }
}
