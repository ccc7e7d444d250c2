import GRDB
import TallyCore
import TallySQL
import TallyStoreAPI

/// Billing exports and invoice reconciliation: the shared reads of TallySQL (`SQLReader`).
extension TallyDatabase {
    public func usageExport(projectID: String, query q: UsageExportQuery) async throws -> [UsageRow] {
        try await sharedUsageExport(projectID: projectID, query: q)
    }

    public func reconciliationUsage(projectID: String, from: Timestamp, to: Timestamp) async throws
        -> [Reconciliation.Usage]
    {
        try await sharedReconciliationUsage(projectID: projectID, from: from, to: to)
    }

    /// SQL for the cache-read, cache-write and reasoning tokens of a row `o` of a `callSource`
    /// (`AnalyticsSQL.usageSplit`); their values are appended to `args`.
    static func usageSplitSQL(_ args: inout [(any DatabaseValueConvertible)?]) -> [String] {
        analytics.usageSplit().map { part in
            args += part.values.map(\.databaseValue)
            return part.sql
        }
    }
}
