import Foundation
import TallyCore
import TallyStoreAPI

/// Billing exports, invoice reconciliation and the model-call counters, written once over any `SQLReader`.
extension SQLReader {
    /// The billing export of `q`: model calls summed per group and bucket, ordered by bucket then group, scanned
    /// from `observation` with the breakdown's filters (an export reads every matching call once). Cache and
    /// reasoning tokens are summed from the usage keys `PriceKey` maps onto them (bound as values, so the list is
    /// the cost engine's own). A sum past Int64 fails the read instead of wrapping.
    public func sharedUsageExport(projectID: String, query q: UsageExportQuery) async throws -> [UsageRow] {
        guard let query = analytics.usageExport(q, projectID: projectID) else { return [] }
        return try await rows(query).map { row in
            var out = UsageRow(keys: (0..<q.dimensions.count).map { row.text("d\($0)") }, bucket: row.text("b"))
            out.calls = row.int("calls") ?? 0
            out.inputTokens = row.int("it") ?? 0
            out.outputTokens = row.int("ot") ?? 0
            out.cacheReadTokens = row.int("crt") ?? 0
            out.cacheWriteTokens = row.int("cwt") ?? 0
            out.reasoningTokens = row.int("rt") ?? 0
            out.costNanos = row.int("cn") ?? 0
            out.cacheSavingsNanos = row.int("sv") ?? 0
            out.errorCalls = row.int("ec") ?? 0
            out.errorCostNanos = row.int("ecn") ?? 0
            return out
        }
    }

    /// Metered model calls in [from, to) per tenant, requested model and provider (errors included: providers bill
    /// many failures), for reconciling an invoice. The provider is the one the call's metadata names
    /// (`CallLog.providerKeys`), else the provider of the built-in price it was priced with.
    public func sharedReconciliationUsage(projectID: String, from: Timestamp, to: Timestamp) async throws
        -> [Reconciliation.Usage]
    {
        let named = dialect.jsonText(CallLog.providerKeys.map { ("metadata", $0) })
        let query = SQLQuery(
            """
            SELECT coalesce(tenant, '') AS tenant, coalesce(model, '') AS model, priced_model_id,
                \(named.sql) AS provider, sum(n) AS calls, coalesce(sum(total_cost_nanos), 0) AS cost
            FROM \(AnalyticsSQL.callSource(perTenant: true)) c
            WHERE project_id = ? AND type IN \(SharedSQL.modelCallTypes) AND start_time >= ? AND start_time < ?
            GROUP BY 1, 2, 3, 4
            """, named.values + [.text(projectID), .int(from.microseconds), .int(to.microseconds)])
        // Rows that differ only in how the provider was found become one.
        var merged: [Reconciliation.Usage] = []
        var index: [String: Int] = [:]
        for row in try await rows(query) {
            let u = Reconciliation.Usage(
                tenant: row.text("tenant") ?? "", model: row.text("model") ?? "",
                provider: BuiltinPrices.provider(
                    named: row.text("provider"), pricedModelID: row.text("priced_model_id")),
                calls: row.int("calls") ?? 0, costNanos: row.int("cost") ?? 0)
            let key = [u.tenant, u.model, u.provider ?? "\u{0}"].joined(separator: "\u{1}")
            if let i = index[key] {
                merged[i].calls = merged[i].calls.addingSaturating(u.calls)
                merged[i].costNanos = merged[i].costNanos.addingSaturating(u.costNanos)
            } else {
                index[key] = merged.count
                merged.append(u)
            }
        }
        return merged
    }

