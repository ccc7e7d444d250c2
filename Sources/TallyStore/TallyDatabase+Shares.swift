import GRDB
import TallyCore
import TallyStoreAPI

/// Shared calls (schema 0022): a call whose metadata names `tenantShares` is stored with `shared = 1` and one
/// `observation_share` row per tenant; the triggers count its figures through those rows.
extension TallyDatabase {
    /// The shares `o` is stored with (empty: not shared). Metadata that names shares wrongly was refused when the
    /// event arrived (`IngestSession.validated`); a row stored before that check counts as unshared.
    static func shares(of o: Observation, totals: Observation.Totals) -> [TenantShares.Share] {
        o.storedShares(totals: totals)
    }

    /// The stored shares of one call, in tenant order.
    static func storedShares(_ db: Database, projectID: String, observationID: String) throws -> [TenantShares.Share] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT * FROM observation_share WHERE project_id = ? AND observation_id = ? ORDER BY tenant"),
            arguments: [projectID, observationID]
        ).map { r in
            TenantShares.Share(
                tenant: r["tenant"], calls: r["n"], inputTokens: r["input_tokens"], outputTokens: r["output_tokens"],
                totalTokens: r["total_tokens"], cacheReadTokens: r["cache_read_tokens"],
                cacheWriteTokens: r["cache_write_tokens"], reasoningTokens: r["reasoning_tokens"],
                inputCostNanos: r["input_cost_nanos"], outputCostNanos: r["output_cost_nanos"],
                totalCostNanos: r["total_cost_nanos"], savingsNanos: r["savings_nanos"])
        }
    }

    /// Inserts a call's shares (after the call is stored with `shared = 1`: the insert trigger counts each).
    static func insertShares(_ shares: [TenantShares.Share], projectID: String, observationID: String, _ db: Database)
        throws
    {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO observation_share VALUES (\(SQLFilter.marks(14)))")
        for s in shares {
            try statement.execute(arguments: [
                projectID, observationID, s.tenant, s.calls, s.inputTokens, s.outputTokens, s.totalTokens,
                s.cacheReadTokens, s.cacheWriteTokens, s.reasoningTokens, s.inputCostNanos, s.outputCostNanos,
                s.totalCostNanos, s.savingsNanos,
            ])
        }
    }

    /// Deletes a call's shares while the call still holds the columns they were counted under.
    static func deleteShares(projectID: String, observationID: String, _ db: Database) throws {
        try db.cachedStatement(sql: "DELETE FROM observation_share WHERE project_id = ? AND observation_id = ?")
            .execute(arguments: [projectID, observationID])
    }
}
