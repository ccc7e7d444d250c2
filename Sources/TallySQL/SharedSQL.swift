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

    /// `SET` of a trace's totals columns (schema/sqlite 0011, schema/postgres 0002) from its observations, for
    /// `UPDATE trace AS t SET …`: count, token and cost sums, first start to last end (or start), most severe level
    /// (DEFAULT without observations). `observations` narrows the observations counted (a SQL condition on `x`).
    public static func setTraceTotals(observations condition: String? = nil) -> String {
        """
        (observation_count, input_tokens, output_tokens, total_tokens, total_cost_nanos, duration_micros,
            max_level) = (
            SELECT count(*), coalesce(sum(x.input_tokens), 0), coalesce(sum(x.output_tokens), 0),
                coalesce(sum(x.total_tokens), 0), coalesce(sum(x.total_cost_nanos), 0),
                coalesce(max(coalesce(x.end_time, x.start_time)) - min(x.start_time), 0),
                coalesce(max(\(levelRank("x.level"))), 1)
            FROM observation x WHERE x.project_id = t.project_id AND x.trace_id = t.id\(condition.map { " AND \($0)" } ?? ""))
        """
    }
}
