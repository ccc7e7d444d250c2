import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

/// The rollup contribution of the observations an ingest inserts, summed per rollup key in memory and handed to
/// `rollup_delta` once per key (schema 0010/0011: there is no insert trigger, the store adds every insert here).
/// Each expression here is the Swift spelling of the update and delete triggers'. Shared calls (schema 0022) are not
/// added here: the store inserts their shares after them and the share insert trigger counts each.
struct RollupAccumulator {
    struct Key: Hashable {
        var day: Int64
        var hour: Int64
        var environment: String
        var tenant: String
        var feature: String
        var type: String
        var model: String
        var responseModel: String
        var promptName: String?
        var promptVersion: Int?
        var latencyBucket: Int64?
    }

    /// n, errors, input/output/total tokens, input/output/total cost (nano-USD).
    private var sums: [Key: [Int64]] = [:]
    /// The model calls' contribution to `rollup_metric` and `rollup_metric_latency` (schema 0017), upserted directly
    /// by `stage` (these counters do not go through `rollup_delta`).
    private var metrics: [LLMMetrics.SeriesKey: LLMMetrics.Sums] = [:]
    /// Per latency series and bucket: calls and their summed duration (s).
    private var latency: [LatencyRow: (n: Int64, seconds: Double)] = [:]

    struct LatencyRow: Hashable {
        var key: LLMMetrics.LatencyKey
        var bucket: Int
    }

    /// A row of `rollup_usage_key_day` (schema 0025): `usageKey` '' is the calls row.
    struct UsageKeyRow: Hashable {
        var day: Int64
        var environment: String
        var feature: String
        var type: String
        var model: String
        var usageKey: String
        var hasTotal: Bool
    }

    /// Per usage-key row: n, uncosted, errors, input/output/total tokens, cost (nano-USD), units.
    private var usageKeys: [UsageKeyRow: [Int64]] = [:]

    /// A row of `rollup_call_shape_day` (schema 0026): `axis` 0 input tokens, 1 output tokens.
    struct CallShapeRow: Hashable {
        var day: Int64
        var environment: String
        var feature: String
        var model: String
        var promptName: String
        var promptVersion: Int
        var axis: Int
        var bucket: Int
    }

    /// Per call-shape row: n, costed.
    private var callShapes: [CallShapeRow: [Int64]] = [:]

    /// An observation's contribution to the rollups without a tenant (`rollup_usage_key_day`,
    /// `rollup_call_shape_day`), which count a shared call whole.
    mutating func addWhole(_ o: Observation, totals: Observation.Totals) throws {
        try addUsageKeys(o, totals: totals)
        try addCallShape(o, totals: totals)
    }

    /// A generation's contribution to `rollup_call_shape_day` (schema 0026's expressions in Swift).
    private mutating func addCallShape(_ o: Observation, totals: Observation.Totals) throws {
        guard o.type == .generation else { return }
        let values: [Int64] = [1, totals.totalCost == nil ? 0 : 1]
        var row = CallShapeRow(
            day: Self.day(o.startTime.microseconds), environment: o.environment, feature: o.feature ?? "",
            model: o.model ?? "", promptName: o.promptName ?? "",
            promptVersion: o.promptVersion ?? 0, axis: 0, bucket: TokenHistogram.bucket(totals.inputTokens))
        try Self.add(values, to: &callShapes, at: row)
        (row.axis, row.bucket) = (1, TokenHistogram.bucket(totals.outputTokens))
        try Self.add(values, to: &callShapes, at: row)
    }

