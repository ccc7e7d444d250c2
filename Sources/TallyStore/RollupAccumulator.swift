import Foundation
import GRDB
import TallyCore

/// The rollup contribution of the observations an ingest inserts, summed per rollup key in memory and handed to
/// `rollup_delta` once per key (schema 0010/0011: there is no insert trigger, the store adds every insert here).
/// Each expression here is the Swift spelling of the update and delete triggers'.
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

    /// Adds one stored observation (`totals` are `o.totals`). Throws when a sum would leave Int64 (the transaction then fails and is retried
    /// event by event, where the trigger path reports the event that broke the range).
    mutating func add(_ o: Observation, totals: Observation.Totals) throws {
        let start = o.startTime.microseconds
        let key = Key(
            day: start / 86_400_000_000 * 86_400_000_000, hour: start / 3_600_000_000 * 3_600_000_000,
            environment: o.environment, tenant: o.tenant ?? "", feature: o.feature ?? "", type: o.type.rawValue,
            model: o.model ?? "", responseModel: o.responseModel ?? "", promptName: o.promptName,
            promptVersion: o.promptVersion, latencyBucket: o.endTime.map { Self.latencyBucket($0.microseconds - start) })
        let values: [Int64] = [
            1, o.level == .error ? 1 : 0, totals.inputTokens, totals.outputTokens, totals.totalTokens,
            totals.inputCost.map(Rows.nanos) ?? 0, totals.outputCost.map(Rows.nanos) ?? 0,
            totals.totalCost.map(Rows.nanos) ?? 0,
        ]
        guard var current = sums[key] else {
            sums[key] = values
            return
        }
        for i in current.indices {
            let (sum, overflow) = current[i].addingReportingOverflow(values[i])
            guard !overflow else { throw IngestionError.invalid("a rollup sum would leave the 64-bit range") }
            current[i] = sum
        }
        sums[key] = current
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
    }
}