    /// The model-call counters of `projectID` (rollup_metric, rollup_metric_latency), with the tenants, features
    /// and models beyond `limits` summed under `LLMMetrics.other`; ranked by spend in the UTC month of `now`. Reads a
    /// few rows per series, never the observations. Throws `LLMMetrics.Overflow` when a folded sum would leave Int64.
    public func sharedLLMMetrics(projectID: String, limits: LLMMetrics.Limits, now: Timestamp) async throws
        -> LLMMetrics
    {
        var raw = LLMMetrics()
        // Lifetime spend per tenant, feature and model: the second ranking key (saturating: ranking only).
        var tenantSpend: [String: Int64] = [:]
        var featureSpend: [String: Int64] = [:]
        var modelSpend: [String: Int64] = [:]
        for row in try await rows(
            SQLQuery(
                """
                SELECT environment, tenant, feature, model, error, n, input_tokens, output_tokens, cache_read_tokens,
                    cache_write_tokens, reasoning_tokens, cost_nanos
                FROM rollup_metric WHERE project_id = ?
                    AND (n != 0 OR input_tokens != 0 OR output_tokens != 0 OR cost_nanos != 0)
                """, [.text(projectID)]))
        {
            let key = LLMMetrics.SeriesKey(
                environment: row.text("environment") ?? "", tenant: row.text("tenant") ?? "",
                feature: row.text("feature") ?? "", model: row.text("model") ?? "",
                outcome: (row.int("error") ?? 0) != 0 ? .error : .success)
            let sums = LLMMetrics.Sums(
                requests: row.int("n") ?? 0, inputTokens: row.int("input_tokens") ?? 0,
                outputTokens: row.int("output_tokens") ?? 0, cacheReadTokens: row.int("cache_read_tokens") ?? 0,
                cacheWriteTokens: row.int("cache_write_tokens") ?? 0, reasoningTokens: row.int("reasoning_tokens") ?? 0,
                costNanos: row.int("cost_nanos") ?? 0)
            raw.series[key] = sums
            tenantSpend[key.tenant, default: 0] = tenantSpend[key.tenant, default: 0].addingSaturating(sums.costNanos)
            featureSpend[key.feature, default: 0] = featureSpend[key.feature, default: 0].addingSaturating(
                sums.costNanos)
            modelSpend[key.model, default: 0] = modelSpend[key.model, default: 0].addingSaturating(sums.costNanos)
        }
        for row in try await rows(
            SQLQuery(
                """
                SELECT environment, model, error, bucket, n, duration_seconds
                FROM rollup_metric_latency WHERE project_id = ? AND n != 0
                """, [.text(projectID)]))
        {
            let key = LLMMetrics.LatencyKey(
                environment: row.text("environment") ?? "", model: row.text("model") ?? "",
                outcome: (row.int("error") ?? 0) != 0 ? .error : .success)
            guard let bucket = row.int("bucket").map(Int.init) else { continue }
            var histogram = raw.latency[key] ?? LLMMetrics.Latency()
            guard histogram.counts.indices.contains(bucket) else { continue }  // the schema's CHECK
            histogram.counts[bucket] = row.int("n") ?? 0
            histogram.sumSeconds += row.double("duration_seconds") ?? 0
            raw.latency[key] = histogram
        }
        let monthStart = BudgetPeriod.monthStart(now)
        /// This month's spend, read only for a dimension over its limit; nil: within the limit, every value keeps
        /// its series.
        func kept(_ lifetime: [String: Int64], limit: Int, column: String, table: String) async throws -> Set<String>? {
            guard lifetime.count - (lifetime[""] == nil ? 0 : 1) > limit else { return nil }
            var month: [String: Int64] = [:]
            for row in try await rows(
                SQLQuery(
                    """
                    SELECT \(column) AS k, sum(total_cost_nanos) AS spend FROM \(table)
                    WHERE project_id = ? AND day >= ? GROUP BY \(column)
                    """, [.text(projectID), .int(monthStart)]))
            {
                if let k = row.text("k") { month[k] = row.int("spend") ?? 0 }
            }
            return LLMMetrics.kept(
                Dictionary(uniqueKeysWithValues: lifetime.map { ($0.key, (month[$0.key] ?? 0, $0.value)) }),
                limit: limit)
        }
        let tenants = try await kept(
            tenantSpend, limit: limits.tenants, column: "tenant", table: "rollup_tenant_total_day")
        let features = try await kept(
            featureSpend, limit: limits.features, column: "feature", table: "rollup_tenant_day")
        let models = try await kept(modelSpend, limit: limits.models, column: "model", table: "rollup_usage_day")
        guard tenants != nil || features != nil || models != nil else { return raw }
        return try raw.folded(
            tenants: tenants ?? Set(tenantSpend.keys), features: features ?? Set(featureSpend.keys),
            models: models ?? Set(modelSpend.keys))
    }
}

