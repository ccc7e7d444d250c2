import TallyCore
import TallySQL
import TallyStoreAPI

extension TallyDatabase {
    /// Runs a Langfuse metrics query (`SQLReader.sharedMetrics`).
    public func metrics(projectID: String, query q: MetricsQuery) async throws -> [[String: JSONValue]] {
        try await sharedMetrics(projectID: projectID, query: q)
    }
}
