import Foundation
import TallyCore
import TallyStoreAPI

/// The reads of a usage-export pass, written once over any `SQLReader`.
extension SQLReader {
    /// The calls `ids` as a sink bills them now: a shared call once per tenant share (`BillableCall.id`
    /// `<id>#<tenant>`), any other once. Calls deleted since are absent.
    public func sharedBillableCalls(projectID: String, ids: [String]) async throws -> [String: [BillableCall]] {
        let split = analytics.usageSplit()
        let query = SQLQuery(
            """
            SELECT o.id, o.trace_id, o.type, o.environment, o.tenant,
                \(dialect.int("o.share_cache_read IS NOT NULL")) AS share, o.feature, o.model,
                \(dialect.int("o.level = 'ERROR'")) AS err, \(dialect.int("o.is_placeholder")) AS placeholder,
                o.start_time, o.input_tokens, o.output_tokens, \(split[0].sql) AS crt, \(split[1].sql) AS cwt,
                \(split[2].sql) AS rt, coalesce(o.total_cost_nanos, 0) AS cn, coalesce(o.savings_nanos, 0) AS sv
            FROM \(AnalyticsSQL.callSource(perTenant: true)) o
            WHERE o.project_id = ? AND o.id IN (SELECT value FROM \(dialect.strings("j")))
            """,
            split.flatMap(\.values) + [.text(projectID), .text(Self.jsonList(ids))])
        var byID: [String: [BillableCall]] = [:]
        for r in try await rows(query) {
            guard let id = r.text("id"), let start = r.int("start_time") else { continue }
            let tenant = r.text("tenant")
            var c = BillableCall(
                observationID: id, traceID: r.text("trace_id") ?? "", type: r.text("type") ?? "",
                environment: r.text("environment") ?? "", startTime: Timestamp(microseconds: start),
                shareTenant: r.int("share") == 1 ? tenant : nil)
            c.tenant = tenant
            c.feature = r.text("feature")
            c.model = r.text("model")
            c.isError = r.int("err") == 1
            c.isPlaceholder = r.int("placeholder") == 1
            c.figures = UsageFigures(
                inputTokens: r.int("input_tokens") ?? 0, outputTokens: r.int("output_tokens") ?? 0,
                cacheReadTokens: r.int("crt") ?? 0, cacheWriteTokens: r.int("cwt") ?? 0,
                reasoningTokens: r.int("rt") ?? 0, costNanos: r.int("cn") ?? 0, cacheSavingsNanos: r.int("sv") ?? 0)
            byID[id, default: []].append(c)
        }
        return byID
    }

    /// What sink `sink`'s receiver holds for the calls `ids`: the ledger entries by billing id, and per call the
    /// billing ids held for it (its own id, or its shares' `<id>#<tenant>`).
    public func sharedExportLedger(projectID: String, sink: String, ids: [String]) async throws
        -> (ledger: [String: LedgerEntry], held: [String: [String]])
    {
        let query = SQLQuery(
            """
            SELECT j.value AS held_for, l.observation_id, l.revision, l.subject, l.model, l.feature, l.timestamp,
                l.input_tokens, l.output_tokens, l.cache_read_tokens, l.cache_write_tokens, l.reasoning_tokens,
                l.cost_nanos, l.cache_savings_nanos
            FROM \(dialect.strings("j"))
            JOIN export_ledger l ON l.project_id = ? AND l.sink = ?
                AND (l.observation_id = \(dialect.bytewise("j.value"))
                    OR (l.observation_id > \(dialect.bytewise("j.value || '#'"))
                        AND l.observation_id < \(dialect.bytewise("j.value || '$'"))))
            """, [.text(Self.jsonList(ids)), .text(projectID), .text(sink)])
        var ledger: [String: LedgerEntry] = [:]
        var held: [String: [String]] = [:]
        for r in try await rows(query) {
            guard let key = r.text("observation_id"), let heldFor = r.text("held_for") else { continue }
            let subject = r.text("subject") ?? ""
            let values =
                subject.isEmpty
                ? nil
                : BilledValues(
                    subject: subject, model: r.text("model") ?? "", feature: r.text("feature") ?? "",
                    timestamp: r.int("timestamp") ?? 0,
                    figures: UsageFigures(
                        inputTokens: r.int("input_tokens") ?? 0, outputTokens: r.int("output_tokens") ?? 0,
                        cacheReadTokens: r.int("cache_read_tokens") ?? 0,
                        cacheWriteTokens: r.int("cache_write_tokens") ?? 0,
                        reasoningTokens: r.int("reasoning_tokens") ?? 0, costNanos: r.int("cost_nanos") ?? 0,
                        cacheSavingsNanos: r.int("cache_savings_nanos") ?? 0))
            ledger[key] = LedgerEntry(revision: Int(r.int("revision") ?? 0), values: values)
            held[heldFor, default: []].append(key)
        }
        return (ledger, held)
    }

    /// The work of a pass over the changed calls `ids` (in change order) up to `lastSeq`: each call as it is now,
    /// and a `withdrawn` call for every billing id the receiver holds that no longer stands for anything (the call
    /// became shared, or a tenant left its shares).
    public func sharedExportWork(
        projectID: String, sink: String, ids: [String], lastSeq: Int64, complete: Bool
    ) async throws -> ExportWork {
        let byID = try await sharedBillableCalls(projectID: projectID, ids: ids)
        let (ledger, held) = try await sharedExportLedger(projectID: projectID, sink: sink, ids: ids)
        var calls: [BillableCall] = []
        for id in ids {
            guard let current = byID[id], let first = current.first else { continue }
            calls += current
            let billed = Set(current.map(\.id))
            for key in (held[id] ?? []).sorted() where !billed.contains(key) {
                var gone = first
                gone.id = key
                gone.withdrawn = true
                calls.append(gone)
            }
        }
        return ExportWork(lastSeq: lastSeq, complete: complete, calls: calls, ledger: ledger)
    }

    static func jsonList(_ ids: [String]) -> String { JSONValue.array(ids.map(JSONValue.string)).serialized() }
}
