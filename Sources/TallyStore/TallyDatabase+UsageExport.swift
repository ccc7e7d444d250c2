import GRDB
import TallyCore

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
        var split: [String] = []
        for keys: Set<PriceKey> in [[.cacheRead], [.cacheWrite, .cacheWrite1h], [.reasoning]] {
            let aliases = PriceKey.aliases.filter { keys.contains($0.value) }.keys.sorted()
            split.append(
                "(SELECT coalesce(sum(value), 0) FROM json_each(o.usage_details) WHERE key IN (\(SQLFilter.marks(aliases.count))))"
            )
            args += aliases
        }
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
                    o.level = 'ERROR' AS err, o.input_tokens AS it, o.output_tokens AS ot,
                    \(split[0]) AS crt, \(split[1]) AS cwt, \(split[2]) AS rt, coalesce(o.total_cost_nanos, 0) AS cn
                FROM observation o\(joinTrace ? " JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id" : "")\(joinTag ? " JOIN trace_tag g INDEXED BY trace_tag_trace ON g.project_id = o.project_id AND g.trace_id = o.trace_id" : "")
                WHERE \(w.filter.sql)
            )
            SELECT \(Self.bucketLabelSQL(q.bucket, key: "bk")) AS b, \(keyList),
                count(*) FILTER (WHERE \(billed)) AS calls, coalesce(sum(it) FILTER (WHERE \(billed)), 0) AS it,
                coalesce(sum(ot) FILTER (WHERE \(billed)), 0) AS ot, coalesce(sum(crt) FILTER (WHERE \(billed)), 0) AS crt,
                coalesce(sum(cwt) FILTER (WHERE \(billed)), 0) AS cwt, coalesce(sum(rt) FILTER (WHERE \(billed)), 0) AS rt,
                coalesce(sum(cn) FILTER (WHERE \(billed)), 0) AS cn, count(*) FILTER (WHERE err) AS ec,
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
                out.errorCalls = row["ec"]
                out.errorCostNanos = row["ecn"]
                return out
            }
        }
    }
}
