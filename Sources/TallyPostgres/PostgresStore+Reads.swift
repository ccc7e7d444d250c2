import Foundation
import PostgresNIO
import TallyCore
import TallySQL
import TallyStoreAPI

/// Langfuse's public read API on PostgreSQL: the filters of `ReadFilters` (shared with SQLite), the same orders
/// (NULLs sort first ascending, as in SQLite; text by bytes, schema 0002's COLLATE "C").
extension PostgresStore: TraceStore {
    // MARK: Traces

    public func traces(projectID: String, query q: TraceQuery) async throws -> Paged<TraceSummary> {
        var f = ReadFilters.trace(q)
        var tags = SQLConditions()
        let (from, timestamp, id) = ReadFilters.traceSource(tags: q.tags, projectID: projectID, to: &tags)
        // Filtered by tags alone: the tag index counts them without reading a trace (every tag row has its trace:
        // both are written and deleted together).
        let tagsOnly = !q.tags.isEmpty && f.clauses.isEmpty
        f.add("t.project_id = ?", .text(projectID))
        f.add(tags)
        let column = ReadFilters.traceOrderColumn(q.orderField, timestamp: timestamp)
        // NULLs first ascending as in SQLite; the timestamps (trace's and tag's) are NOT NULL, and their plain order
        // is the one their indexes hold (DESC NULLS LAST would sort every row of a tag before the first page).
        let direction =
            q.orderField == .timestamp
            ? (q.orderDirection == .asc ? "ASC" : "DESC")
            : (q.orderDirection == .asc ? "ASC NULLS FIRST" : "DESC NULLS LAST")
        let order =
            q.orderField == .timestamp
            ? "\(column) \(direction), \(id) \(q.orderDirection == .asc ? "DESC" : "ASC")"
            : "\(column) \(direction), t.id \(q.orderDirection == .asc ? "ASC" : "DESC")"
        return try await page(
            columns: PGColumns.trace("t"), from: from, where: f, order: order, page: q.page,
            count: tagsOnly ? ("trace_tag g0", tags) : nil
        ) { rows in try await summaries(projectID: projectID, rows: rows) }
    }

    /// The trace, its observations and its scores: three queries at once on the pool (one round trip's wait); the
    /// summary's ids come from the observations and scores read.
    public func trace(projectID: String, id: String) async throws -> (TraceSummary, [Observation], [Score])? {
        async let rows = fetch(
            "SELECT \(unescaped: PGColumns.trace("t")) FROM trace t WHERE t.project_id = \(projectID) AND t.id = \(id)")
        async let observationRows = fetch(
            """
            SELECT \(unescaped: PGColumns.observation("o")) FROM observation o
            WHERE o.project_id = \(projectID) AND o.trace_id = \(id) ORDER BY o.start_time, o.id
            """)
        async let scoreRows = fetch(
            """
            SELECT \(unescaped: PGColumns.score) FROM score WHERE project_id = \(projectID) AND trace_id = \(id)
            ORDER BY timestamp, id
            """)
        let (traceRows, observationsRead, scoresRead) = try await (rows, observationRows, scoreRows)
        guard let row = traceRows.first else { return nil }
        let observations = try observationsRead.map(Observation.init(pg:))
        let scores = try scoresRead.map(Score.init(pg:))
        let summary = TraceSummary(
            trace: try Trace(pg: row), observationIDs: observations.map(\.id), scoreIDs: scores.map(\.id),
            totals: try TraceTotals(pg: row))
        return (summary, observations, scores)
    }

