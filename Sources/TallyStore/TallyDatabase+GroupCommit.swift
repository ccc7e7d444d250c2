import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

/// The transactions behind `IngestQueue`.
extension TallyDatabase {
    /// Commits `batches` and returns, per batch, its per-event results or the error that kept it from committing.
    ///
    /// Several batches go into one transaction first. Should that fail (a database error in any event), each batch
    /// is committed alone, so one request's bad event never fails another request.
    static func commit(
        _ batches: [IngestBatch], writer: DatabasePool, spend: SpendObserver
    ) async -> [Result<[Result<Void, IngestionError>], any Error>] {
        if batches.count > 1 {
            do {
                return try await writer.write { db in try applyGrouped(batches, spend: spend, db) }.map { .success($0) }
            } catch {
                // Fall through: each batch alone, with per-event isolation.
            }
        }
        var outcomes: [Result<[Result<Void, IngestionError>], any Error>] = []
        for batch in batches {
            do {
                outcomes.append(.success(try await commitAlone(batch, writer: writer, spend: spend)))
            } catch {
                outcomes.append(.failure(error))
            }
        }
        return outcomes
    }

    /// One batch: first in one transaction; if a database error fails it, again with a savepoint per event so only
    /// the failing events are lost. A commit failure fails there again and is thrown (nothing was written).
    static func commitAlone(
        _ batch: IngestBatch, writer: DatabasePool, spend: SpendObserver
    ) async throws -> [Result<Void, IngestionError>] {
        do {
            return try await writer.write { db in try applyGrouped([batch], spend: spend, db)[0] }
        } catch {
            return try await writer.write { db in
                let session = IngestSession(
                    db, projectID: batch.projectID, rules: batch.rules, pricing: batch.pricing, now: batch.now,
                    deferTraceWrites: false)
                var results = [Result<Void, IngestionError>](repeating: .success(()), count: batch.events.count)
                for index in IngestionEvent.applicationOrder(batch.events) {
                    let before = session.snapshot()
                    do {
                        try db.inSavepoint {
                            try session.apply(batch.events[index], prepared: batch.prepared[index])
                            return .commit
                        }
                    } catch {
                        session.restore(before)  // the rolled-back event's trace writes must not stay cached
                        results[index] = .failure(IngestionError(classifying: error))
                    }
                }
                try session.finish()
                return results
            }
        }
    }

    /// The fast path, inside the caller's transaction: one session per project (a trace named by several requests is
    /// read once and written once), rollup deltas applied grouped at the end. An event refused before it changed
    /// anything (`IngestionError`) is reported alone; any other error is thrown and the transaction rolls back.
    static func applyGrouped(
        _ batches: [IngestBatch], spend: SpendObserver, _ db: Database
    ) throws -> [[Result<Void, IngestionError>]] {
        try RollupDeltas.defer(db)
        var sessions: [String: IngestSession] = [:]
        var order: [IngestSession] = []
        var results: [[Result<Void, IngestionError>]] = []
        for batch in batches {
            let session: IngestSession
            if let existing = sessions[batch.projectID], existing.rules == batch.rules {
                session = existing
            } else {
                if let existing = sessions[batch.projectID] { try existing.finish() }  // other rules: write it first
                session = IngestSession(
                    db, projectID: batch.projectID, rules: batch.rules, pricing: batch.pricing, now: batch.now,
                    deferTraceWrites: true)
                sessions[batch.projectID] = session
                order.append(session)
            }
            var batchResults = [Result<Void, IngestionError>](repeating: .success(()), count: batch.events.count)
            for index in IngestionEvent.applicationOrder(batch.events) {
                do {
                    try session.apply(batch.events[index], prepared: batch.prepared[index])
                } catch let refusal as IngestionError {
                    batchResults[index] = .failure(refusal)
                }
            }
            results.append(batchResults)
        }
        for session in order { try session.finish() }
        try spend.report(db)
        try RollupDeltas.apply(db)
        return results
    }
}

