import Foundation
import TallyCore
import TallyStoreAPI

/// What-if pricing over either store: the calls' figures and their usage per key are summed in SQL (whole calls: a
/// shared call counts under its trace's tenant), the sums priced in `WhatIf`.
extension AnalyticsSQL {
    /// The filter of the repriced calls (the query's, restricted to its types) and its FROM/SELECT parts.
    func whatIfScan(_ q: WhatIfQuery, projectID: String) -> (
        select: String, from: String, conditions: SQLConditions, values: [SQLValue], keys: [String]
    ) {
        var typed = q.filter
        typed.types = q.types
        let filter = filter(typed, projectID: projectID)
        let (select, values, from, keys) = groupedCalls(
            q.dimensions, bucket: nil, filter: typed, filterNeedsTrace: filter.trace, wholeCalls: true)
        return (select, from, filter.conditions, values, keys)
    }

    /// Per group: calls with a cost, calls without, errors and tokens of the costed ones, their stored cost.
    public func whatIfFigures(_ q: WhatIfQuery, projectID: String) -> SQLQuery {
        let scan = whatIfScan(q, projectID: projectID)
        let costed = "o.total_cost_nanos IS NOT NULL"
        func costedSum(_ expr: String) -> String { dialect.sum("CASE WHEN \(costed) THEN \(expr) ELSE 0 END") }
        let sql = """
            SELECT \(scan.select), \(costedSum("1")) AS c, \(dialect.sum("CASE WHEN \(costed) THEN 0 ELSE 1 END"))
                    AS uncosted,
                \(costedSum(dialect.int("o.level = 'ERROR'"))) AS errors, \(costedSum("o.input_tokens")) AS it,
                \(costedSum("o.output_tokens")) AS ot, \(costedSum("o.total_tokens")) AS tt,
                \(dialect.sum("coalesce(o.total_cost_nanos, 0)")) AS tc
            FROM \(scan.from) WHERE \(scan.conditions.sql)
            GROUP BY \(scan.keys.joined(separator: ", "))
            """
        return SQLQuery(sql, scan.values + scan.conditions.values)
    }

    /// Per group, usage key and whether the call reports a `total`: the summed units of the costed calls.
    public func whatIfUsage(_ q: WhatIfQuery, projectID: String) -> SQLQuery {
        let scan = whatIfScan(q, projectID: projectID)
        let hasTotal = dialect.int(dialect.jsonHas("o.usage_details", key: "total"))
        let sql = """
            SELECT \(scan.select), j.key AS k, \(hasTotal) AS ht, \(dialect.sum(dialect.jsonInt("j"))) AS units
            FROM \(scan.from) CROSS JOIN \(dialect.jsonEntries("o.usage_details", "j"))
            WHERE \(scan.conditions.sql) AND o.total_cost_nanos IS NOT NULL
            GROUP BY \(scan.keys.joined(separator: ", ")), j.key, \(hasTotal)
            """
        return SQLQuery(sql, scan.values + scan.conditions.values)
    }

    /// The dimensions `rollup_usage_key_day` keeps (spelled as in `rollupDimensions`).
    static let whatIfRollupDimensions: Set<AnalyticsDimension> = [.feature, .environment, .type, .model]

    /// The figures and the usage per key of `q`'s calls on `range`'s whole UTC days from `rollup_usage_key_day`
    /// (columns as `whatIfFigures` and `whatIfUsage`), or nil when the rollup cannot answer `q`: it has no tenant,
    /// prompt, user, trace, name or metadata, and keeps model calls only.
    public func whatIfRollup(_ q: WhatIfQuery, projectID: String, range: RollupRange) -> (
        figures: SQLQuery, usage: SQLQuery
    )? {
        let f = q.filter
        guard f.tenants.isEmpty, f.tags.isEmpty, f.promptName == nil, f.promptVersion == nil, f.models.isEmpty,
            f.userIDs.isEmpty, f.traceNames.isEmpty, f.names.isEmpty, f.metadata.isEmpty,
            Set(q.types).isSubset(of: [.generation, .embedding])
        else { return nil }
        var dims: [String] = []
        for d in q.dimensions {
            guard Self.whatIfRollupDimensions.contains(d), let column = Self.rollupDimensions[d] else { return nil }
            dims.append(column)
        }
        var w = SQLConditions()
        w.add("r.project_id = ?", .text(projectID))
        range.addUnits(to: &w)
        w.any("r.type", q.types.map(\.rawValue))
        w.any("r.feature", f.features)
        w.any("r.environment", f.environments)
        let select = dims.enumerated().map { "\($0.element) AS d\($0.offset)" }
        let groupBy = dims.isEmpty ? "" : " GROUP BY " + dims.indices.map { "d\($0)" }.joined(separator: ", ")
        let figures = """
            SELECT \((select + ["\(dialect.sum("r.n")) AS c"]).joined(separator: ", ")),
                \(dialect.sum("r.uncosted")) AS uncosted, \(dialect.sum("r.errors")) AS errors,
                \(dialect.sum("r.input_tokens")) AS it, \(dialect.sum("r.output_tokens")) AS ot,
                \(dialect.sum("r.total_tokens")) AS tt, \(dialect.sum("r.cost_nanos")) AS tc
            FROM rollup_usage_key_day r WHERE \(w.sql) AND r.usage_key = ''\(groupBy)
            HAVING count(*) > 0
            """
        let hasTotal = dialect.int("r.has_total")
        let usageGroup = (dims.indices.map { "d\($0)" } + ["r.usage_key", hasTotal]).joined(separator: ", ")
        let usage = """
            SELECT \((select + ["r.usage_key AS k", "\(hasTotal) AS ht"]).joined(separator: ", ")),
                \(dialect.sum("r.units")) AS units
            FROM rollup_usage_key_day r WHERE \(w.sql) AND r.usage_key <> '' GROUP BY \(usageGroup)
            """
        return (SQLQuery(figures, w.values), SQLQuery(usage, w.values))
    }

