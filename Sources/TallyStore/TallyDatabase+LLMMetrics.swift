import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

extension TallyDatabase {
    /// The model-call counters of `projectID` (schema 0017), with the tenants, features and models beyond `limits`
    /// summed under `LLMMetrics.other`; ranked by spend in the UTC month of `now`. Reads a few rows per series, never
    /// the observations. Throws `LLMMetrics.Overflow` when a folded sum would leave Int64.
    public func llmMetrics(projectID: String, limits: LLMMetrics.Limits, now: Timestamp) async throws -> LLMMetrics {
        try await writer.read { db in
            var raw = LLMMetrics()
            // Lifetime spend per tenant, feature and model: the second ranking key (saturating: ranking only).
            var tenantSpend: [String: Int64] = [:]
            var featureSpend: [String: Int64] = [:]
            var modelSpend: [String: Int64] = [:]
            let rows = try Row.fetchCursor(
                db.cachedStatement(
                    sql: """
                        SELECT environment, tenant, feature, model, error, n, input_tokens, output_tokens,
                            cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos
                        FROM rollup_metric WHERE project_id = ?
                            AND (n != 0 OR input_tokens != 0 OR output_tokens != 0 OR cost_nanos != 0)
                        """), arguments: [projectID])
            while let row = try rows.next() {
                let key = LLMMetrics.SeriesKey(
                    environment: row[0], tenant: row[1], feature: row[2], model: row[3],
                    outcome: (row[4] as Int64) != 0 ? .error : .success)
                let sums = LLMMetrics.Sums(
                    requests: row[5], inputTokens: row[6], outputTokens: row[7], cacheReadTokens: row[8],
                    cacheWriteTokens: row[9], reasoningTokens: row[10], costNanos: row[11])
                raw.series[key] = sums
                tenantSpend[key.tenant, default: 0] = tenantSpend[key.tenant, default: 0].addingSaturating(
                    sums.costNanos)
                featureSpend[key.feature, default: 0] = featureSpend[key.feature, default: 0].addingSaturating(
                    sums.costNanos)
                modelSpend[key.model, default: 0] = modelSpend[key.model, default: 0].addingSaturating(sums.costNanos)
            }
            let latencyRows = try Row.fetchCursor(
                db.cachedStatement(
                    sql: """
                        SELECT environment, model, error, bucket, n, duration_seconds
                        FROM rollup_metric_latency WHERE project_id = ? AND n != 0
                        """), arguments: [projectID])
            while let row = try latencyRows.next() {
                let key = LLMMetrics.LatencyKey(
                    environment: row[0], model: row[1], outcome: (row[2] as Int64) != 0 ? .error : .success)
                let bucket: Int = row[3]
                var histogram = raw.latency[key] ?? LLMMetrics.Latency()
                guard histogram.counts.indices.contains(bucket) else { continue }  // the schema's CHECK
                histogram.counts[bucket] = row[4]
                histogram.sumSeconds += row[5] as Double
                raw.latency[key] = histogram
            }
            let monthStart = BudgetPeriod.monthStart(now)
            // This month's spend, read only for a dimension over its limit.
            /// nil: within the limit, every value keeps its series.
            func kept(_ lifetime: [String: Int64], limit: Int, sql: String) throws -> Set<String>? {
                guard lifetime.count - (lifetime[""] == nil ? 0 : 1) > limit else { return nil }
                var month: [String: Int64] = [:]
                for row in try Row.fetchAll(db.cachedStatement(sql: sql), arguments: [projectID, monthStart]) {
                    month[row[0]] = row[1]
                }
                return LLMMetrics.kept(
                    Dictionary(uniqueKeysWithValues: lifetime.map { ($0.key, (month[$0.key] ?? 0, $0.value)) }),
                    limit: limit)
            }
            let tenants = try kept(
                tenantSpend, limit: limits.tenants,
                sql: """
                    SELECT tenant, sum(total_cost_nanos) FROM rollup_tenant_total_day
                    WHERE project_id = ? AND day >= ? GROUP BY tenant
                    """)
            let features = try kept(
                featureSpend, limit: limits.features,
                sql: """
                    SELECT feature, sum(total_cost_nanos) FROM rollup_tenant_day
                    WHERE project_id = ? AND day >= ? GROUP BY feature
                    """)
            let models = try kept(
                modelSpend, limit: limits.models,
                sql: """
                    SELECT model, sum(total_cost_nanos) FROM rollup_usage_day
                    WHERE project_id = ? AND day >= ? GROUP BY model
                    """)
            guard tenants != nil || features != nil || models != nil else { return raw }
            return try raw.folded(
                tenants: tenants ?? Set(tenantSpend.keys), features: features ?? Set(featureSpend.keys),
                models: models ?? Set(modelSpend.keys))
        }
    }
}

extension TallyDatabase {
    public func healthFigures(projectID: String) async throws -> HealthFigures {
        var files: [String: Int64] = [:]
        for (name, suffix) in [("main", ""), ("wal", "-wal"), ("shm", "-shm")] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix)
            if let size = attributes?[.size] as? NSNumber { files[name] = size.int64Value }
        }
        let deliveries = try await writer.read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT status, count(*) FROM alert_delivery WHERE project_id = ? GROUP BY status"),
                arguments: [projectID]
            ).reduce(into: [String: Int64]()) { $0[$1[0]] = $1[1] }
        }
        return HealthFigures(fileBytes: files, alertDeliveries: deliveries)
    }
}

extension TallyDatabase {
    /// Events waiting for or in the ingest write.
    public func queuedEvents() async -> Int { await ingestQueue.queuedEvents }
}
