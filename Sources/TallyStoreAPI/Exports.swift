import TallyCore

/// A sink as the push service works it. `updatedAt` is the version the pass read: every record below is written
/// only while the sink still has it, so a pass that raced a `PUT` or `DELETE` writes nothing (its events are sent
/// again under the same ids, which the receiver drops).
public struct ExportSink: Sendable {
    public var projectID: String
    public var name: String
    public var config: ExportSinkConfig
    public var apiKey: String?
    public var cursor: Int64
    public var attempts: Int
    public var updatedAt: Int64

    public init(
        projectID: String, name: String, config: ExportSinkConfig, apiKey: String? = nil, cursor: Int64, attempts: Int,
        updatedAt: Int64
    ) {
        self.projectID = projectID
        self.name = name
        self.config = config
        self.apiKey = apiKey
        self.cursor = cursor
        self.attempts = attempts
        self.updatedAt = updatedAt
    }
}

/// The changes a pass pushes: calls changed after the cursor (each once, as it is now) up to `lastSeq`, and what the
/// receiver holds for them.
public struct ExportWork: Sendable {
    public var lastSeq: Int64
    /// False when the read stopped at its limit (more changes may be due).
    public var complete: Bool
    public var calls: [BillableCall]
    public var ledger: [String: LedgerEntry]

    public init(lastSeq: Int64, complete: Bool, calls: [BillableCall], ledger: [String: LedgerEntry]) {
        self.lastSeq = lastSeq
        self.complete = complete
        self.calls = calls
        self.ledger = ledger
    }
}

extension ExportIssueChange {
    /// The issue a refused push records: the call listed as `rejected`, with the receiver's status and error and
    /// the refused event ids.
    public static func rejected(_ push: ExportPush, status: Int, error: String) -> ExportIssueChange {
        ExportIssueChange(
            observationID: push.call.id, traceID: push.call.traceID, kind: .rejected,
            costNanos: push.events.reduce(0) { $0.addingSaturating($1.values.figures.costNanos) },
            detail: [
                "status": .int(Int64(status)), "error": .string(String(error.prefix(500))),
                "eventIds": .array(push.events.map { .string($0.id) }),
            ])
    }
}

/// How long a pass holds its sink between two records: twice the sink's request timeout and 30 s (a request and
/// the reads around it fit; a collector killed mid-pass delays the sink by at most this).
public enum ExportLease {
    public static func micros(_ config: ExportSinkConfig) -> Int64 {
        (2 * Int64(config.timeoutSeconds) + 30) * 1_000_000
    }
}

extension ExportWork {
    /// Of `changes` (in seq order, `limit` read), those at least settled (`at` ≤ `settledAt`), stopping at the first
    /// younger one so the cursor never passes a change it did not push: the last seq taken, the calls changed (each
    /// once, in change order), and whether nothing more is due. Nil when no change is settled.
    public static func settled(_ changes: [(seq: Int64, id: String, at: Int64)], settledAt: Int64, limit: Int)
        -> (lastSeq: Int64, ids: [String], complete: Bool)?
    {
        var lastSeq: Int64?
        var ids: [String] = []
        var seen = Set<String>()
        var complete = changes.count < limit
        for change in changes {
            guard change.at <= settledAt else {
                complete = true
                break
            }
            lastSeq = change.seq
            if seen.insert(change.id).inserted { ids.append(change.id) }
        }
        return lastSeq.map { ($0, ids, complete) }
    }
}

/// A call a sink could not bill as it is (see `ExportIssueKind`).
public struct ExportIssue: Sendable {
    public var observationID: String
    public var traceID: String
    public var kind: ExportIssueKind
    public var costNanos: Int64
    public var detail: JSONValue
    public var at: Timestamp

    public init(
        observationID: String, traceID: String, kind: ExportIssueKind, costNanos: Int64, detail: JSONValue,
        at: Timestamp
    ) {
        self.observationID = observationID
        self.traceID = traceID
        self.kind = kind
        self.costNanos = costNanos
        self.detail = detail
        self.at = at
    }
}

/// A sink as the API shows it (never its API key).
public struct ExportSinkStatus: Sendable {
    public var name: String
    public var config: ExportSinkConfig
    public var hasApiKey: Bool
    public var cursor: Int64
    /// Changes after the cursor, and when the oldest was written.
    public var pendingChanges: Int64
    public var oldestPendingAt: Timestamp?
    public var eventsSent: Int64
    public var requestsSent: Int64
    public var lastSuccessAt: Timestamp?
    public var lastFailureAt: Timestamp?
    public var lastError: String?
    public var lastStatus: Int?
    /// Failed passes since the last success.
    public var attempts: Int
    public var nextPushAt: Timestamp
    public var createdAt: Timestamp
    /// Per kind: how many calls, and the sum of their `costNanos`.
    public var issueTotals: [ExportIssueKind: (count: Int64, costNanos: Int64)]
    /// Per kind, the newest first (only when asked for).
    public var issues: [ExportIssueKind: [ExportIssue]]

    /// Seconds since the oldest change not yet pushed was written (0 when none is waiting).
    public func lagSeconds(now: Timestamp) -> Double {
        oldestPendingAt.map { max(0, Double(now.microseconds - $0.microseconds) / 1e6) } ?? 0
    }

    public init(
        name: String, config: ExportSinkConfig, hasApiKey: Bool, cursor: Int64, pendingChanges: Int64,
        oldestPendingAt: Timestamp? = nil, eventsSent: Int64, requestsSent: Int64, lastSuccessAt: Timestamp? = nil,
        lastFailureAt: Timestamp? = nil, lastError: String? = nil, lastStatus: Int? = nil, attempts: Int,
        nextPushAt: Timestamp, createdAt: Timestamp, issueTotals: [ExportIssueKind: (count: Int64, costNanos: Int64)],
        issues: [ExportIssueKind: [ExportIssue]]
    ) {
        self.name = name
        self.config = config
        self.hasApiKey = hasApiKey
        self.cursor = cursor
        self.pendingChanges = pendingChanges
        self.oldestPendingAt = oldestPendingAt
        self.eventsSent = eventsSent
        self.requestsSent = requestsSent
        self.lastSuccessAt = lastSuccessAt
        self.lastFailureAt = lastFailureAt
        self.lastError = lastError
        self.lastStatus = lastStatus
        self.attempts = attempts
        self.nextPushAt = nextPushAt
        self.createdAt = createdAt
        self.issueTotals = issueTotals
        self.issues = issues
    }
}