/// Rollup maintenance grouped per transaction (see `schema/sqlite/0010_group_commit_rollups.sql`): while deferred, the
/// observation triggers only stage signed delta rows in `rollup_delta`; `apply` folds them into each rollup with one
/// upsert per touched rollup row. Exactness is the triggers' own: the same delta rows, summed in SQL.
enum RollupDeltas {
    static func `defer`(_ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE rollup_control SET deferred = 1 WHERE id = 1").execute()
    }

    /// Applies and clears the staged deltas and ends the deferral. Must run before the transaction commits.
    static func apply(_ db: Database) throws {
        for sql in statements + metricStatements { try db.cachedStatement(sql: sql).execute() }
        try db.cachedStatement(sql: "DELETE FROM rollup_delta").execute()
        try db.cachedStatement(sql: "UPDATE rollup_control SET deferred = 0 WHERE id = 1").execute()
    }

    /// The measures summed besides `n`; a rollup's columns in table order follow its key columns.
    static let measures = [
        "errors", "input_tokens", "output_tokens", "total_tokens", "input_cost_nanos", "output_cost_nanos",
        "total_cost_nanos",
    ]

    /// One grouped upsert: `keys` are `rollup_delta` expressions in the rollup's key-column order.
    static func upsert(table: String, keys: [String], measures: [String], where condition: String = "true") -> String {
        let sums = ["sum(n)"] + measures.map { "sum(\($0))" }
        let updates = (["n"] + measures).map { "\($0) = \($0) + excluded.\($0)" }
        return """
            INSERT INTO \(table) SELECT \((keys + sums).joined(separator: ", ")) FROM rollup_delta
            WHERE \(condition) GROUP BY \(keys.joined(separator: ", "))
            ON CONFLICT DO UPDATE SET \(updates.joined(separator: ", "))
            """
    }

    /// How a model-call counter row (schema 0017) takes a contribution: every measure added.
    static let metricUpsert = """
        ON CONFLICT DO UPDATE SET n = n + excluded.n, input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens,
            cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
            cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
            reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, cost_nanos = cost_nanos + excluded.cost_nanos
        """
    static let latencyUpsert =
        "ON CONFLICT DO UPDATE SET n = n + excluded.n, duration_seconds = duration_seconds + excluded.duration_seconds"

    /// The model-call counters' staged deltas (`metric_delta`, summed by its views) folded and cleared: what the
    /// `metric_delta_apply` trigger does for writers that do not defer.
    static let metricStatements = [
        "INSERT INTO rollup_metric SELECT * FROM metric_delta_sums WHERE true \(metricUpsert)",
        "INSERT INTO rollup_metric_latency SELECT * FROM metric_delta_latency WHERE true \(latencyUpsert)",
        "DELETE FROM metric_delta",
    ]

    static let statements = [
        upsert(
            table: "rollup_usage_day",
            keys: ["project_id", "day", "environment", "tenant", "feature", "type", "model", "response_model"],
            measures: measures),
        upsert(table: "rollup_tenant_day", keys: ["project_id", "day", "environment", "tenant", "feature"], measures: measures),
        upsert(table: "rollup_tenant_total_day", keys: ["project_id", "day", "environment", "tenant"], measures: measures),
        upsert(table: "rollup_tenant_hour", keys: ["project_id", "hour", "environment", "tenant", "feature"], measures: measures),
        upsert(table: "rollup_tenant_total_hour", keys: ["project_id", "hour", "environment", "tenant"], measures: measures),
        upsert(
            table: "rollup_prompt_day", keys: ["project_id", "prompt_name", "prompt_version", "day", "environment"],
            measures: measures, where: "prompt_name IS NOT NULL"),
        upsert(
            table: "rollup_prompt_latency_day",
            keys: ["project_id", "prompt_name", "prompt_version", "day", "environment", "latency_bucket"], measures: [],
            where: "prompt_name IS NOT NULL AND latency_bucket IS NOT NULL"),
    ]
}
