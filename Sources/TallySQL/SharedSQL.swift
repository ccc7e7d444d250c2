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
}
