import Foundation
import GRDB
import TallyCore
import TallySQL
import TallyStoreAPI

/// A WHERE clause built from parameterised fragments only: values never enter the SQL text.
struct SQLFilter: @unchecked Sendable {  // a value built before a read and never mutated inside it
    var clauses: [String] = []
    var arguments = StatementArguments()

    mutating func add(_ clause: String, _ values: [(any DatabaseValueConvertible)?] = []) {
        clauses.append(clause)
        for v in values { _ = arguments.append(contentsOf: [v]) }
    }

    /// `?, ?, …`: `count` placeholders for an `IN (…)` list.
    static func marks(_ count: Int) -> String { Array(repeating: "?", count: count).joined(separator: ", ") }

    /// `column IN (?, ?, …)` for a non-empty list; nothing for an empty one.
    mutating func any(_ column: String, _ values: [String]) {
        any(of: [column], values)
    }

    /// `(a IN (…) OR b IN (…))`: some of `columns` holds one of `values`; nothing for an empty list.
    mutating func any(of columns: [String], _ values: [String]) {
        guard !values.isEmpty else { return }
        let marks = Self.marks(values.count)
        let clause = columns.map { "\($0) IN (\(marks))" }.joined(separator: " OR ")
        add(columns.count == 1 ? clause : "(\(clause))", Array(repeating: values, count: columns.count).flatMap { $0 })
    }

    /// Adds shared conditions (TallyStoreAPI), their `?` bound in order.
    mutating func add(_ conditions: SQLConditions) {
        clauses += conditions.clauses
        for v in conditions.values { _ = arguments.append(contentsOf: [v.databaseValue]) }
    }

    var sql: String { clauses.isEmpty ? "1" : clauses.joined(separator: " AND ") }

    /// Keyset paging of a list ordered by `time DESC, id DESC` (`SQLConditions.after`).
    mutating func after(_ cursor: ListCursor?, time: String, id: String) throws {
        var c = SQLConditions()
        try c.after(cursor, time: time, id: id)
        add(c)
    }

    /// One page of `SELECT <columns> FROM <from> WHERE <filter> ORDER BY <order>` plus the total count, counted over
    /// `count` instead when given (a cheaper source selecting the same rows).
    func page<T>(
        _ db: Database, columns: String, from: String, order: String, page: PageRequest,
        count: (from: String, filter: SQLFilter)? = nil, map: (Row) -> T
    ) throws -> (items: [T], total: Int) {
        let (countFrom, countFilter) = count ?? (from, self)
        let total =
            try Int.fetchOne(
                db, sql: "SELECT count(*) FROM \(countFrom) WHERE \(countFilter.sql)", arguments: countFilter.arguments)
            ?? 0
        var args = arguments
        _ = args.append(contentsOf: [page.limit, page.offset])
        let rows = try Row.fetchAll(
            db, sql: "SELECT \(columns) FROM \(from) WHERE \(sql) ORDER BY \(order) LIMIT ? OFFSET ?", arguments: args)
        return (rows.map(map), total)
    }
}

extension TallyDatabase {
    // MARK: Traces

    /// `ReadFilters.traceSource` over a GRDB filter.
    static func traceSource(tags: [String], projectID: String, filter f: inout SQLFilter) -> (
        from: String, timestamp: String, id: String
    ) {
        var c = SQLConditions()
        let source = ReadFilters.traceSource(tags: tags, projectID: projectID, to: &c)
        f.add(c)
        return source
    }

    public func traces(projectID: String, query q: TraceQuery) async throws -> Paged<TraceSummary> {
        var f = SQLFilter()
        f.add(ReadFilters.trace(q))
        // Tags alone: the count reads the tag index only (the trace rows are not needed to count them).
        let tagsOnly = f.clauses.isEmpty && !q.tags.isEmpty
        f.add("t.project_id = ?", [projectID])
        let (from, timestamp, id) = Self.traceSource(tags: q.tags, projectID: projectID, filter: &f)
        var countFilter = SQLFilter()
        if tagsOnly { _ = Self.traceSource(tags: q.tags, projectID: projectID, filter: &countFilter) }
        let column = ReadFilters.traceOrderColumn(q.orderField, timestamp: timestamp)
        let direction = q.orderDirection == .asc ? "ASC" : "DESC"
        let order =
            q.orderField == .timestamp
            ? "\(column) \(direction), \(id) \(q.orderDirection == .asc ? "DESC" : "ASC")"
            : "\(column) \(direction), t.id \(direction)"
        let filter = f
        let count = tagsOnly ? (from: "trace_tag g0", filter: countFilter) : nil
        let source = from
        return try await boundedRead { db in
            let (rows, total) = try filter.page(
                db, columns: "t.*", from: source, order: order, page: q.page, count: count, map: { $0 })
            return Paged(
                items: try Self.summaries(db, projectID: projectID, rows: rows), totalItems: total, page: q.page)
        }
    }

