import Foundation
import TallyCore
import TallyStoreAPI

/// A value bound to a `?` of a shared SQL fragment.
public enum SQLValue: Sendable, Hashable {
    case text(String?)
    case int(Int64?)
    case double(Double?)
    case bool(Bool)
}

/// WHERE conditions both stores spell the same way: each clause marks its values with `?` (one per value, in
/// order; no other `?` in the text) and each store binds them its own way (SQLite `?`, PostgreSQL `$n`). Values never
/// enter the SQL text.
public struct SQLConditions: Sendable {
    public private(set) var clauses: [String] = []
    public private(set) var values: [SQLValue] = []

    public init() {}

    public mutating func add(_ clause: String, _ values: SQLValue...) {
        add(clause, values)
    }

    public mutating func add(_ clause: String, _ values: [SQLValue]) {
        clauses.append(clause)
        self.values += values
    }

    /// Every clause of `other` too (its values after these).
    public mutating func add(_ other: SQLConditions) {
        clauses += other.clauses
        values += other.values
    }

    /// `column IN (?, …)` for a non-empty list; nothing for an empty one.
    public mutating func any(_ column: String, _ values: [String]) {
        any(of: [column], values)
    }

    /// `(a IN (…) OR b IN (…))`: some of `columns` holds one of `values`; nothing for an empty list.
    public mutating func any(of columns: [String], _ values: [String]) {
        guard !values.isEmpty else { return }
        let marks = Array(repeating: "?", count: values.count).joined(separator: ", ")
        let clause = columns.map { "\($0) IN (\(marks))" }.joined(separator: " OR ")
        clauses.append(columns.count == 1 ? clause : "(\(clause))")
        for _ in columns { self.values += values.map { .text($0) } }
    }
}

extension SQLConditions {
    /// Keyset paging of a list ordered by `time DESC, id DESC`: the rows after `cursor` (its key a µs time).
    public mutating func after(_ cursor: ListCursor?, time: String, id: String) throws {
        guard let cursor else { return }
        guard case .int(let t) = cursor.key else { throw AnalyticsError.invalid("cursor: not a cursor of this list") }
        keyset(column: time, ascending: false, key: .int(t), tie: id, tieAscending: false, after: cursor.id)
    }

    /// The rows strictly after (`key`, `after`) in the order `column` then `tie`. Spelled `column ≥ key AND
    /// (column > key OR tie > after)` (for an ascending order) rather than `column > key OR (column = key AND …)`:
    /// with bound parameters SQLite bounds an index range only with the first form; the second scans from the
    /// start of the index, so a page deep in a list cost what reading every earlier row does.
    public mutating func keyset(
        column: String, ascending: Bool, key: SQLValue, tie: String, tieAscending: Bool, after: String
    ) {
        let op = ascending ? ">" : "<"
        add(
            "\(column) \(op)= ? AND (\(column) \(op) ? OR \(tie) \(tieAscending ? ">" : "<") ?)", key, key,
            .text(after))
    }
}

/// The filters of the public read API's lists, defined once for both stores. Each names its tables' aliases.
public enum ReadFilters {
    /// A trace list over `trace t`, without its project and tags (the store adds those: tags drive the query).
    public static func trace(_ q: TraceQuery) -> SQLConditions {
        var f = SQLConditions()
        if let v = q.userID { f.add("t.user_id = ?", .text(v)) }
        if let v = q.name { f.add("t.name = ?", .text(v)) }
        if let v = q.sessionID { f.add("t.session_id = ?", .text(v)) }
        if let v = q.from { f.add("t.timestamp >= ?", .int(v.microseconds)) }
        if let v = q.to { f.add("t.timestamp < ?", .int(v.microseconds)) }
        if let v = q.version { f.add("t.version = ?", .text(v)) }
        if let v = q.release { f.add("t.release = ?", .text(v)) }
        if let v = q.tenant { f.add("t.tenant = ?", .text(v)) }
        f.any("t.environment", q.environments)
        return f
    }

    /// FROM clause of a trace list (`trace t`) that must carry every one of `tags`; the time column to order by and
    /// the id that breaks ties in the order of the driving index (timestamp DESC, id ASC: no sort step). With tags,
    /// the first tag drives the query from its (project, tag, timestamp) index: a tenant's few thousand traces,
    /// newest first, instead of every trace of the project. Further tags must also be present.
    public static func traceSource(tags: [String], projectID: String, to f: inout SQLConditions) -> (
        from: String, timestamp: String, id: String
    ) {
        let tags = Array(Set(tags)).sorted()
        guard let first = tags.first else { return ("trace t", "t.timestamp", "t.id") }
        f.add("g0.project_id = ? AND g0.tag = ?", .text(projectID), .text(first))
        for tag in tags.dropFirst() {
            f.add(
                "g0.trace_id IN (SELECT trace_id FROM trace_tag WHERE project_id = ? AND tag = ?)", .text(projectID),
                .text(tag))
        }
        return (
            "trace_tag g0 JOIN trace t ON t.project_id = g0.project_id AND t.id = g0.trace_id", "g0.timestamp",
            "g0.trace_id"
        )
    }

