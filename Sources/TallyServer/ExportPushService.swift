import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TallyCore
import TallyStoreAPI

/// Pushes each export sink's new billable calls to its receiver (Lago, OpenMeter). Every `pollInterval` it takes
/// the sinks that are due; a pass reads the changes after the sink's cursor, plans the events against what the
/// receiver already holds (its ledger), sends them in requests of at most `batchSize` events, records each taken
/// request, and moves the cursor once every change up to it was taken.
///
/// At least once, never skipped: the cursor and the ledger are written only after a 2xx, so a crash, timeout or
/// outage sends the same events again under the same ids (which receivers drop). A failed request stops the pass and
/// retries it after 5 s × 2^failures (at most 10 min), without end: usage is never given up. A request the receiver
/// refuses as invalid (400, 413, 422) is split into single calls, so one bad event never holds its neighbours
/// back; a refused call is listed as `rejected` and skipped.
struct ExportPushService: Service {
    let database: any TallyStorage
    var pollInterval: Duration = .seconds(1)
    /// Change rows one read takes, and reads one pass makes before other sinks get their turn.
    var changesPerRead = 1_000
    var readsPerPass = 20
    let logger: Logger

    func run() async throws {
        let client = HTTPClient.shared
        while await pauseUnlessShuttingDown(pollInterval) {
            do {
                for sink in try await database.dueExportSinks() {
                    await pass(sink, client: client)
                }
            } catch {
                logger.warning("export push pass failed; retrying", metadata: ["cause": "\(error)"])
            }
        }
    }

    /// One pass over `sink`; errors are recorded on the sink (or logged when even that fails).
    func pass(_ sink: ExportSink, client: HTTPClient) async {
        do {
            try await push(sink, client: client)
        } catch {
            logger.warning("export push failed", metadata: ["sink": "\(sink.name)", "cause": "\(error)"])
            try? await database.recordExportFailure(
                sink, status: nil, error: "\(error)", retryAt: Self.retryAt(attempts: sink.attempts))
        }
    }

    enum Outcome {
        case taken
        /// The receiver refused the events as invalid.
        case refused(status: Int, error: String)
        case failed(status: Int?, error: String)
    }

    func push(_ sink: ExportSink, client: HTTPClient) async throws {
        var sink = sink
        for read in 0..<readsPerPass {
            guard let work = try await database.exportWork(sink, limit: changesPerRead) else {
                try await database.recordExportPass(sink, through: nil, issues: [], more: false)
                return
            }
            let plan = ExportPlanner.plan(work.calls, ledger: work.ledger, config: sink.config)
            for chunk in Self.requests(plan.pushes, batchSize: sink.config.batchSize) {
                switch await send(chunk, sink: sink, client: client) {
                case .taken:
                    guard try await database.recordExportTaken(sink, chunk) else { return }
                case .refused(let status, let error) where chunk.count > 1:
                    logger.info(
                        "export receiver refused a batch; sending its calls one by one",
                        metadata: ["sink": "\(sink.name)", "status": "\(status)", "cause": "\(error)"])
                    for single in chunk {
                        switch await send([single], sink: sink, client: client) {
                        case .taken:
                            guard try await database.recordExportTaken(sink, [single]) else { return }
                        case .refused(let status, let error):
                            try await database.recordExportRejected(sink, single, status: status, error: error)
                        case .failed(let status, let error):
                            return try await fail(sink, status: status, error: error)
                        }
                    }
                case .refused(let status, let error):
                    try await database.recordExportRejected(sink, chunk[0], status: status, error: error)
                case .failed(let status, let error):
                    return try await fail(sink, status: status, error: error)
                }
            }
            let more = !work.complete && read == readsPerPass - 1
            try await database.recordExportPass(sink, through: work.lastSeq, issues: plan.issues, more: more)
            if work.complete { return }
            sink.cursor = work.lastSeq
        }
    }

    func fail(_ sink: ExportSink, status: Int?, error: String) async throws {
        logger.warning(
            "export push failed; retrying", metadata: ["sink": "\(sink.name)", "cause": "\(error)"])
        try await database.recordExportFailure(
            sink, status: status, error: error, retryAt: Self.retryAt(attempts: sink.attempts))
    }

    /// Pushes packed into requests of at most `batchSize` events, a push never split (a correction's reversal and
    /// new event travel together).
    static func requests(_ pushes: [ExportPush], batchSize: Int) -> [[ExportPush]] {
        var out: [[ExportPush]] = []
        var current: [ExportPush] = []
        var events = 0
        for p in pushes {
            if !current.isEmpty, events + p.events.count > batchSize {
                out.append(current)
                current = []
                events = 0
            }
            current.append(p)
            events += p.events.count
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    func send(_ pushes: [ExportPush], sink: ExportSink, client: HTTPClient) async -> Outcome {
        let r = ExportRequest(
            pushes.flatMap(\.events), config: sink.config, apiKey: sink.apiKey, projectID: sink.projectID)
        let answer = await OutboundPost.send(
            client, url: r.url, headers: r.headers, body: r.body, timeout: .seconds(Int64(sink.config.timeoutSeconds)),
            bodyLimit: 4_096)
        if answer.isSuccess { return .taken }
        guard let status = answer.status else { return .failed(status: nil, error: answer.error ?? "no answer") }
        let error = "HTTP \(status)" + (answer.body.isEmpty ? "" : ": \(answer.body.prefix(300))")
        return [400, 413, 422].contains(status)
            ? .refused(status: status, error: error) : .failed(status: status, error: error)
    }

    /// 5 s × 2^attempts, at most 10 min, from now.
    static func retryAt(attempts: Int, now: Timestamp = .now()) -> Timestamp {
        Timestamp(
            microseconds: now.microseconds + OutboundPost.backoffMicros(attempt: attempts, capMicros: 600_000_000))
    }
}
