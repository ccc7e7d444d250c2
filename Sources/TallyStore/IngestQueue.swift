import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

/// One request's events on their way to a commit, with what the writer needs to apply them.
struct IngestBatch: Sendable {
    let projectID: String
    let events: [IngestionEvent]
    /// Per event (same order), its `PreparedObservation` if it has one.
    let prepared: [PreparedObservation?]
    let rules: AttributionRules
    let pricing: ProjectPricing
    /// `created_at`/`updated_at` of the rows this request writes.
    let now: Timestamp
}

/// Group commit. Requests wait here while the writer commits the previous group; the writer then applies every
/// waiting request (up to `maxEventsPerTransaction`) in one transaction with one fsync and answers each request after
/// that commit. Under load this turns N small transactions into one large one; with a single client it adds nothing
/// (a group of one commits at once).
///
/// Bounded: while `maxQueuedEvents` events wait or are being written, a new request is refused with
/// `StoreError.overloaded` instead of growing memory (a request larger than the bound is admitted when the queue
/// is empty, so no request is refused forever).
public actor IngestQueue {
    public struct Limits: Sendable {
        /// Events waiting or being written before new requests are refused.
        public var maxQueuedEvents = 32_768
        /// Events in one transaction (a larger single request still commits alone).
        public var maxEventsPerTransaction = 16_384

        public init() {}
    }

    private struct Waiter {
        let batch: IngestBatch
        let continuation: CheckedContinuation<[Result<Void, IngestionError>], any Error>
    }

    private let writer: DatabasePool
    private let spend: SpendObserver
    let limits: Limits
    private var waiting: [Waiter] = []
    /// Events waiting or in the transaction being written.
    public private(set) var queuedEvents = 0
    /// Transactions committed (or tried) and requests they carried, since start.
    private(set) var transactions = 0
    private(set) var requests = 0
    private var draining = false

    /// Told of every observation event that committed (see `CommitFeed`).
    nonisolated let commitFeed = CommitFeed()

    init(writer: DatabasePool, spend: SpendObserver, limits: Limits = Limits()) {
        self.writer = writer
        self.spend = spend
        self.limits = limits
    }

    /// Waits for the commit that includes `batch` and returns one result per event, in input order.
    func submit(_ batch: IngestBatch) async throws -> [Result<Void, IngestionError>] {
        let count = batch.events.count
        if queuedEvents > 0, queuedEvents + count > limits.maxQueuedEvents {
            throw StoreError.overloaded(queuedEvents: queuedEvents)
        }
        queuedEvents += count
        return try await withCheckedThrowingContinuation { continuation in
            waiting.append(Waiter(batch: batch, continuation: continuation))
            if !draining {
                draining = true
                Task { await self.drain() }
            }
        }
    }

    /// Commits groups until nobody waits. Runs on the actor only between commits; each commit suspends it, so new
    /// requests join `waiting` meanwhile and form the next group.
    private func drain() async {
        while !waiting.isEmpty {
            var take = 0
            var events = 0
            while take < waiting.count,
                take == 0 || events + waiting[take].batch.events.count <= limits.maxEventsPerTransaction
            {
                events += waiting[take].batch.events.count
                take += 1
            }
            let group = Array(waiting.prefix(take))
            waiting.removeFirst(take)
            let started = ContinuousClock.now
            let outcomes = await TallyDatabase.commit(group.map(\.batch), writer: writer, spend: spend)
            let elapsed = ContinuousClock.now - started
            releaseHolds(group.map(\.batch), outcomes)
            commitFeed.publish(group.map(\.batch), outcomes)
            commitFeed.report(group.map(\.batch), outcomes, duration: elapsed)
            transactions += 1
            requests += group.count
            queuedEvents -= events
            for (waiter, outcome) in zip(group, outcomes) {
                waiter.continuation.resume(with: outcome)
            }
        }
        draining = false
    }

    /// Ends the budget holds of traces whose costed observations just committed (their real cost now counts).
    private func releaseHolds(_ batches: [IngestBatch], _ outcomes: [Result<[Result<Void, IngestionError>], any Error>])
    {
        let ledger = spend.ledger
        guard ledger.hasHolds else { return }
        for (batch, outcome) in zip(batches, outcomes) {
            guard case .success(let results) = outcome else { continue }
            let traceIDs = zip(batch.prepared, results).compactMap { prepared, result -> String? in
                guard case .success = result, let p = prepared, p.totals.totalCost != nil else { return nil }
                return p.observation.traceID
            }
            ledger.releaseHolds(projectID: batch.projectID, traceIDs: traceIDs)
        }
    }
}

extension CommitFeed {
    func report(
        _ batches: [IngestBatch], _ outcomes: [Result<[Result<Void, IngestionError>], any Error>], duration: Duration
    ) {
        report(zip(batches, outcomes).map { ($0.events, try? $1.get()) }, duration: duration)
    }

    func publish(_ batches: [IngestBatch], _ outcomes: [Result<[Result<Void, IngestionError>], any Error>]) {
        for (batch, outcome) in zip(batches, outcomes) {
            guard case .success(let results) = outcome else { continue }
            publish(projectID: batch.projectID, events: batch.events, results: results)
        }
    }
}