    /// The trace column a trace list orders by (`timestamp`: the store's time column, the tag index's when tags
    /// drive the query).
    public static func traceOrderColumn(_ field: TraceQuery.OrderField, timestamp: String) -> String {
        switch field {
        case .id: "t.id"
        case .timestamp: timestamp
        case .name: "t.name"
        case .userId: "t.user_id"
        case .release: "t.release"
        case .version: "t.version"
        case .public: "t.public"
        case .bookmarked: "t.bookmarked"
        case .sessionId: "t.session_id"
        }
    }

    /// An observation list over `observation o` (`joined`: joined with its `trace t`), its project and the query's
    /// Langfuse `filters` included (those need the join: v2 lists only). Throws `AnalyticsError.invalid` for a
    /// filter it cannot answer.
    public static func observation(projectID: String, _ q: ObservationQuery, joined: Bool, dialect: SQLDialect)
        throws -> SQLConditions
    {
        var f = observation(projectID: projectID, q, joined: joined)
        guard !q.filters.isEmpty else { return f }
        guard joined else { throw AnalyticsError.invalid("filter is answered by GET /api/public/v2/observations") }
        let view = MetricsView.observationList(dialect)
        for (i, condition) in q.filters.enumerated() {
            try MetricsSQL.addFilter(condition, index: i, view: view, projectID: projectID, dialect: dialect, to: &f)
        }
        return f
    }

    /// An observation list over `observation o` (`joined`: joined with its `trace t`), its project included,
    /// without the query's `filters`.
    static func observation(projectID: String, _ q: ObservationQuery, joined: Bool) -> SQLConditions {
        var f = SQLConditions()
        f.add("o.project_id = ?", .text(projectID))
        if let v = q.name { f.add("o.name = ?", .text(v)) }
        if let v = q.type { f.add("o.type = ?", .text(v.rawValue)) }
        if let v = q.traceID { f.add("o.trace_id = ?", .text(v)) }
        if let v = q.level { f.add("o.level = ?", .text(v.rawValue)) }
        if let v = q.parentObservationID {
            // An empty id asks for observations without a parent, as Langfuse's v2 list reads it.
            if v.isEmpty {
                f.add("o.parent_observation_id IS NULL")
            } else {
                f.add("o.parent_observation_id = ?", .text(v))
            }
        }
        if let v = q.isRoot { f.add(v ? "o.parent_observation_id IS NULL" : "o.parent_observation_id IS NOT NULL") }
        if let v = q.fromStartTime { f.add("o.start_time >= ?", .int(v.microseconds)) }
        if let v = q.toStartTime { f.add("o.start_time < ?", .int(v.microseconds)) }
        if let v = q.version { f.add("o.version = ?", .text(v)) }
        for (column, value) in [("user_id", q.userID), ("session_id", q.sessionID)] {
            guard let value else { continue }
            f.add(
                joined
                    ? "t.\(column) = ?"
                    : "EXISTS (SELECT 1 FROM trace t WHERE t.project_id = o.project_id AND t.id = o.trace_id "
                        + "AND t.\(column) = ?)", .text(value))
        }
        f.any("o.environment", q.environments)
        return f
    }

    /// A score list over `score s LEFT JOIN trace t`, its project included.
    public static func score(projectID: String, _ q: ScoreQuery) -> SQLConditions {
        var f = SQLConditions()
        f.add("s.project_id = ?", .text(projectID))
        if let v = q.userID { f.add("t.user_id = ?", .text(v)) }
        if let v = q.from { f.add("s.timestamp >= ?", .int(v.microseconds)) }
        if let v = q.to { f.add("s.timestamp < ?", .int(v.microseconds)) }
        if let v = q.value { f.add("s.value \(q.comparison == .ne ? "<>" : q.comparison.rawValue) ?", .double(v)) }
        for tag in Set(q.traceTags).sorted() {
            f.add(
                "s.trace_id IN (SELECT trace_id FROM trace_tag WHERE project_id = ? AND tag = ?)", .text(projectID),
                .text(tag))
        }
        f.any("s.environment", q.environments)
        f.any("s.id", q.scoreIDs)
        f.any("s.trace_id", q.traceIDs)
        f.any("s.observation_id", q.observationIDs)
        f.any("s.session_id", q.sessionIDs)
        f.any("s.dataset_run_id", q.datasetRunIDs)
        f.any("s.name", q.names)
        f.any("s.source", q.sources.map(\.rawValue))
        f.any("s.data_type", q.dataTypes.map(\.rawValue))
        f.any("s.config_id", q.configIDs)
        f.any("s.queue_id", q.queueIDs)
        // Annotation authors are not recorded: a filter by author matches nothing.
        if !q.authorUserIDs.isEmpty { f.add("1 = 0") }
        if let v = q.valueMin { f.add("s.data_type = 'NUMERIC' AND s.value >= ?", .double(v)) }
        if let v = q.valueMax { f.add("s.data_type = 'NUMERIC' AND s.value <= ?", .double(v)) }
        if let v = q.valueText {
            if let number = Double(v), number.isFinite {
                f.add("(s.value = ? OR s.string_value = ?)", .double(number), .text(v))
            } else {
                f.add("s.string_value = ?", .text(v))
            }
        }
        return f
    }

