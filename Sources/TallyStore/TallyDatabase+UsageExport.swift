import GRDB
import TallyCore
import TallyStoreAPI

extension TallyDatabase {
    /// The billing export of `q`: model calls summed per group and bucket, ordered by bucket then group, scanned
    /// from `observation` with the breakdown's filters (an export reads every matching call once). Cache and
    /// reasoning tokens are summed from the usage keys `PriceKey` maps onto them (bound as parameters, so the list is
    /// the cost engine's own). A sum past Int64 fails the read instead of wrapping.
    public func usageExport(projectID: String, query q: UsageExportQuery) async throws -> [UsageRow] {
        var args: [(any DatabaseValueConvertible)?] = []
        var joinTrace = false
        var joinTag = false
        var dimensionSQL: [String] = []
        for d in q.dimensions {
            let part = Self.sql(for: d, args: &args)
            dimensionSQL.append(part.sql)
            joinTrace = joinTrace || part.trace
            joinTag = joinTag || part.tag
        }
        let split = Self.usageSplitSQL(&args)
        var filter = q.filter
        filter.types =
            filter.types.isEmpty
            ? [.generation, .embedding] : filter.types.filter { $0 == .generation || $0 == .embedding }
        if filter.types.isEmpty { return [] }
        let w = Self.whereSQL(filter, projectID: projectID)
        joinTrace = joinTrace || w.trace
        let keys = ["bk"] + dimensionSQL.indices.map { "d\($0)" }
        let keyList = keys.joined(separator: ", ")
        let billed = q.includeErrors ? "1" : "NOT err"
        let sql = """
            WITH base AS (
                SELECT \(([Self.bucketKeySQL(q.bucket) + " AS bk"] + dimensionSQL.enumerated().map { "\($0.element) AS d\($0.offset)" }).joined(separator: ", ")),
                    o.n, o.level = 'ERROR' AS err, o.input_tokens AS it, o.output_tokens AS ot,
                    \(split[0]) AS crt, \(split[1]) AS cwt, \(split[2]) AS rt, coalesce(o.total_cost_nanos, 0)\(q.cacheBilling == .list ? " + coalesce(o.savings_nanos, 0)" : "") AS cn,
                    coalesce(o.savings_nanos, 0) AS sv
                FROM \(Self.callSource(perTenant: Self.perTenant(q.dimensions, filter))) o\(joinTrace ? " JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id" : "")\(joinTag ? " JOIN trace_tag g INDEXED BY trace_tag_trace ON g.project_id = o.project_id AND g.trace_id = o.trace_id" : "")
                WHERE \(w.filter.sql)
            )
            SELECT \(Self.bucketLabelSQL(q.bucket, key: "bk")) AS b, \(keyList),
                coalesce(sum(n) FILTER (WHERE \(billed)), 0) AS calls, coalesce(sum(it) FILTER (WHERE \(billed)), 0) AS it,
                coalesce(sum(ot) FILTER (WHERE \(billed)), 0) AS ot, coalesce(sum(crt) FILTER (WHERE \(billed)), 0) AS crt,
                coalesce(sum(cwt) FILTER (WHERE \(billed)), 0) AS cwt, coalesce(sum(rt) FILTER (WHERE \(billed)), 0) AS rt,
                coalesce(sum(cn) FILTER (WHERE \(billed)), 0) AS cn, coalesce(sum(sv) FILTER (WHERE \(billed)), 0) AS sv,
                coalesce(sum(n) FILTER (WHERE err), 0) AS ec,
                coalesce(sum(cn) FILTER (WHERE err), 0) AS ecn
            FROM base GROUP BY \(keyList) ORDER BY \(keyList)
            """
        let dimensionCount = q.dimensions.count
        let arguments = StatementArguments(args) + w.filter.arguments
        return try await boundedRead { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                var out = UsageRow(keys: (0..<dimensionCount).map { row["d\($0)"] }, bucket: row["b"])
                out.calls = row["calls"]
                out.inputTokens = row["it"]
                out.outputTokens = row["ot"]
                out.cacheReadTokens = row["crt"]
                out.cacheWriteTokens = row["cwt"]
                out.reasoningTokens = row["rt"]
                out.costNanos = row["cn"]
                out.cacheSavingsNanos = row["sv"]
                out.errorCalls = row["ec"]
                out.errorCostNanos = row["ecn"]
                return out
            }
        }
    }
}

extension TallyDatabase {
    /// SQL for the cache-read, cache-write and reasoning tokens of a row `o` of a `callSource`, in that order: a
    /// share's own (`share_cache_read`, …), else the sums of the call's usage keys `PriceKey` maps onto each (the key
    /// lists are appended to `args`, so they are the cost engine's own).
    static func usageSplitSQL(_ args: inout [(any DatabaseValueConvertible)?]) -> [String] {
        var split: [String] = []
        for (keys, share): (Set<PriceKey>, String) in [
            ([.cacheRead], "share_cache_read"), ([.cacheWrite, .cacheWrite1h], "share_cache_write"),
            ([.reasoning], "share_reasoning"),
        ] {
            let aliases = PriceKey.aliases.filter { keys.contains($0.value) }.keys.sorted()
            split.append(
                "coalesce(o.\(share), (SELECT coalesce(sum(value), 0) FROM json_each(o.usage_details) "
                    + "WHERE key IN (\(SQLFilter.marks(aliases.count)))))")
            args += aliases
        }
        return split
    }

    /// Metered model calls in [from, to) per tenant, requested model and provider (errors included: providers bill
    /// many failures), for reconciling an invoice. The provider is the one the call's metadata names
    /// (`CallLog.providerKeys`), else the provider of the built-in price it was priced with.
    public func reconciliationUsage(projectID: String, from: Timestamp, to: Timestamp) async throws
        -> [Reconciliation.Usage]
    {
        let named = CallLog.providerKeys.map { "json_extract(metadata, '$.\"\($0)\"')" }
        let sql = """
            SELECT coalesce(tenant, '') AS tenant, coalesce(model, '') AS model, priced_model_id,
                CAST(coalesce(\(named.joined(separator: ", "))) AS TEXT) AS provider, sum(n) AS calls,
                coalesce(sum(total_cost_nanos), 0) AS cost
            FROM \(Self.callSource(perTenant: true))
            WHERE project_id = ? AND type IN ('GENERATION', 'EMBEDDING') AND start_time >= ? AND start_time < ?
            GROUP BY 1, 2, 3, 4
            """
        let rows = try await boundedRead { db in
            try Row.fetchAll(db, sql: sql, arguments: [projectID, from.microseconds, to.microseconds]).map { row in
                Reconciliation.Usage(
                    tenant: row["tenant"], model: row["model"],
                    provider: BuiltinPrices.provider(named: row["provider"], pricedModelID: row["priced_model_id"]),
                    calls: row["calls"], costNanos: row["cost"])
            }
        }
        // Rows that differ only in how the provider was found become one.
        var merged: [Reconciliation.Usage] = []
        var index: [String: Int] = [:]
        for u in rows {
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
}