    /// Per feature, model and score name: the mean of the numeric scores given to the calls or (without an
    /// observation) to their traces, each score counted once (`f`, `m`, `name`, `mean`). Read from the project's
    /// scores, each joined to its call or its trace's calls (scores are far fewer than calls).
    public func modelScores(_ q: WhatIfQuery, projectID: String) -> SQLQuery {
        var anyModel = q.filter
        anyModel.models = []
        anyModel.types = q.types
        let filter = filter(anyModel, projectID: projectID)
        let join = filter.trace ? " JOIN trace t ON t.project_id = o.project_id AND t.id = o.trace_id" : ""
        let numeric = "s.project_id = ? AND s.data_type IN ('NUMERIC', 'BOOLEAN') AND s.value IS NOT NULL"
        let sql = """
            SELECT f, m, name, avg(value) AS mean FROM (
                SELECT o.feature AS f, o.model AS m, s.id, s.name, s.value
                FROM score s CROSS JOIN observation o\(join)
                WHERE \(numeric) AND o.project_id = s.project_id AND o.id = s.observation_id
                    AND \(filter.conditions.sql) AND o.model IS NOT NULL
                UNION
                SELECT o.feature AS f, o.model AS m, s.id, s.name, s.value
                FROM score s CROSS JOIN observation o\(join)
                WHERE \(numeric) AND s.observation_id IS NULL AND o.project_id = s.project_id
                    AND o.trace_id = s.trace_id AND \(filter.conditions.sql) AND o.model IS NOT NULL
            ) x GROUP BY f, m, name
            """
        let project: [SQLValue] = [.text(projectID)]
        return SQLQuery(sql, project + filter.conditions.values + project + filter.conditions.values)
    }
}

extension SQLReader {
    /// `q`'s calls priced as `q.model` (matched in `table` at the end of the range, else `now`).
    public func sharedWhatIf(projectID: String, query q: WhatIfQuery, table: PriceTable, now: Timestamp)
        async throws -> WhatIfAnswer
    {
        guard let target = table.match(q.model, at: q.filter.to ?? now) else {
            throw WhatIf.Failure.unknownModel(q.model)
        }
        // The quality read does not depend on the sums: both run at once.
        async let qualityRead = whatIfQuality(
            projectID: projectID, query: q, table: table, target: target, now: now)
        let groups = try await whatIfSums(projectID: projectID, query: q)
        let priced = try WhatIf.rows(Array(groups.values), as: target)
        guard let total = WhatIf.total(priced) else { throw WhatIf.Failure.outOfRange("the total") }
        // Most spent first, then by the group's values.
        let sorted = priced.sorted { a, b in
            guard a.sums.costNanos == b.sums.costNanos else { return a.sums.costNanos > b.sums.costNanos }
            return a.sums.keys.map { $0 ?? "" }.lexicographicallyPrecedes(b.sums.keys.map { $0 ?? "" })
        }
        let quality = try await qualityRead
        return WhatIfAnswer(
            target: target, rows: Array(sorted.prefix(WhatIfQuery.maxGroups)), total: total, quality: quality,
            truncated: sorted.count > WhatIfQuery.maxGroups)
    }

