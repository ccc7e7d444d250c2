import Foundation
import TallyCore

/// Who wants to know which observations just committed (the call log). The handler runs on the ingest queue right
/// after each commit, so it must only hand the ids on (it never reads or blocks); nothing is published for a
/// transaction that did not commit, or for an event refused inside one.
public final class CommitFeed: @unchecked Sendable {  // `handler` is only touched under `lock`
    /// Project id and the ids of the observations whose events committed, in event order (an id may repeat).
    public typealias Handler = @Sendable (_ projectID: String, _ observationIDs: [String]) -> Void
    private let lock = NSLock()
    private var handler: Handler?
    private var reportHandler: ReportHandler?

    public func subscribe(_ handler: @escaping Handler) {
        lock.withLock { self.handler = handler }
    }

    /// One ingest transaction, as health metrics count it. `events` counts per event type (IngestionEvent.Body
    /// case name: trace, observation, score, log) and result: `stored` (committed), `refused` (the event's own
    /// error, its neighbours committed) or `failed` (the transaction did not commit; the client was answered 5xx).
    public struct Report: Sendable {
        public var requests: Int
        public var events: [Key: Int]
        /// The write, from the start of the transaction to its commit (or failure).
        public var duration: Duration

        public struct Key: Hashable, Sendable {
            public var type: String
            public var result: String

            public init(type: String, result: String) {
                self.type = type
                self.result = result
            }
        }

        public init(requests: Int, events: [Key: Int], duration: Duration) {
            self.requests = requests
            self.events = events
            self.duration = duration
        }
    }

    public typealias ReportHandler = @Sendable (Report) -> Void

    /// Sets who hears of every transaction (the metrics). Runs on the ingest queue: it must not block.
    public func subscribeReports(_ handler: @escaping ReportHandler) {
        lock.withLock { self.reportHandler = handler }
    }

    /// Whether anyone listens (a store skips building what nobody hears).
    public var hasHandler: Bool { lock.withLock { handler != nil } }
    public var hasReportHandler: Bool { lock.withLock { reportHandler != nil } }

    /// Hands committed observation ids to the subscriber, if any. Called by a store right after a commit.
    public func deliver(projectID: String, observationIDs: [String]) {
        lock.withLock { handler }?(projectID, observationIDs)
    }

    /// Hands one transaction's report to the subscriber, if any. Called by a store after each transaction.
    public func deliver(_ report: Report) {
        lock.withLock { reportHandler }?(report)
    }

    public init() {}
}

extension CommitFeed {
    /// Reports one transaction that applied `requests` (each request's events and their results, nil when the
    /// transaction did not commit) in `duration`.
    public func report(
        _ requests: [(events: [IngestionEvent], results: [Result<Void, IngestionError>]?)], duration: Duration
    ) {
        guard hasReportHandler else { return }
        var report = Report(requests: requests.count, events: [:], duration: duration)
        for (events, results) in requests {
            for (i, event) in events.enumerated() {
                let result: String
                switch results?[i] {
                case .success?: result = "stored"
                case .failure?: result = "refused"
                case nil: result = "failed"
                }
                report.events[Report.Key(type: event.body.typeName, result: result), default: 0] += 1
            }
        }
        deliver(report)
    }

    /// Hands the ids of the observations among `events` that committed (`results`, in the same order) on.
    public func publish(projectID: String, events: [IngestionEvent], results: [Result<Void, IngestionError>]) {
        guard hasHandler else { return }
        let ids = zip(events, results).compactMap { event, result -> String? in
            guard case .success = result, case .observation(let o) = event.body else { return nil }
            return o.id
        }
        if !ids.isEmpty { deliver(projectID: projectID, observationIDs: ids) }
    }
}
