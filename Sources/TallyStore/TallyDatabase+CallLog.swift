import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

extension TallyDatabase {
    /// Where committed observation ids are published (`CommitFeed`); the call log subscribes.
    public var commitFeed: CommitFeed { ingestQueue.commitFeed }

    /// The model calls (GENERATION and EMBEDDING) among `ids` as they are stored now, with their trace's user, in
    /// the order of `ids` (each once). `update`: the row existed before the write that named it (its creation is
    /// older than its last change).
    public func modelCalls(projectID: String, ids: [String]) async throws -> [ModelCall] {
        var seen = Set<String>()
        let unique = ids.filter { seen.insert($0).inserted }
        return try await writer.read { db in
            var out: [ModelCall] = []
            for chunk in stride(from: 0, to: unique.count, by: 500).map({ unique[$0..<min($0 + 500, unique.count)] }) {
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT o.*, t.user_id AS t_user_id FROM observation o
                        LEFT JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id
                        WHERE o.project_id = ? AND o.id IN (\(SQLFilter.marks(chunk.count)))
                            AND o.type IN ('GENERATION', 'EMBEDDING')
                        """, arguments: StatementArguments([projectID] + Array(chunk)))
                let byID = Dictionary(rows.map { ($0["id"] as String, $0) }, uniquingKeysWith: { a, _ in a })
                for id in chunk {
                    guard let row = byID[id] else { continue }
                    out.append(
                        ModelCall(
                            observation: Observation(row: row), userID: row["t_user_id"],
                            update: (row["created_at"] as Int64) != (row["updated_at"] as Int64)))
                }
            }
            return out
        }
    }
}