    /// `q`'s calls summed per group (keyed by the group's values): figures and usage per key. Whole UTC days come
    /// from `rollup_usage_key_day` when it can answer `q`, the partial days at the edges (or everything) from a
    /// scan of the calls; both give the same sums.
    public func whatIfSums(projectID: String, query q: WhatIfQuery, rollups: Bool = true) async throws
        -> [[String?]: WhatIfSums]
    {
        func scan(_ q: WhatIfQuery) -> (figures: SQLQuery, usage: SQLQuery) {
            (analytics.whatIfFigures(q, projectID: projectID), analytics.whatIfUsage(q, projectID: projectID))
        }
        var parts: [(figures: SQLQuery, usage: SQLQuery)] = []
        if rollups, let range = RollupRange(from: q.filter.from, to: q.filter.to),
            let whole = analytics.whatIfRollup(q, projectID: projectID, range: range)
        {
            parts.append(whole)
            for edge in range.edgeFilters(of: q.filter) {
                var part = q
                part.filter = edge
                parts.append(scan(part))
            }
        } else {
            parts.append(scan(q))
        }
        let width = q.dimensions.count
        func keys(_ row: SQLRow) -> [String?] { (0..<width).map { row.text("d\($0)") } }
        var figureRows: [SQLRow] = []
        var usageRows: [SQLRow] = []
        for part in parts {
            async let figures = rows(part.figures)
            async let usage = rows(part.usage)
            figureRows += try await figures
            usageRows += try await usage
        }
        var groups: [[String?]: WhatIfSums] = [:]
        for row in figureRows {
            let k = keys(row)
            var s = groups[k] ?? WhatIfSums(keys: k)
            let add: [(WritableKeyPath<WhatIfSums, Int64>, String)] = [
                (\.calls, "c"), (\.uncostedCalls, "uncosted"), (\.errors, "errors"), (\.inputTokens, "it"),
                (\.outputTokens, "ot"), (\.totalTokens, "tt"), (\.costNanos, "tc"),
            ]
            for (path, column) in add {
                guard let sum = s[keyPath: path].addingExactly(row.int(column) ?? 0) else {
                    throw WhatIf.Failure.outOfRange(column)
                }
                s[keyPath: path] = sum
            }
            groups[k] = s
        }
        for row in usageRows {
            // Keys whose units sum to 0 are left out (a rollup row whose calls left reads as 0).
            guard let key = row.text("k"), let units = row.int("units"), units != 0 else { continue }
            let k = keys(row)
            var s = groups[k] ?? WhatIfSums(keys: k)
            let hasTotal = row.int("ht") == 1
            // A call that reports `total` is billed on it by a model priced on totals; one that does not, on all
            // of its units.
            if key == "total" || !hasTotal {
                guard let sum = s.totalUnits.addingExactly(units) else { throw WhatIf.Failure.outOfRange(key) }
                s.totalUnits = sum
            }
            if key != "total" {
                guard let sum = s.usage[key, default: 0].addingExactly(units) else {
                    throw WhatIf.Failure.outOfRange(key)
                }
                s.usage[key] = sum
            }
            groups[k] = s
        }
        // A rollup row whose calls all left (deleted or moved) sums to nothing: no group.
        return groups.filter { $0.value.calls != 0 || $0.value.uncostedCalls != 0 || !$0.value.usage.isEmpty }
    }

    /// For each feature where the target model ran next to a model of the repriced calls: every such model's
    /// costed calls, their error rate and mean scores, the target first, then by calls.
    func whatIfQuality(
        projectID: String, query q: WhatIfQuery, table: PriceTable, target: ModelPrice, now: Timestamp
    ) async throws -> [FeatureQuality] {
        let at = q.filter.to ?? now
        func isTarget(_ model: String) -> Bool { model == q.model || table.match(model, at: at)?.id == target.id }
        func isRepriced(_ model: String) -> Bool {
            q.filter.models.isEmpty || q.filter.models.contains(model)
        }
        // The costed calls and their errors per feature and model, of any model (the what-if sums: its rollup when
        // it covers the filter).
        var figures = q
        figures.filter.models = []
        figures.dimensions = [.feature, .model]
        let scoresQuery = analytics.modelScores(q, projectID: projectID)
        async let qualityRows = whatIfSums(projectID: projectID, query: figures)
        async let scoreRows = rows(scoresQuery)
        var scores: [FeatureModel: [String: Double]] = [:]
        for row in try await scoreRows {
            guard let model = row.text("m"), let name = row.text("name"), let mean = row.double("mean") else {
                continue
            }
            scores[FeatureModel(feature: row.text("f"), model: model), default: [:]][name] = mean
        }
        var byFeature: [String?: [ModelQuality]] = [:]
        for sums in try await qualityRows.values where sums.calls > 0 {
            guard sums.keys.count == 2, let model = sums.keys[1] else { continue }
            let feature = sums.keys[0]
            let target = isTarget(model)
            guard target || isRepriced(model) else { continue }
            byFeature[feature, default: []].append(
                ModelQuality(
                    model: model, isTarget: target, calls: sums.calls, errors: sums.errors,
                    scores: scores[FeatureModel(feature: feature, model: model)] ?? [:]))
        }
        return byFeature.compactMap { feature, models in
            guard models.contains(where: \.isTarget), models.contains(where: { !$0.isTarget }) else { return nil }
            let ordered = models.sorted { a, b in
                if a.isTarget != b.isTarget { return a.isTarget }
                return a.calls != b.calls ? a.calls > b.calls : a.model < b.model
            }
            return FeatureQuality(feature: feature, models: ordered)
        }.sorted { ($0.feature ?? "") < ($1.feature ?? "") }
    }
}