    /// Observation and score ids, latency and cost of `PGColumns.trace` rows, in two grouped queries run at once.
    func summaries(projectID: String, rows: [PostgresRandomAccessRow]) async throws -> [TraceSummary] {
        guard !rows.isEmpty else { return [] }
        let traces = try rows.map(Trace.init(pg:))
        let ids = traces.map(\.id)
        async let observationRows = fetch(
            """
            SELECT trace_id, id FROM observation WHERE project_id = \(projectID) AND trace_id = ANY(\(ids))
            ORDER BY start_time, id
            """)
        async let scoreRows = fetch(
            """
            SELECT trace_id, id FROM score WHERE project_id = \(projectID) AND trace_id = ANY(\(ids))
            ORDER BY timestamp, id
            """)
        var observationIDs: [String: [String]] = [:]
        var scoreIDs: [String: [String]] = [:]
        for row in try await observationRows {
            observationIDs[try row.value("trace_id", as: String.self), default: []].append(try row.value("id"))
        }
        for row in try await scoreRows {
            scoreIDs[try row.value("trace_id", as: String.self), default: []].append(try row.value("id"))
        }
        return try zip(traces, rows).map { t, row in
            TraceSummary(
                trace: t, observationIDs: observationIDs[t.id] ?? [], scoreIDs: scoreIDs[t.id] ?? [],
                totals: try TraceTotals(pg: row))
        }
    }

    /// Deletes traces with their observations (their shares and rollup contributions go with them: schema/postgres
    /// 0004), tags and scores in one transaction, each under its trace's
    /// lock (`EntityLocks`: a concurrent ingest of the trace waits, then finds it gone); returns how many traces
    /// existed.
    @discardableResult
    public func deleteTraces(projectID: String, ids: [String]) async throws -> Int {
        let ids = Array(Set(ids))
        guard !ids.isEmpty else { return 0 }
        return try await transaction { connection in
            try await EntityLocks.lock(
                ids.map { EntityLocks.key("trace", projectID, $0) }, connection, logger: self.logger)
            try await connection.query(
                "DELETE FROM observation WHERE project_id = \(projectID) AND trace_id = ANY(\(ids))", logger: logger)
            try await connection.query(
                "DELETE FROM trace_tag WHERE project_id = \(projectID) AND trace_id = ANY(\(ids))", logger: logger)
            try await connection.query(
                "DELETE FROM score WHERE project_id = \(projectID) AND trace_id = ANY(\(ids))", logger: logger)
            var deleted = 0
            for try await _ in try await connection.query(
                "DELETE FROM trace WHERE project_id = \(projectID) AND id = ANY(\(ids)) RETURNING id", logger: logger)
            {
                deleted += 1
            }
            return deleted
        }
    }

    // MARK: Observations

    public func observation(projectID: String, id: String) async throws -> Observation? {
        try await fetch(
            """
            SELECT \(unescaped: PGColumns.observation("o")) FROM observation o
            WHERE o.project_id = \(projectID) AND o.id = \(id)
            """
        ).first.map(Observation.init(pg:))
    }

    public func observations(projectID: String, query q: ObservationQuery) async throws -> Paged<Observation> {
        try await page(
            columns: PGColumns.observation("o"), from: "observation o",
            where: try ReadFilters.observation(projectID: projectID, q, joined: false, dialect: .postgres),
            order: "o.start_time DESC, o.id", page: q.page
        ) { rows in try rows.map(Observation.init(pg:)) }
    }

    // MARK: Sessions

    public func sessions(projectID: String, query q: SessionQuery) async throws -> Paged<Session> {
        try await page(
            columns: "id, created_at, environment", from: "session",
            where: ReadFilters.session(projectID: projectID, q),
            order: "created_at DESC, id", page: q.page
        ) { rows in try rows.map(Session.init(pg:)) }
    }

    /// A session with its traces (oldest first), or nil.
    public func session(projectID: String, id: String) async throws -> (Session, [TraceSummary])? {
        guard
            let session = try await fetch(
                "SELECT id, created_at, environment FROM session WHERE project_id = \(projectID) AND id = \(id)"
            ).first.map(Session.init(pg:))
        else { return nil }
        let rows = try await fetch(
            """
            SELECT \(unescaped: PGColumns.trace("t")) FROM trace t WHERE t.project_id = \(projectID)
            AND t.session_id = \(id) ORDER BY t.timestamp, t.id
            """)
        return (session, try await summaries(projectID: projectID, rows: rows))
    }

    // MARK: Scores