    /// A model call's contribution to `rollup_usage_key_day` (schema 0025's expressions in Swift).
    private mutating func addUsageKeys(_ o: Observation, totals: Observation.Totals) throws {
        guard o.type == .generation || o.type == .embedding else { return }
        var row = UsageKeyRow(
            day: Self.day(o.startTime.microseconds), environment: o.environment, feature: o.feature ?? "",
            type: o.type.rawValue, model: o.model ?? "", usageKey: "", hasTotal: false)
        guard let cost = totals.totalCost.map(Money.nanos(usd:)) else {
            try Self.add([0, 1, 0, 0, 0, 0, 0, 0], to: &usageKeys, at: row)
            return
        }
        try Self.add(
            [1, 0, o.level == .error ? 1 : 0, totals.inputTokens, totals.outputTokens, totals.totalTokens, cost, 0],
            to: &usageKeys, at: row)
        row.hasTotal = o.usage["total"] != nil
        for (key, units) in o.usage {
            row.usageKey = key
            try Self.add([0, 0, 0, 0, 0, 0, 0, units], to: &usageKeys, at: row)
        }
    }

    /// Adds one stored observation (`totals` are `o.totals`). Throws when a sum would leave Int64 (the transaction then fails and is retried
    /// event by event, where the trigger path reports the event that broke the range).
    mutating func add(_ o: Observation, totals: Observation.Totals) throws {
        let start = o.startTime.microseconds
        let key = Key(
            day: Self.day(start), hour: start / 3_600_000_000 * 3_600_000_000,
            environment: o.environment, tenant: o.tenant ?? "", feature: o.feature ?? "", type: o.type.rawValue,
            model: o.model ?? "", responseModel: o.responseModel ?? "", promptName: o.promptName,
            promptVersion: o.promptVersion, latencyBucket: o.endTime.map { Self.latencyBucket($0.microseconds - start) }
        )
        let values: [Int64] = [
            1, o.level == .error ? 1 : 0, totals.inputTokens, totals.outputTokens, totals.totalTokens,
            totals.inputCost.map(Money.nanos(usd:)) ?? 0,
            totals.outputCost.map(Money.nanos(usd:)) ?? 0,
            totals.totalCost.map(Money.nanos(usd:)) ?? 0,
        ]
        try Self.add(values, to: &sums, at: key)
        try addMetrics(o, totals: totals)
        try addWhole(o, totals: totals)
    }

    /// The UTC day of `micros` as the schema computes it (`start_time / 86400000000 * 86400000000`).
    static func day(_ micros: Int64) -> Int64 { micros / 86_400_000_000 * 86_400_000_000 }

    static let overflow = IngestionError.invalid("a rollup sum would leave the 64-bit range")

    /// Adds `values` to the sums of `key` in `table`, element by element; throws `overflow` when one would leave
    /// Int64.
    static func add<Key: Hashable>(_ values: [Int64], to table: inout [Key: [Int64]], at key: Key) throws {
        guard var current = table[key] else {
            table[key] = values
            return
        }
        for i in current.indices {
            let (sum, overflow) = current[i].addingReportingOverflow(values[i])
            guard !overflow else { throw Self.overflow }
            current[i] = sum
        }
        table[key] = current
    }

    /// The observation's contribution to the model-call counters (schema 0017's expressions in Swift).
    private mutating func addMetrics(_ o: Observation, totals: Observation.Totals) throws {
        guard o.type == .generation || o.type == .embedding else { return }
        let outcome: LLMMetrics.Outcome = o.level == .error ? .error : .success
        let key = LLMMetrics.SeriesKey(
            environment: o.environment, tenant: o.tenant ?? "", feature: o.feature ?? "", model: o.model ?? "",
            outcome: outcome)
        let sums = LLMMetrics.Sums(
            requests: 1, inputTokens: totals.inputTokens, outputTokens: totals.outputTokens,
            cacheReadTokens: o.usageUnits([.cacheRead]), cacheWriteTokens: o.usageUnits([.cacheWrite, .cacheWrite1h]),
            reasoningTokens: o.usageUnits([.reasoning]),
            costNanos: totals.totalCost.map(Money.nanos(usd:)) ?? 0)
        do {
            try metrics[key, default: LLMMetrics.Sums()].add(sums)
        } catch {
            throw Self.overflow
        }
        guard let end = o.endTime else { return }
        let micros = end.microseconds - o.startTime.microseconds
        let row = LatencyRow(
            key: LLMMetrics.LatencyKey(environment: o.environment, model: o.model ?? "", outcome: outcome),
            bucket: LLMMetrics.bucket(micros: micros))
        let current = latency[row] ?? (0, 0)
        latency[row] = (current.n + 1, current.seconds + Double(max(micros, 0)) / 1e6)
    }