extension AnalyticsSQL {
    /// The cache-read, cache-write and reasoning tokens of a row `o` of a `callSource`, in that order: a share's
    /// own (`share_cache_read`, …), else the sums of the call's usage keys `PriceKey` maps onto each (the key lists
    /// are bound values, so they are the cost engine's own).
    public func usageSplit() -> [(sql: String, values: [SQLValue])] {
        [
            ([.cacheRead], "share_cache_read"), ([.cacheWrite, .cacheWrite1h], "share_cache_write"),
            ([.reasoning], "share_reasoning"),
        ].map { (keys: Set<PriceKey>, share: String) in
            let aliases = PriceKey.aliases.filter { keys.contains($0.value) }.keys.sorted()
            return (
                "coalesce(o.\(share), \(dialect.sumOfKeys("o.usage_details", count: aliases.count)))",
                aliases.map { .text($0) }
            )
        }
    }

    /// The billing export query (`b`, `d0`…, calls, it, ot, crt, cwt, rt, cn, sv, ec, ecn), or nil when its type
    /// filter leaves no model calls.
    public func usageExport(_ q: UsageExportQuery, projectID: String) -> SQLQuery? {
        var f = q.filter
        f.types =
            f.types.isEmpty ? [.generation, .embedding] : f.types.filter { $0 == .generation || $0 == .embedding }
        if f.types.isEmpty { return nil }
        let w = filter(f, projectID: projectID)
        let (select, dimensionValues, from, keys) = groupedCalls(
            q.dimensions, bucket: q.bucket, filter: f, filterNeedsTrace: w.trace)
        let split = usageSplit()
        let values = dimensionValues + split.flatMap(\.values)
        let keyList = keys.joined(separator: ", ")
        let billed = q.includeErrors ? "1 = 1" : "NOT err"
        let listPrice = q.cacheBilling == .list ? " + coalesce(o.savings_nanos, 0)" : ""
        let order = naturalOrder(keys)
        let sql = """
            WITH base AS (
                SELECT \(select), o.n, o.level = 'ERROR' AS err, o.input_tokens AS it, o.output_tokens AS ot,
                    \(split[0].sql) AS crt, \(split[1].sql) AS cwt, \(split[2].sql) AS rt,
                    coalesce(o.total_cost_nanos, 0)\(listPrice) AS cn, coalesce(o.savings_nanos, 0) AS sv
                FROM \(from)
                WHERE \(w.conditions.sql)
            )
            SELECT \(bucketLabel(q.bucket, key: "bk")) AS b, \(keyList),
                coalesce(sum(n) FILTER (WHERE \(billed)), 0) AS calls,
                coalesce(sum(it) FILTER (WHERE \(billed)), 0) AS it, coalesce(sum(ot) FILTER (WHERE \(billed)), 0) AS ot,
                coalesce(sum(crt) FILTER (WHERE \(billed)), 0) AS crt,
                coalesce(sum(cwt) FILTER (WHERE \(billed)), 0) AS cwt,
                coalesce(sum(rt) FILTER (WHERE \(billed)), 0) AS rt, coalesce(sum(cn) FILTER (WHERE \(billed)), 0) AS cn,
                coalesce(sum(sv) FILTER (WHERE \(billed)), 0) AS sv, coalesce(sum(n) FILTER (WHERE err), 0) AS ec,
                coalesce(sum(cn) FILTER (WHERE err), 0) AS ecn
            FROM base GROUP BY \(keyList) ORDER BY \(order)
            """
        return SQLQuery(sql, values + w.conditions.values)
    }
}