    public func score(projectID: String, id: String) async throws -> Score? {
        try await fetch(
            "SELECT \(unescaped: PGColumns.score) FROM score WHERE project_id = \(projectID) AND id = \(id)"
        ).first.map(Score.init(pg:))
    }

    public func scores(projectID: String, query q: ScoreQuery) async throws -> Paged<ScoreWithTrace> {
        try await page(
            columns: """
                \(Self.scoreColumns("s")), t.user_id AS t_user_id, t.tags::text AS t_tags, t.environment AS t_environment,
                t.session_id AS t_session_id, t.id IS NOT NULL AS has_trace
                """,
            from: "score s LEFT JOIN trace t ON t.project_id = s.project_id AND t.id = s.trace_id",
            where: ReadFilters.score(projectID: projectID, q), order: "s.timestamp DESC, s.id", page: q.page
        ) { rows in
            try rows.map { row in
                let hasTrace: Bool = try row.value("has_trace")
                return ScoreWithTrace(
                    score: try Score(pg: row), traceUserID: try row.value("t_user_id"),
                    traceTags: hasTrace ? StoredJSON.strings(try row.value("t_tags")) : nil,
                    traceEnvironment: try row.value("t_environment"), traceSessionID: try row.value("t_session_id"))
            }
        }
    }

    @discardableResult
    public func deleteScore(projectID: String, id: String) async throws -> Bool {
        try await !fetch("DELETE FROM score WHERE project_id = \(projectID) AND id = \(id) RETURNING id").isEmpty
    }

    // MARK: Keyset lists

    /// A page of traces for `q` (limit + 1 fetched to tell whether more follow) and the cursor of the page after
    /// it (nil on the last page); the same order and cursors as the SQLite store.
    public func traceList(projectID: String, query q: TraceListQuery) async throws -> (
        rows: [TraceListRow], hasMore: Bool, next: ListCursor?
    ) {
        var f = ReadFilters.traceList(projectID: projectID, q, like: "ILIKE")
        var tags = SQLConditions()
        var (from, timestamp, id) = ReadFilters.traceSource(tags: q.tags, projectID: projectID, to: &tags)
        var binds = PGBinds()
        var pageOffset = q.after == nil ? q.offset : 0
        // A deep offset into a list filtered by tags alone and ordered by time: the offset walks the tag index, and
        // only the page's traces are read (else every skipped row's trace would be).
        var bare = TraceListQuery()
        bare.tags = q.tags
        if !q.tags.isEmpty, q.sort == .timestamp, q.after == nil, q.offset > 0,
            f.clauses.count == ReadFilters.traceList(projectID: projectID, bare, like: "ILIKE").clauses.count
        {
            let limit = binds.add(.int(Int64(q.limit + 1)))
            let offset = binds.add(.int(Int64(q.offset)))
            from = """
                (SELECT g0.project_id, g0.trace_id, g0.timestamp FROM trace_tag g0 WHERE \(binds.render(tags))
                ORDER BY g0.timestamp \(q.ascending ? "ASC" : "DESC"), g0.trace_id \(q.ascending ? "DESC" : "ASC")
                LIMIT \(limit) OFFSET \(offset)) g0 JOIN trace t ON t.project_id = g0.project_id AND t.id = g0.trace_id
                """
            pageOffset = 0
        } else {
            f.add(tags)
        }
        let column = ReadFilters.traceListSortColumn(q.sort, timestamp: timestamp)
        let idAscending = q.sort == .timestamp ? !q.ascending : q.ascending
        let tie = q.sort == .timestamp ? id : "t.id"
        if let after = q.after {
            f.keyset(
                column: column, ascending: q.ascending, key: SQLValue(cursorKey: after.key), tie: tie,
                tieAscending: idAscending, after: after.id)
        }
        let predicate = binds.render(f)
        let limit = binds.add(.int(Int64(q.limit + 1)))
        let offset = binds.add(.int(Int64(pageOffset)))
        // Name and total columns are never NULL here (coalesce, NOT NULL), so the order needs no NULLS clause.
        let fetched = try await fetch(
            binds.query(
                """
                SELECT \(PGColumns.trace("t")), \(column) AS sort_key FROM \(from) WHERE \(predicate)
                ORDER BY \(column) \(q.ascending ? "ASC" : "DESC"), \(tie) \(idAscending ? "ASC" : "DESC")
                LIMIT \(limit) OFFSET \(offset)
                """))
        let page = fetched.prefix(q.limit)
        let rows = try page.map { TraceListRow(trace: try Trace(pg: $0), totals: try TraceTotals(pg: $0)) }
        var next: ListCursor?
        if fetched.count > q.limit, let last = page.last {
            let key: JSONValue =
                q.sort == .name
                ? .string(try last.value("sort_key", as: String.self))
                : .int(try last.value("sort_key", as: Int64.self))
            next = ListCursor(key: key, id: try last.value("id"))
        }
        return (rows, fetched.count > q.limit, next)
    }

