import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// `GET /metrics`: the authenticated project's model-call counters (read from the store at each scrape, so a
/// restart neither loses nor doubles them) and Tally's health, in the Prometheus text format or OpenMetrics.
struct MetricsController: Sendable {
    let database: any TallyStorage
    let server: ServerMetrics
    let callLog: CallLogCounters?
    let limits: LLMMetrics.Limits

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("metrics") { request, context in
            let project = try context.requireProject()
            let format = Exposition.Format.negotiate(accept: request.headers[.accept])
            let body = try await exposition(projectID: project.id, format: format)
            return Response(
                status: .ok, headers: [.contentType: format.contentType, .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    func exposition(projectID: String, format: Exposition.Format) async throws -> [UInt8] {
        var out = Exposition(format: format)
        try await Self.write(database.llmMetrics(projectID: projectID, limits: limits, now: .now()), into: &out)
        try await writeHealth(projectID: projectID, into: &out)
        out.append(registryText: server.registry.emitToString())
        out.finish()
        return out.bytes
    }

    /// The model-call families, series in a stable order.
    static func write(_ m: LLMMetrics, into out: inout Exposition) {
        let keys = m.sortedSeriesKeys
        let sums = keys.map { m.series[$0]! }
        let rendered = keys.map { Exposition.render(labels($0)) }
        out.family("llm_requests", .counter, help: "Model calls (generations and embeddings), by the model requested.")
        for i in keys.indices {
            out.sample("llm_requests_total", rendered: rendered[i], sums[i].requests)
        }
        out.family(
            "llm_tokens", .counter,
            help:
                "Tokens of model calls by token_type: input and output as in Tally's analytics; cache_read, cache_write and reasoning are parts of them."
        )
        for i in keys.indices {
            for (type, tokens) in sums[i].tokensByType {
                out.sample("llm_tokens_total", rendered: rendered[i], extra: ("token_type", type), tokens)
            }
        }
        out.family("llm_cost_usd", .counter, help: "Cost of model calls in USD (given by the client, else inferred).")
        for i in keys.indices {
            out.sample("llm_cost_usd_total", rendered: rendered[i], sums[i].costNanos, nanos: true)
        }
        out.family(
            "llm_request_duration_seconds", .histogram,
            help: "Duration of model calls (end minus start), by the model requested and outcome.")
        for k in m.sortedLatencyKeys {
            let h = m.latency[k]!
            out.histogram(
                "llm_request_duration_seconds",
                ["environment": k.environment, "model": k.model, "outcome": k.outcome.rawValue],
                bounds: LLMMetrics.durationBounds, counts: h.counts, sum: h.sumSeconds)
        }
    }

    static func labels(_ k: LLMMetrics.SeriesKey) -> KeyValuePairs<String, String> {
        [
            "environment": k.environment, "tenant_id": k.tenant, "feature": k.feature, "model": k.model,
            "outcome": k.outcome.rawValue,
        ]
    }

    /// Each export sink of the project: what waits to be pushed and for how long, what was sent, whether the
    /// receiver is failing, and the calls it could not bill as they are (alert on `tally_export_lag_seconds`).
    private func writeExportSinks(projectID: String, into out: inout Exposition) async throws {
        let sinks = try await database.exportSinkStatuses(projectID: projectID)
        let now = Timestamp.now()
        out.family("tally_export_pending_changes", .gauge, help: "Billed changes not yet pushed, per export sink.")
        for s in sinks { out.sample("tally_export_pending_changes", ["sink": s.name], s.pendingChanges) }
        out.family(
            "tally_export_lag_seconds", .gauge, help: "Age of the oldest change not yet pushed (0 when none), per sink."
        )
        for s in sinks { out.sample("tally_export_lag_seconds", ["sink": s.name], s.lagSeconds(now: now)) }
        out.family("tally_export_events", .counter, help: "Usage events the sink's receiver took.")
        for s in sinks { out.sample("tally_export_events_total", ["sink": s.name], s.eventsSent) }
        out.family(
            "tally_export_failed_attempts", .gauge, help: "Failed pushes since the sink's last success (0: healthy).")
        for s in sinks { out.sample("tally_export_failed_attempts", ["sink": s.name], Int64(s.attempts)) }
        out.family(
            "tally_export_issues", .gauge,
            help: "Calls a sink could not bill as they are, by kind (correction, rejected, unattributed).")
        for s in sinks {
            for kind in ExportIssueKind.allCases {
                out.sample(
                    "tally_export_issues", ["sink": s.name, "kind": kind.rawValue], s.issueTotals[kind]?.count ?? 0)
            }
        }
    }

    /// The store's and the process's state at this scrape.
    private func writeHealth(projectID: String, into out: inout Exposition) async throws {
        let health = try await database.healthFigures(projectID: projectID)
        out.family("tally_ingest_queue_events", .gauge, help: "Events waiting for or in the ingest write.")
        out.sample("tally_ingest_queue_events", [:], Int64(await database.queuedEvents()))
        out.family(
            "tally_database_bytes", .gauge, help: "Size of the database (SQLite: its files; PostgreSQL: the database).")
        for (file, bytes) in health.fileBytes.sorted(by: { $0.key < $1.key }) {
            out.sample("tally_database_bytes", ["file": file], bytes)
        }
        out.family(
            "tally_alert_deliveries", .gauge,
            help: "This project's alert webhook deliveries by status (pending, delivered, failed).")
        for status in ["pending", "delivered", "failed"] {
            out.sample("tally_alert_deliveries", ["status": status], health.alertDeliveries[status] ?? 0)
        }
        try await writeExportSinks(projectID: projectID, into: &out)
        let log = callLog?.snapshot ?? (written: 0, dropped: 0)
        out.family(
            "tally_call_log_lines", .counter,
            help: "Call log lines written, and dropped (log unwritable or its queue full; ingestion goes on).")
        out.sample("tally_call_log_lines_total", ["result": "written"], Int64(log.written))
        out.sample("tally_call_log_lines_total", ["result": "dropped"], Int64(log.dropped))
        let pushes = server.pushes.snapshot
        out.family(
            "tally_otlp_metrics_pushes", .counter, help: "OTLP metrics pushes answered 2xx (succeeded) or not (failed)."
        )
        out.sample("tally_otlp_metrics_pushes_total", ["result": "succeeded"], Int64(pushes.succeeded))
        out.sample("tally_otlp_metrics_pushes_total", ["result": "failed"], Int64(pushes.failed))
        if let rss = Self.residentBytes() {
            out.family("process_resident_memory_bytes", .gauge, help: "Resident memory of the Tally process.")
            out.sample("process_resident_memory_bytes", [:], rss)
        }
    }

    /// Resident set size from /proc/self/statm (Linux); nil elsewhere.
    static func residentBytes() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int64(fields[1]) else { return nil }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
