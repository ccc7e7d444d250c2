import TallyCore
import TallyStoreAPI

/// SQL fragments both stores spell the same way (SQLite and PostgreSQL accept them as they are).
public enum SharedSQL {
    /// An observation level column as its severity rank (`ObservationLevel.rank`).
    public static func levelRank(_ column: String) -> String {
        "CASE \(column) "
            + ObservationLevel.allCases.map { "WHEN '\($0.rawValue)' THEN \($0.rank) " }.joined()
            + "ELSE 0 END"
    }

    /// The observation types that are model calls (generations and embeddings), as a SQL list.
    public static let modelCallTypes = "('GENERATION', 'EMBEDDING')"

    /// `SET` of a trace's totals columns (schema/sqlite 0011 and 0029, schema/postgres 0002 and 0014) from its
    /// observations, for `UPDATE trace AS t SET …`: count, token and cost sums, first start to last end (or start),
    /// most severe level (DEFAULT without observations), the model calls, and the most observations of one name among
    /// the others (tools, spans, …: the agent-loop finder's screen). `observations` narrows the observations counted:
    /// a SQL condition on the alias it is given.
    public static func setTraceTotals(observations condition: ((String) -> String)? = nil) -> String {
        func narrowed(_ alias: String) -> String { condition.map { " AND \($0(alias))" } ?? "" }
        return """
            (observation_count, input_tokens, output_tokens, total_tokens, total_cost_nanos, duration_micros,
                max_level, call_count, step_repeat) = (
                SELECT count(*), coalesce(sum(x.input_tokens), 0), coalesce(sum(x.output_tokens), 0),
                    coalesce(sum(x.total_tokens), 0), coalesce(sum(x.total_cost_nanos), 0),
                    coalesce(max(coalesce(x.end_time, x.start_time)) - min(x.start_time), 0),
                    coalesce(max(\(levelRank("x.level"))), 1),
                    coalesce(sum(CASE WHEN x.type IN \(modelCallTypes) THEN 1 ELSE 0 END), 0),
                    (SELECT coalesce(max(r.n), 0) FROM (
                        SELECT count(*) AS n FROM observation y WHERE y.project_id = t.project_id AND y.trace_id = t.id
                            AND y.type NOT IN \(modelCallTypes) AND y.name IS NOT NULL\(narrowed("y"))
                        GROUP BY y.name) r)
                FROM observation x WHERE x.project_id = t.project_id AND x.trace_id = t.id\(narrowed("x")))
            """
    }
}