    /// Up to `limit` observations with their trace's fields, newest first (start time, then id, both descending),
    /// after `cursor`.
    public func observationsAfter(
        projectID: String, query q: ObservationQuery, cursor: ListCursor?, limit: Int
    ) async throws -> [ObservationWithTrace] {
        var f = try ReadFilters.observation(projectID: projectID, q, joined: true, dialect: .postgres)
        try f.after(cursor, time: "o.start_time", id: "o.id")
        var binds = PGBinds()
        let predicate = binds.render(f)
        let limitMark = binds.add(.int(Int64(limit)))
        return try await fetch(
            binds.query(
                """
                SELECT \(PGColumns.observation("o")), t.name AS t_name, t.user_id AS t_user_id,
                    t.session_id AS t_session_id, t.release AS t_release, t.tags::text AS t_tags,
                    t.bookmarked AS t_bookmarked, t.public AS t_public
                FROM observation o JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id
                WHERE \(predicate) ORDER BY o.start_time DESC, o.id DESC LIMIT \(limitMark)
                """)
        ).map { row in
            ObservationWithTrace(
                observation: try Observation(pg: row), traceName: try row.value("t_name"),
                userID: try row.value("t_user_id"), sessionID: try row.value("t_session_id"),
                release: try row.value("t_release"), tags: StoredJSON.strings(try row.value("t_tags")),
                bookmarked: try row.value("t_bookmarked"), isPublic: try row.value("t_public"))
        }
    }

    /// Up to `limit` scores, newest first (timestamp, then id, both descending), after `cursor`.
    public func scoresAfter(
        projectID: String, query q: ScoreQuery, cursor: ListCursor?, limit: Int
    ) async throws -> [Score] {
        var f = ReadFilters.score(projectID: projectID, q)
        try f.after(cursor, time: "s.timestamp", id: "s.id")
        var binds = PGBinds()
        let predicate = binds.render(f)
        let limitMark = binds.add(.int(Int64(limit)))
        return try await fetch(
            binds.query(
                """
                SELECT \(Self.scoreColumns("s")) FROM score s
                LEFT JOIN trace t ON t.project_id = s.project_id AND t.id = s.trace_id
                WHERE \(predicate) ORDER BY s.timestamp DESC, s.id DESC LIMIT \(limitMark)
                """)
        ).map(Score.init(pg:))
    }

    /// The model calls (generations and embeddings) among `ids`, in the order of `ids` (each once), with their
    /// trace's user.
    public func modelCalls(projectID: String, ids: [String]) async throws -> [ModelCall] {
        var seen = Set<String>()
        let unique = ids.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else { return [] }
        let rows = try await fetch(
            """
            SELECT \(unescaped: PGColumns.observation("o")), t.user_id AS t_user_id FROM observation o
            LEFT JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id
            WHERE o.project_id = \(projectID) AND o.id = ANY(\(unique)) AND o.type IN ('GENERATION', 'EMBEDDING')
            """)
        var byID: [String: ModelCall] = [:]
        for row in rows {
            let o = try Observation(pg: row)
            let created: Int64 = try row.value("created_at")
            let updated: Int64 = try row.value("updated_at")
            byID[o.id] = ModelCall(observation: o, userID: try row.value("t_user_id"), update: created != updated)
        }
        return unique.compactMap { byID[$0] }
    }