    public func trace(projectID: String, id: String) async throws -> (TraceSummary, [Observation], [Score])? {
        try await writer.read { db in
            guard let row = try Self.fetchTraceRow(db, projectID: projectID, id: id) else { return nil }
            let summary = try Self.summaries(db, projectID: projectID, rows: [row])[0]
            let observations = try Row.fetchAll(
                db, sql: "SELECT * FROM observation WHERE project_id = ? AND trace_id = ? ORDER BY start_time, id",
                arguments: [projectID, id]
            ).map(Observation.init(row:))
            let scores = try Row.fetchAll(
                db,
                sql:
                    "SELECT * FROM score INDEXED BY score_trace WHERE project_id = ? AND trace_id = ? ORDER BY timestamp, id",
                arguments: [projectID, id]
            ).map(Score.init(row:))
            return (summary, observations, scores)
        }
    }

    /// Observation/score ids, latency and cost for a page of `trace` rows (all columns), in two grouped queries; the
    /// totals are read from the rows themselves.
    static func summaries(_ db: Database, projectID: String, rows: [Row]) throws -> [TraceSummary] {
        guard !rows.isEmpty else { return [] }
        let traces = rows.map(Trace.init(row:))
        let ids = traces.map(\.id)
        let placeholders = SQLFilter.marks(ids.count)
        var args = StatementArguments([projectID])
        _ = args.append(contentsOf: StatementArguments(ids))
        var observationIDs: [String: [String]] = [:]
        var scoreIDs: [String: [String]] = [:]
        for row in try Row.fetchAll(
            db,
            sql:
                "SELECT trace_id, id FROM observation INDEXED BY observation_trace WHERE project_id = ? AND trace_id IN (\(placeholders)) ORDER BY start_time, id",
            arguments: args)
        {
            observationIDs[row["trace_id"], default: []].append(row["id"])
        }
        for row in try Row.fetchAll(
            db,
            sql:
                "SELECT trace_id, id FROM score INDEXED BY score_trace WHERE project_id = ? AND trace_id IN (\(placeholders)) ORDER BY timestamp, id",
            arguments: args)
        {
            scoreIDs[row["trace_id"], default: []].append(row["id"])
        }
        return zip(traces, rows).map { t, row in
            TraceSummary(
                trace: t, observationIDs: observationIDs[t.id] ?? [], scoreIDs: scoreIDs[t.id] ?? [],
                totals: TraceTotals(traceRow: row))
        }
    }

    /// Deletes traces with their observations and scores in one transaction; returns how many traces existed.
    @discardableResult
    public func deleteTraces(projectID: String, ids: [String]) async throws -> Int {
        try await writer.write { db in try Self.deleteTraceRows(db, projectID: projectID, ids: ids) }
    }

    // MARK: Observations

    /// The WHERE clause of an observation list over `observation o` (`joined`: joined with its `trace t`).
    static func observationFilter(projectID: String, _ q: ObservationQuery, joined: Bool) throws -> SQLFilter {
        var f = SQLFilter()
        f.add(try ReadFilters.observation(projectID: projectID, q, joined: joined, dialect: .sqlite))
        return f
    }

    public func observations(projectID: String, query q: ObservationQuery) async throws -> Paged<Observation> {
        let filter = try Self.observationFilter(projectID: projectID, q, joined: false)
        return try await boundedRead { db in
            let (items, total) = try filter.page(
                db, columns: "o.*", from: "observation o", order: "o.start_time DESC, o.id", page: q.page,
                map: Observation.init(row:))
            return Paged(items: items, totalItems: total, page: q.page)
        }
    }

