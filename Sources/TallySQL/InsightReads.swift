import Foundation
import TallyCore
import TallyStoreAPI

/// A group of the finders' and what-if's rows: feature and model (nil: none).
struct FeatureModel: Hashable {
    var feature: String?
    var model: String?
}

/// The waste finders over either store: `InsightSQL`'s candidates judged against the thresholds and priced.
extension SQLReader {
    var insightSQL: InsightSQL { InsightSQL(dialect) }

    /// Every finding in `q`'s range, most valuable first. `table` prices the downgrade alternatives.
    public func sharedInsights(projectID: String, query q: InsightQuery, table: PriceTable) async throws -> [Finding] {
        async let profile = callShapes(projectID: projectID, q)
        async let retry = retryWaste(projectID: projectID, q)
        async let loops = agentLoops(projectID: projectID, q)
        async let repeats = repeatedInputs(projectID: projectID, q, type: .cacheOpportunity)
        async let embeds = repeatedInputs(projectID: projectID, q, type: .embedReindex)
        let shapes = try await profile
        async let downgrade = modelDowngrades(projectID: projectID, q, profile: shapes, table: table)
        async let bloat = contextBloat(projectID: projectID, q, profile: shapes)
        let all = try await retry + downgrade + bloat + loops + repeats + embeds
        return Insights.ranked(all, limit: q.limit)
    }

    /// The profile of `q`'s generations per feature, model and prompt version (`CallShape`): whole UTC days from
    /// `rollup_call_shape_day` when it can answer `q`, the partial days at the edges (or everything) from a scan;
    /// both give the same histograms.
    public func callShapes(projectID: String, _ q: InsightQuery, rollups: Bool = true) async throws
        -> [CallShapeGroup: CallShape]
    {
        var shapes: [CallShapeGroup: CallShape] = [:]
        func add(_ row: SQLRow, axis: Int, bucket: Int) throws {
            let group = CallShapeGroup(
                feature: row.text("f"), model: row.text("m"), promptName: row.text("pn"),
                promptVersion: row.int("pv").map { Int($0) })
            var shape = shapes[group] ?? CallShape()
            let (all, costed) = (row.int("c") ?? 0, row.int("cc") ?? 0)
            let added =
                axis == 0
                ? shape.input.add(all, bucket: bucket) && shape.costedInput.add(costed, bucket: bucket)
                : shape.costedOutput.add(costed, bucket: bucket)
            guard added else { throw WhatIf.Failure.outOfRange("the generations' count") }
            shapes[group] = shape
        }
        var scans: [SQLQuery] = []
        if rollups, let range = RollupRange(from: q.from, to: q.to),
            let whole = insightSQL.callShapeRollup(q, projectID: projectID, range: range)
        {
            async let wholeRows = rows(whole)
            scans = range.edges.map { insightSQL.callShapes(q, projectID: projectID, from: $0.from, to: $0.to) }
            for row in try await wholeRows {
                try add(row, axis: Int(row.int("a") ?? 0), bucket: Int(row.int("b") ?? 0))
            }
        } else {
            scans = [insightSQL.callShapes(q, projectID: projectID)]
        }
        for scan in scans {
            for row in try await rows(scan) {
                try add(row, axis: 0, bucket: Int(row.int("bi") ?? 0))
                try add(row, axis: 1, bucket: Int(row.int("bo") ?? 0))
            }
        }
        // A group whose rollup rows all left (deleted or moved calls) has no calls: the costed ones are among them.
        return shapes.filter { $0.value.input.total != 0 }
    }

    /// A breakdown of `q`'s calls of `types` by `dimensions` (in [from, to) when given, else `q`'s range), from the
    /// rollups when they cover it.
    func breakdown(
        projectID: String, _ q: InsightQuery, from: Int64? = nil, to: Int64? = nil, types: [ObservationType],
        by dimensions: [AnalyticsDimension], metrics: Set<Metric>
    ) async throws -> [BreakdownRow] {
        var b = BreakdownQuery()
        b.filter = q.filter
        if let from { b.filter.from = Timestamp(microseconds: from) }
        if let to { b.filter.to = Timestamp(microseconds: to) }
        b.filter.types = types
        b.dimensions = dimensions
        b.metrics = metrics
        b.limit = BreakdownQuery.maxLimit
        return try await sharedBreakdown(projectID: projectID, query: b, rollups: true)
    }