    static func scoreColumns(_ alias: String) -> String {
        PGColumns.score.split(separator: ",").map { "\(alias).\($0.trimmingCharacters(in: .whitespacesAndNewlines))" }
            .joined(separator: ", ")
    }

    // MARK: Helpers

    /// Every row of `query`.
    /// A statement the server cancelled for the statement timeout is `StoreError.readTimedOut`; another server
    /// error is a `QueryFailed` naming its SQLSTATE and message (for the log; the server answers 500 without them).
    func fetch(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        do {
            var out: [PostgresRandomAccessRow] = []
            for try await row in try await client.query(query, logger: logger) { out.append(row.makeRandomAccess()) }
            return out
        } catch let error as PSQLError where error.sqlState == "57014" {
            throw StoreError.readTimedOut(seconds: Int(statementTimeout.components.seconds))
        } catch let error as PSQLError where error.sqlState != nil {
            throw QueryFailed(sqlState: error.sqlState ?? "", message: error.serverInfo?[.message] ?? "")
        }
    }

    /// A statement PostgreSQL refused or failed.
    public struct QueryFailed: Error, CustomStringConvertible {
        public var sqlState: String
        public var message: String
        public var description: String { "PostgreSQL \(sqlState): \(message)" }
    }

    /// One page of `SELECT <columns> FROM <from> WHERE <conditions> ORDER BY <order>` and the count of every
    /// matching row, read at once on two connections (the count is of the same moment, give or take a write that
    /// commits between the two).
    /// `count`: a cheaper source and conditions that count the same rows, when the caller has one.
    func page<T>(
        columns: String, from: String, where conditions: SQLConditions, order: String, page: PageRequest,
        count: (from: String, where: SQLConditions)? = nil, map: ([PostgresRandomAccessRow]) async throws -> [T]
    ) async throws -> Paged<T> {
        var binds = PGBinds()
        let predicate = binds.render(conditions)
        var countBinds = PGBinds()
        let countPredicate = countBinds.render(count?.where ?? conditions)
        let limit = binds.add(.int(Int64(page.limit)))
        let offset = binds.add(.int(Int64(page.offset)))
        async let counted = fetch(
            countBinds.query("SELECT count(*) AS n FROM \(count?.from ?? from) WHERE \(countPredicate)"))
        async let rows = fetch(
            binds.query(
                "SELECT \(columns) FROM \(from) WHERE \(predicate) ORDER BY \(order) LIMIT \(limit) OFFSET \(offset)"))
        let (countRows, pageRows) = try await (counted, rows)
        let total = try countRows.first?.value("n", as: Int.self) ?? 0
        return Paged(items: try await map(pageRows), totalItems: total, page: page)
    }
}

extension PGBinds {
    /// `conditions` joined with AND (`true` when there are none), their `?` replaced by this statement's
    /// placeholders.
    mutating func render(_ conditions: SQLConditions) -> String {
        guard !conditions.clauses.isEmpty else { return "true" }
        return bind(conditions.clauses.joined(separator: " AND "), conditions.values)
    }

    /// `sql` with each `?` replaced by the placeholder of the next of `values` (bound here).
    mutating func bind(_ sql: String, _ values: [SQLValue]) -> String {
        var out = ""
        var values = values.makeIterator()
        for c in sql {
            if c == "?", let value = values.next() { out += add(PGValue(value)) } else { out.append(c) }
        }
        return out
    }
}

extension PGValue {
    init(_ value: SQLValue) {
        switch value {
        case .text(let v): self = .text(v)
        case .int(let v): self = .int(v)
        case .double(let v): self = .double(v)
        case .bool(let v): self = .bool(v)
        }
    }
}

extension Session {
    /// A row of `id, created_at, environment`.
    init(pg r: PostgresRandomAccessRow) throws {
        self.init(
            id: try r.value("id"), createdAt: Timestamp(microseconds: try r.value("created_at")),
            environment: try r.value("environment"))
    }
}
