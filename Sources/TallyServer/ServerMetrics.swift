import Foundation
import Hummingbird
import Prometheus
import TallyStoreAPI

/// Tally's own health instruments, live for the life of the process (they start at 0 on a restart, as process
/// metrics do; Prometheus' rate() reads that as a reset): HTTP requests by route, method and status with their
/// durations, and ingest transactions with the events they stored, refused or lost. Shown on every project's
/// /metrics: they carry no tenant data.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// OTLP metrics pushes (with `--otlp-metrics-endpoint`).
    let pushes = PushCounters()
    private let transactionSeconds: ValueHistogram
    private let transactions: Counter

    /// Seconds; a request or transaction beyond the last bound counts in +Inf.
    static let durationBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    init() {
        transactionSeconds = registry.makeValueHistogram(
            name: "tally_ingest_transaction_duration_seconds", labels: [], buckets: Self.durationBuckets,
            help: "Ingest write transactions (group commits), from the start of the transaction to its commit.")
        transactions = registry.makeCounter(
            name: "tally_ingest_transactions_total", labels: [],
            help: "Ingest write transactions (one may carry several requests).")
    }

    /// Starts counting the database's ingest transactions.
    func observe(_ database: any TallyStorage) {
        database.commitFeed.subscribeReports { [self] report in
            transactions.increment()
            transactionSeconds.record(Self.seconds(report.duration))
            for (key, count) in report.events {
                registry.makeCounter(
                    name: "tally_ingest_events_total", labels: [("type", key.type), ("result", key.result)],
                    help:
                        "Ingested events (Langfuse events, OTLP spans, LangSmith runs) by type and result: stored, refused (invalid, its neighbours stored) or failed (the write failed; the client got a 5xx)."
                ).increment(by: Int64(count))
            }
        }
    }

    /// Counts one answered request. `route` is the matched route's pattern, so ids in paths do not make series;
    /// a method outside the standard ones counts as "other" (a client cannot add series at will).
    func request(route: String, method: String, status: Int, duration: Duration) {
        let method = Self.methods.contains(method) ? method : "other"
        let labels = [("route", route), ("method", method), ("status", String(status))]
        registry.makeCounter(
            name: "tally_http_requests_total", labels: labels,
            help: "HTTP requests answered, by route, method and status."
        ).increment()
        registry.makeValueHistogram(
            name: "tally_http_request_duration_seconds", labels: [("route", route)], buckets: Self.durationBuckets,
            help: "Time to answer HTTP requests (reading the body and handling it), by route."
        ).record(Self.seconds(duration))
    }

    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// Counts every request in `ServerMetrics`, with the status the client got (outermost, so errors turned into
/// responses inside are seen as their status). Unrouted requests (the UI's files, 404s) count under their kind, not
/// their path.
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.request(
                route: context.endpointPath ?? "static", method: request.method.rawValue,
                status: Int(response.status.code), duration: ContinuousClock.now - started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(
                route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: Int(status),
                duration: ContinuousClock.now - started)
            throw error
        }
    }
}