    /// Up to `limit` observations with their trace's fields, newest first (start time, then id, both descending),
    /// after `cursor` (the last item of the previous page: its start time in µs and its id). A read of the page
    /// costs what the first page's does.
    public func observationsAfter(
        projectID: String, query q: ObservationQuery, cursor: ListCursor?, limit: Int
    ) async throws -> [ObservationWithTrace] {
        var filter = try Self.observationFilter(projectID: projectID, q, joined: true)
        try filter.after(cursor, time: "o.start_time", id: "o.id")
        let where_ = filter
        return try await boundedRead { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT o.*, t.name AS t_name, t.user_id AS t_user_id, t.session_id AS t_session_id,
                        t.release AS t_release, t.tags AS t_tags, t.bookmarked AS t_bookmarked, t.public AS t_public
                    FROM observation o JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id
                    WHERE \(where_.sql) ORDER BY o.start_time DESC, o.id DESC LIMIT ?
                    """, arguments: where_.arguments + [limit]
            ).map { row in
                ObservationWithTrace(
                    observation: Observation(row: row), traceName: row["t_name"], userID: row["t_user_id"],
                    sessionID: row["t_session_id"], release: row["t_release"],
                    tags: Rows.strings(row["t_tags"]), bookmarked: row["t_bookmarked"], isPublic: row["t_public"])
            }
        }
    }

    /// Up to `limit` scores, newest first (timestamp, then id, both descending), after `cursor` (the last item of
    /// the previous page: its timestamp in µs and its id).
    public func scoresAfter(
        projectID: String, query q: ScoreQuery, cursor: ListCursor?, limit: Int
    ) async throws -> [Score] {
        var filter = Self.scoreFilter(projectID: projectID, q)
        try filter.after(cursor, time: "s.timestamp", id: "s.id")
        let where_ = filter
        return try await boundedRead { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.* FROM score s LEFT JOIN trace t ON t.project_id = s.project_id AND t.id = s.trace_id
                    WHERE \(where_.sql) ORDER BY s.timestamp DESC, s.id DESC LIMIT ?
                    """, arguments: where_.arguments + [limit]
            ).map(Score.init(row:))
        }
    }

    public func observation(projectID: String, id: String) async throws -> Observation? {
        try await writer.read { db in try Self.fetchObservation(db, projectID: projectID, id: id) }
    }

    // MARK: Sessions

    public func sessions(projectID: String, query q: SessionQuery) async throws -> Paged<Session> {
        var f = SQLFilter()
        f.add(ReadFilters.session(projectID: projectID, q))
        let filter = f
        return try await writer.read { db in
            let (items, total) = try filter.page(
                db, columns: "*", from: "session", order: "created_at DESC, id", page: q.page, map: Session.init(row:))
            return Paged(items: items, totalItems: total, page: q.page)
        }
    }

    /// A session with its traces (oldest first), or nil.
    public func session(projectID: String, id: String) async throws -> (Session, [TraceSummary])? {
        try await writer.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM session WHERE project_id = ? AND id = ?", arguments: [projectID, id])
            else { return nil }
            let session = Session(row: row)
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM trace WHERE project_id = ? AND session_id = ? ORDER BY timestamp, id",
                arguments: [projectID, id])
            return (session, try Self.summaries(db, projectID: projectID, rows: rows))
        }
    }

    // MARK: Scores

    /// The WHERE clause of a score list over `score s LEFT JOIN trace t`.
    static func scoreFilter(projectID: String, _ q: ScoreQuery) -> SQLFilter {
        var f = SQLFilter()
        f.add(ReadFilters.score(projectID: projectID, q))
        return f
    }

    public func scores(projectID: String, query q: ScoreQuery) async throws -> Paged<ScoreWithTrace> {
        let from = "score s LEFT JOIN trace t ON t.project_id = s.project_id AND t.id = s.trace_id"
        let filter = Self.scoreFilter(projectID: projectID, q)
        return try await boundedRead { db in
            let (items, total) = try filter.page(
                db,
                columns: """
                    s.*, t.user_id AS t_user_id, t.tags AS t_tags, t.environment AS t_environment,
                    t.session_id AS t_session_id, t.id IS NOT NULL AS has_trace
                    """, from: from, order: "s.timestamp DESC, s.id", page: q.page
            ) { row in
                let hasTrace: Bool = row["has_trace"]
                return ScoreWithTrace(
                    score: Score(row: row), traceUserID: row["t_user_id"],
                    traceTags: hasTrace
                        ? (Rows.jsonValue(row["t_tags"])?.arrayValue ?? []).compactMap(\.stringValue) : nil,
                    traceEnvironment: row["t_environment"], traceSessionID: row["t_session_id"])
            }
            return Paged(items: items, totalItems: total, page: q.page)
        }
    }

    public func score(projectID: String, id: String) async throws -> Score? {
        try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM score WHERE project_id = ? AND id = ?", arguments: [projectID, id]
            )
            .map(Score.init(row:))
        }
    }

    @discardableResult
    public func deleteScore(projectID: String, id: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM score WHERE project_id = ? AND id = ?", arguments: [projectID, id])
            return db.changesCount > 0
        }
    }
}

extension TraceTotals {
    /// The totals columns of a `trace` row (schema 0011, kept by `refreshTraceTotals`); nil for a trace without
    /// observations.
    init?(traceRow row: Row) {
        let count: Int = row["observation_count"]
        guard count > 0 else { return nil }
        let levels: [ObservationLevel] = [.debug, .default, .warning, .error]
        self.init(
            observations: count, spanMicros: row["duration_micros"], inputTokens: row["input_tokens"],
            outputTokens: row["output_tokens"], totalTokens: row["total_tokens"],
            totalCostNanos: row["total_cost_nanos"], level: levels[min(3, max(0, row["max_level"] as Int))])
    }
}

extension SQLValue {
    var databaseValue: DatabaseValue {
        switch self {
        case .text(let v): v.databaseValue
        case .int(let v): v.databaseValue
        case .double(let v): v.databaseValue
        case .bool(let v): v.databaseValue
        }
    }
}