    /// Model calls and their cost per `dimensions` (feature, model) in `q`'s range.
    func modelCallFigures(projectID: String, _ q: InsightQuery, by dimensions: [AnalyticsDimension]) async throws
        -> [[String?]: (calls: Int64, costNanos: Int64)]
    {
        let rows = try await breakdown(
            projectID: projectID, q, types: [.generation, .embedding], by: dimensions, metrics: [.count, .totalCost])
        return Dictionary(rows.map { ($0.keys, (calls: $0.count, costNanos: $0.totalCostNanos)) }) { a, _ in a }
    }

    /// The trace ids of an examples query (`InsightSQL.examples`), sorted.
    func exampleTraces(_ query: SQLQuery) async throws -> [String] {
        try await rows(query).compactMap { $0.text("trace_id") }.sorted()
    }

    /// Splits finder rows into group rows (no `trace_id`) and example traces per group.
    private func grouped(_ rows: [SQLRow]) -> (groups: [SQLRow], traces: [FeatureModel: [String]]) {
        var groups: [SQLRow] = []
        var traces: [FeatureModel: [String]] = [:]
        for row in rows {
            if let trace = row.text("trace_id") {
                traces[FeatureModel(feature: row.text("f"), model: row.text("m")), default: []].append(trace)
            } else {
                groups.append(row)
            }
        }
        return (groups, traces.mapValues { $0.sorted() })
    }

    func retryWaste(projectID: String, _ q: InsightQuery) async throws -> [Finding] {
        let (groupsQuery, examplesQuery) = insightSQL.retryWaste(q, projectID: projectID)
        async let groupRows = rows(groupsQuery)
        async let exampleRows = rows(examplesQuery)
        let traces = grouped(try await exampleRows).traces
        let groups = try await groupRows
        let figures =
            groups.isEmpty ? [:] : try await modelCallFigures(projectID: projectID, q, by: [.feature, .model])
        return groups.map { row in
            let group = FeatureModel(feature: row.text("f"), model: row.text("m"))
            let calls = figures[[group.feature, group.model]]?.calls ?? 0
            let errors = row.int("errors") ?? 0
            let waste = row.int("waste") ?? 0
            return Finding(
                type: .retryWaste, subject: InsightSubject(feature: group.feature, model: group.model),
                evidence: [
                    "calls": .int(calls), "errors": .int(errors),
                    "errorRate": .double(calls == 0 ? 0 : Double(errors) / Double(calls)),
                    "errorCostNanos": .int(waste),
                ], wasteNanos: waste, periodMicros: q.lengthMicros, traces: traces[group] ?? [])
        }
    }