    /// A session list over `session`, its project included.
    public static func session(projectID: String, _ q: SessionQuery) -> SQLConditions {
        var f = SQLConditions()
        f.add("project_id = ?", .text(projectID))
        if let v = q.from { f.add("created_at >= ?", .int(v.microseconds)) }
        if let v = q.to { f.add("created_at < ?", .int(v.microseconds)) }
        f.any("environment", q.environments)
        return f
    }

    /// A prompt list over `prompt p`, its project included. `hasTag` is how the store tests that `p.tags` holds the
    /// bound tag (one `?`).
    public static func prompt(projectID: String, _ q: PromptListQuery, hasTag: String) -> SQLConditions {
        var f = SQLConditions()
        f.add("p.project_id = ?", .text(projectID))
        if let v = q.name { f.add("p.name = ?", .text(v)) }
        if let v = q.tag { f.add(hasTag, .text(v)) }
        if let v = q.fromUpdatedAt { f.add("p.updated_at >= ?", .int(v.microseconds)) }
        if let v = q.toUpdatedAt { f.add("p.updated_at < ?", .int(v.microseconds)) }
        if let v = q.label {
            if v == PromptInput.latest {
                f.add(
                    "p.version = (SELECT max(x.version) FROM prompt x WHERE x.project_id = p.project_id "
                        + "AND x.name = p.name)")
            } else {
                f.add(
                    "EXISTS (SELECT 1 FROM prompt_label l WHERE l.project_id = p.project_id AND l.name = p.name "
                        + "AND l.version = p.version AND l.label = ?)", .text(v))
            }
        }
        return f
    }

    /// The UI's trace list over `trace t`, its project included, without tags (the store adds those) and keyset.
    /// `perTrace` is how the store spells `observation x` in a per-trace subquery (SQLite names its index);
    /// `like` its case-insensitive LIKE for ASCII (SQLite `LIKE`, PostgreSQL `ILIKE`).
    public static func traceList(
        projectID: String, _ q: TraceListQuery, perTrace: String = "observation x", like: String = "LIKE"
    ) -> SQLConditions {
        var f = SQLConditions()
        f.add("t.project_id = ?", .text(projectID))
        if let v = q.from { f.add("t.timestamp >= ?", .int(v.microseconds)) }
        if let v = q.to { f.add("t.timestamp < ?", .int(v.microseconds)) }
        if let v = q.tenant { f.add("t.tenant = ?", .text(v)) }
        if let v = q.feature { f.add("t.feature = ?", .text(v)) }
        if let v = q.userID { f.add("t.user_id = ?", .text(v)) }
        if let v = q.sessionID { f.add("t.session_id = ?", .text(v)) }
        f.any("t.environment", q.environments)
        if let v = q.nameContains, !v.isEmpty {
            let escaped = v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_")
            f.add("t.name \(like) ? ESCAPE '\\'", .text("%\(escaped)%"))
        }
        if let name = q.promptName {
            // Driven from the (project, prompt, version, start) index: the prompt's traces, not every trace.
            if let version = q.promptVersion {
                f.add(
                    "t.id IN (SELECT trace_id FROM observation WHERE project_id = ? AND prompt_name = ? "
                        + "AND prompt_version = ?)", .text(projectID), .text(name), .int(Int64(version)))
            } else {
                f.add(
                    "t.id IN (SELECT trace_id FROM observation WHERE project_id = ? AND prompt_name = ?)",
                    .text(projectID), .text(name))
            }
        }
        if let v = q.model {
            f.add(
                "EXISTS (SELECT 1 FROM \(perTrace) WHERE x.project_id = t.project_id AND x.trace_id = t.id "
                    + "AND (x.model = ? OR x.response_model = ?))", .text(v), .text(v))
        }
        if let v = q.level {
            f.add(
                "EXISTS (SELECT 1 FROM \(perTrace) WHERE x.project_id = t.project_id AND x.trace_id = t.id "
                    + "AND x.level = ?)", .text(v.rawValue))
        }
        return f
    }

    /// The trace list's sort column (`timestamp`: the store's time column); the per-trace totals are columns of the
    /// trace row, each with an index for the unfiltered list.
    public static func traceListSortColumn(_ sort: TraceListQuery.Sort, timestamp: String) -> String {
        switch sort {
        case .timestamp: timestamp
        case .name: "coalesce(t.name, '')"
        case .totalCost: "t.total_cost_nanos"
        case .latency: "t.duration_micros"
        case .totalTokens: "t.total_tokens"
        }
    }
}

extension SQLValue {
    /// A list cursor's sort key (an integer or a text; anything else binds NULL).
    public init(cursorKey: JSONValue) {
        switch cursorKey {
        case .int(let v): self = .int(v)
        case .string(let v): self = .text(v)
        default: self = .text(nil)
        }
    }
}
