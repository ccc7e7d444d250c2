import TallyCore

/// The store's state for health metrics.
public struct HealthFigures: Sendable {
    /// Bytes per file: "main" (the database), "wal", "shm"; files that do not exist are left out.
    public var fileBytes: [String: Int64]
    /// The project's alert webhook deliveries by status.
    public var alertDeliveries: [String: Int64]

    public init(fileBytes: [String: Int64], alertDeliveries: [String: Int64]) {
        self.fileBytes = fileBytes
        self.alertDeliveries = alertDeliveries
    }
}