    func modelDowngrades(
        projectID: String, _ q: InsightQuery, profile: [CallShapeGroup: CallShape], table: PriceTable
    ) async throws -> [Finding] {
        let t = q.thresholds
        // The histograms rule out most groups; the exact percentiles decide the rest.
        var short: [FeatureModel: SQLRow] = [:]
        for candidate in Insights.downgradeCandidates(profile, t) {
            guard
                let row = try await rows(
                    insightSQL.callShape(q, projectID: projectID, feature: candidate.feature, model: candidate.model)
                ).first, let p95in = row.int("p95in"), let p95out = row.int("p95out"),
                p95out <= t.downgradeMaxOutputP95, p95in <= t.downgradeMaxInputP95
            else { continue }
            short[FeatureModel(feature: candidate.feature, model: candidate.model)] = row
        }
        guard !short.isEmpty else { return [] }
        // The short groups' usage per key, to price each alternative.
        var whatIf = WhatIfQuery(model: "")
        whatIf.filter = q.filter
        whatIf.filter.types = [.generation]
        whatIf.filter.features = Set(short.keys.compactMap(\.feature)).sorted()
        whatIf.filter.models = Set(short.keys.compactMap(\.model)).sorted()
        whatIf.dimensions = [.feature, .model]
        let sums = try await whatIfSums(projectID: projectID, query: whatIf)
        let candidates = table.projectModels + (table.builtinEnabled ? table.builtinModels : [])
        var out: [Finding] = []
        for (group, row) in short.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            guard let model = group.model, let s = sums[[group.feature, model]], s.costNanos > 0,
                let current = table.match(model, at: q.to),
                let alternative = Insights.cheapestAlternative(to: current, sums: s, candidates: candidates),
                Double(s.costNanos) >= t.downgradeRatio * Double(alternative.nanos), alternative.nanos < s.costNanos
            else { continue }
            let examples = try await exampleTraces(
                insightSQL.callExamples(q, projectID: projectID, feature: group.feature, model: model))
            out.append(
                Finding(
                    type: .modelDowngrade, subject: InsightSubject(feature: group.feature, model: model),
                    evidence: [
                        "calls": .int(s.calls), "p95InputTokens": .int(row.int("p95in") ?? 0),
                        "p95OutputTokens": .int(row.int("p95out") ?? 0), "costNanos": .int(s.costNanos),
                        "alternativeModel": .string(alternative.model.id),
                        "alternativeCostNanos": .int(alternative.nanos),
                        "ratio": .double(alternative.nanos == 0 ? 0 : Double(s.costNanos) / Double(alternative.nanos)),
                    ], wasteNanos: s.costNanos - alternative.nanos, periodMicros: q.lengthMicros, traces: examples))
        }
        return out
    }

    /// Week over week per feature (when the range spans two weeks) and spread per feature and prompt version; a
    /// feature (without a prompt) that shows both is one finding with both pieces of evidence and the larger waste.
    func contextBloat(projectID: String, _ q: InsightQuery, profile: [CallShapeGroup: CallShape]) async throws
        -> [Finding]
    {
        let t = q.thresholds
        var found: [InsightSubject: Finding] = [:]
        if q.lengthMicros >= 2 * Insights.weekMicros {
            // The range's last week and the week before, per feature, from the rollups.
            let split = q.to.microseconds - Insights.weekMicros
            async let lastWeek = generationInput(projectID: projectID, q, from: split, to: q.to.microseconds)
            async let weekBefore = generationInput(
                projectID: projectID, q, from: split - Insights.weekMicros, to: split)
            let previous = try await weekBefore
            for (feature, current) in try await lastWeek.sorted(by: { $0.key < $1.key }) {
                let (c1, t1) = (current.calls, current.inputTokens)
                let (c0, t0) = (previous[feature]?.calls ?? 0, previous[feature]?.inputTokens ?? 0)
                guard c1 >= t.minCalls, c0 >= t.minCalls, t0 > 0,
                    Double(t1) / Double(c1) >= (1 + t.bloatGrowth) * Double(t0) / Double(c0)
                else { continue }
                let waste = Insights.bloatGrowthNanos(
                    inputCostNanos: current.inputCostNanos, calls: c1, inputTokens: t1, previousCalls: c0,
                    previousInputTokens: t0)
                let subject = InsightSubject(feature: feature)
                let examples = try await exampleTraces(
                    insightSQL.inputExamples(q, projectID: projectID, feature: subject.feature, from: split))
                found[subject] = Finding(
                    type: .contextBloat, subject: subject,
                    evidence: [
                        "inputTokensPerCall": .double(Double(t1) / Double(c1)),
                        "previousInputTokensPerCall": .double(Double(t0) / Double(c0)),
                        "growth": .double(
                            Insights.growth(calls: c1, tokens: t1, previousCalls: c0, previousTokens: t0)),
                        "calls": .int(c1),
                        "previousCalls": .int(c0), "addedInputCostNanos": .int(waste),
                    ], wasteNanos: waste, periodMicros: Insights.weekMicros, traces: examples)
            }
        }
        for candidate in Insights.spreadCandidates(profile, t) {
            let version = candidate.subject.promptVersion
            guard
                let row = try await rows(
                    insightSQL.inputSpread(
                        q, projectID: projectID, feature: candidate.subject.feature,
                        promptName: candidate.subject.promptName, promptVersion: version)
                ).first, let p50 = row.int("p50"), let p95 = row.int("p95"), p50 > 0,
                Double(p95) >= t.bloatSpread * Double(p50)
            else { continue }
            let subject = candidate.subject
            let limit = Insights.outlierLimit(median: p50, spread: t.bloatSpread)
            let (wasteQuery, examplesQuery) = insightSQL.trimmedInput(
                q, projectID: projectID, feature: subject.feature, promptName: subject.promptName,
                promptVersion: version, median: p50, limit: limit)
            let sums = try await rows(wasteQuery).first
            let waste = sums?.int("waste") ?? 0
            let examples = try await exampleTraces(examplesQuery)
            var evidence: [String: JSONValue] = [
                "calls": .int(candidate.calls), "medianInputTokens": .int(p50), "p95InputTokens": .int(p95),
                "outlierCalls": .int(sums?.int("c") ?? 0), "outlierThresholdTokens": .int(limit),
                "trimmedInputCostNanos": .int(waste),
            ]
            var best = Finding(
                type: .contextBloat, subject: subject, evidence: evidence, wasteNanos: waste,
                periodMicros: q.lengthMicros, traces: examples)
            if let weekly = found[subject] {
                evidence.merge(weekly.evidence) { a, _ in a }
                best = weekly.monthlyNanos > best.monthlyNanos ? weekly : best
                best.evidence = evidence
                best.traces = examples
            }
            found[subject] = best
        }
        return Array(found.values)
    }

    /// Generations, their input tokens and input cost per feature (features only) in [from, to).
    func generationInput(projectID: String, _ q: InsightQuery, from: Int64, to: Int64) async throws
        -> [String: (calls: Int64, inputTokens: Int64, inputCostNanos: Int64)]
    {
        var out: [String: (calls: Int64, inputTokens: Int64, inputCostNanos: Int64)] = [:]
        for row in try await breakdown(
            projectID: projectID, q, from: from, to: to, types: [.generation], by: [.feature],
            metrics: [.count, .inputTokens, .inputCost])
        {
            guard let feature = row.keys.first ?? nil else { continue }
            out[feature] = (row.count, row.inputTokens, row.inputCostNanos)
        }
        return out
    }

    func agentLoops(projectID: String, _ q: InsightQuery) async throws -> [Finding] {
        let (groups, traces) = grouped(try await rows(insightSQL.agentLoops(q, projectID: projectID)))
        let spend = groups.isEmpty ? [:] : try await modelCallFigures(projectID: projectID, q, by: [.feature])
        return groups.compactMap { row in
            let waste = row.int("waste") ?? 0
            guard waste > 0 else { return nil }
            let feature = row.text("f")
            let cost = row.int("cost") ?? 0
            let featureCost = spend[[feature]]?.costNanos ?? 0
            return Finding(
                type: .agentLoop, subject: InsightSubject(feature: feature),
                evidence: [
                    "loopingTraces": .int(row.int("loops") ?? 0), "loopCostNanos": .int(cost),
                    "featureCostNanos": .int(featureCost),
                    "shareOfFeatureSpend": .double(featureCost == 0 ? 0 : Double(cost) / Double(featureCost)),
                    "maxCallsInTrace": .int(row.int("max_calls") ?? 0),
                    "maxRepeatsInTrace": .int(row.int("max_repeats") ?? 0), "afterCapCostNanos": .int(waste),
                ], wasteNanos: waste, periodMicros: q.lengthMicros,
                traces: traces[FeatureModel(feature: feature, model: nil)] ?? [])
        }
    }

    func repeatedInputs(projectID: String, _ q: InsightQuery, type: InsightType) async throws -> [Finding] {
        let query =
            type == .cacheOpportunity
            ? insightSQL.repeatedInputs(q, projectID: projectID) : insightSQL.reembedded(q, projectID: projectID)
        let (groups, traces) = grouped(try await rows(query))
        return groups.map { row in
            let group = FeatureModel(feature: row.text("f"), model: row.text("m"))
            let waste = row.int("waste") ?? 0
            var evidence: [String: JSONValue] = [
                "repeatedCalls": .int(row.int("repeats") ?? 0), "distinctInputs": .int(row.int("inputs") ?? 0),
                "repeatCostNanos": .int(waste),
            ]
            if let tenants = row.int("tenants") { evidence["tenants"] = .int(tenants) }
            return Finding(
                type: type, subject: InsightSubject(feature: group.feature, model: group.model), evidence: evidence,
                wasteNanos: waste, periodMicros: q.lengthMicros, traces: traces[group] ?? [])
        }
    }
}