    /// The latency histogram bucket of `micros` (schema 0006): ⌊ln(max(ms, 0.001)) / ln 1.02⌋, with the same libm
    /// calls SQLite's ln() makes.
    static func latencyBucket(_ micros: Int64) -> Int64 {
        Int64(Foundation.floor(Foundation.log(Swift.max(Double(micros) / 1000.0, 0.001)) / Foundation.log(1.02)))
    }

    /// Writes one `rollup_delta` row per key and empties the accumulator.
    mutating func stage(projectID: String, _ db: Database) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO rollup_delta VALUES (\(SQLFilter.marks(20)))")
        for (k, v) in sums {
            try statement.execute(arguments: [
                v[0], projectID, k.day, k.hour, k.environment, k.tenant, k.feature, k.type, k.model, k.responseModel,
                k.promptName, k.promptVersion, k.latencyBucket, v[1], v[2], v[3], v[4], v[5], v[6], v[7],
            ])
        }
        sums.removeAll()
        let metric = try db.cachedStatement(
            sql: "INSERT INTO rollup_metric VALUES (\(SQLFilter.marks(13))) \(RollupDeltas.metricUpsert)")
        for (k, v) in metrics {
            try metric.execute(arguments: [
                projectID, k.environment, k.tenant, k.feature, k.model, k.outcome == .error, v.requests,
                v.inputTokens, v.outputTokens, v.cacheReadTokens, v.cacheWriteTokens, v.reasoningTokens, v.costNanos,
            ])
        }
        metrics.removeAll()
        let histogram = try db.cachedStatement(
            sql: "INSERT INTO rollup_metric_latency VALUES (\(SQLFilter.marks(7))) \(RollupDeltas.latencyUpsert)")
        for (row, v) in latency {
            try histogram.execute(arguments: [
                projectID, row.key.environment, row.key.model, row.key.outcome == .error, row.bucket, v.n, v.seconds,
            ])
        }
        latency.removeAll()
        let usage = try db.cachedStatement(
            sql: "INSERT INTO rollup_usage_key_day VALUES (\(SQLFilter.marks(16))) \(Self.usageKeyUpsert)")
        for (row, v) in usageKeys {
            try usage.execute(arguments: [
                projectID, row.day, row.environment, row.feature, row.type, row.model, row.usageKey, row.hasTotal,
                v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
            ])
        }
        usageKeys.removeAll()
        let shapes = try db.cachedStatement(
            sql: "INSERT INTO rollup_call_shape_day VALUES (\(SQLFilter.marks(11))) \(Self.callShapeUpsert)")
        for (row, v) in callShapes {
            try shapes.execute(arguments: [
                projectID, row.day, row.environment, row.feature, row.model, row.promptName, row.promptVersion,
                row.axis, row.bucket, v[0], v[1],
            ])
        }
        callShapes.removeAll()
    }

    static let callShapeUpsert = "ON CONFLICT DO UPDATE SET n = n + excluded.n, costed = costed + excluded.costed"

    static let usageKeyUpsert = """
        ON CONFLICT DO UPDATE SET n = n + excluded.n, uncosted = uncosted + excluded.uncosted,
            errors = errors + excluded.errors, input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens, total_tokens = total_tokens + excluded.total_tokens,
            cost_nanos = cost_nanos + excluded.cost_nanos, units = units + excluded.units
        """
}
