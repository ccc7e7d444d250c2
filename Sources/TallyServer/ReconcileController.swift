import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// `POST /api/tally/v1/reconcile?allocate=direct|activity|weighted&format=json|csv` with a provider's invoice
/// `{"from", "to", "lines": [{"provider", "model"?, "amountUsd"}]}`: per line what Tally metered for the same scope
/// (provider, and model when given, calls in [from, to), errors included), the variance, the spend that names no
/// tenant, and the invoice allocated to tenants; plus the back-test of direct against activity allocation per tenant.
struct ReconcileController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.post("reconcile", use: reconcile)
    }

    /// At most this many invoice lines, each at most ±10^9 USD.
    static let maxLines = 1_000
    static let maxAmountUSD = 1e9

    @Sendable func reconcile(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        let method = try r.enumValue("allocate", Reconciliation.Method.self) ?? .direct
        let format = try r.enumValue("format", UsageExportFormat.self) ?? .json
        guard format != .jsonl else { throw APIError.invalid("format: expected json or csv") }
        let (from, to, lines) = try Self.invoice(try await bodyReader.json(request))
        let usage = try await database.reconciliationUsage(projectID: project.id, from: from, to: to)
        let results = Reconciliation.reconcile(lines, usage: usage, method: method)
        var tenants: [String: (allocated: Int64, metered: Int64, calls: Int64)] = [:]
        for result in results {
            for (tenant, amount) in result.allocation { tenants[tenant, default: (0, 0, 0)].allocated += amount }
        }
        for u in usage where lines.contains(where: { Reconciliation.matches(u, $0) }) {
            tenants[u.tenant, default: (0, 0, 0)].metered += u.costNanos
            tenants[u.tenant, default: (0, 0, 0)].calls += u.calls
        }
        let names = tenants.keys.sorted()
        if format == .csv {
            let header = CSV.line(["tenant", "allocatedUsd", "meteredUsd", "calls"])
            let body = names.map { t in
                CSV.line([
                    t, Money.decimal(nanos: tenants[t]!.allocated), Money.decimal(nanos: tenants[t]!.metered),
                    String(tenants[t]!.calls),
                ])
            }.joined()
            return Response(
                status: .ok,
                headers: [
                    .contentType: UsageExportFormat.csv.contentType,
                    .contentDisposition: "attachment; filename=\"tally-allocation-\(method.rawValue).csv\"",
                ], body: ResponseBody(byteBuffer: ByteBuffer(string: header + body)))
        }
        // Back-test: the whole invoice by direct and by activity allocation, side by side.
        func whole(_ m: Reconciliation.Method) -> [String: Int64] {
            Reconciliation.reconcile(lines, usage: usage, method: m).reduce(into: [:]) { sums, line in
                for (t, v) in line.allocation { sums[t, default: 0] += v }
            }
        }
        let direct = whole(.direct)
        let activity = whole(.activity)
        let backtest: [JSONValue] = Set(direct.keys).union(activity.keys).sorted().map { t in
            let d = direct[t] ?? 0
            let a = activity[t] ?? 0
            return [
                "tenant": .string(t), "directUsd": .string(Money.decimal(nanos: d)),
                "activityUsd": .string(Money.decimal(nanos: a)),
                "divergenceUsd": .string(Money.decimal(nanos: a - d)),
                "divergencePercent": d == 0 ? .null : .double(Double(a - d) / Double(d) * 100),
            ]
        }
        let body: JSONValue = [
            "from": .string(from.iso8601), "to": .string(to.iso8601), "allocate": .string(method.rawValue),
            "lines": .array(
                results.map { l in
                    [
                        "provider": .string(l.line.provider), "model": l.line.model.map { .string($0) } ?? .null,
                        "invoiceUsd": .string(Money.decimal(nanos: l.line.amountNanos)),
                        "meteredUsd": .string(Money.decimal(nanos: l.meteredNanos)), "calls": .int(l.calls),
                        "varianceUsd": .string(Money.decimal(nanos: l.varianceNanos)),
                        "variancePercent": l.variancePercent.map { .double($0) } ?? .null,
                        "unattributedUsd": .string(Money.decimal(nanos: l.unattributedNanos)),
                    ]
                }),
            "tenants": .array(
                names.map { t in
                    [
                        "tenant": t.isEmpty ? .null : .string(t),
                        "allocatedUsd": .string(Money.decimal(nanos: tenants[t]!.allocated)),
                        "meteredUsd": .string(Money.decimal(nanos: tenants[t]!.metered)),
                        "calls": .int(tenants[t]!.calls),
                    ]
                }),
            "backtest": .array(backtest),
        ]
        return JSONResponse.make(body)
    }

    /// The invoice body, validated: a 400 names the field.
    static func invoice(_ json: JSONValue) throws -> (Timestamp, Timestamp, [Reconciliation.InvoiceLine]) {
        guard let o = json.objectValue else { throw APIError.invalid("body: expected a JSON object") }
        guard let fromText = o["from"]?.stringValue, let from = Timestamp(iso8601: fromText) else {
            throw APIError.invalid("from: required, an ISO-8601 date-time")
        }
        guard let toText = o["to"]?.stringValue, let to = Timestamp(iso8601: toText) else {
            throw APIError.invalid("to: required, an ISO-8601 date-time")
        }
        guard from < to else { throw APIError.invalid("from must be before to") }
        guard let raw = o["lines"]?.arrayValue, (1...maxLines).contains(raw.count) else {
            throw APIError.invalid("lines: required, 1–\(maxLines) invoice lines")
        }
        let lines = try raw.enumerated().map { i, value -> Reconciliation.InvoiceLine in
            guard let line = value.objectValue, let provider = line["provider"]?.stringValue, !provider.isEmpty,
                provider.count <= 200
            else { throw APIError.invalid("lines[\(i)].provider: required, 1–200 characters") }
            let model = line["model"]?.stringValue
            if let model, model.isEmpty || model.utf8.count > 256 {
                throw APIError.invalid("lines[\(i)].model: 1–256 bytes when given")
            }
            guard let usd = line["amountUsd"]?.doubleValue, usd.isFinite, abs(usd) <= maxAmountUSD else {
                throw APIError.invalid(
                    "lines[\(i)].amountUsd: required, a number of USD within ±\(Int64(maxAmountUSD))")
            }
            return Reconciliation.InvoiceLine(
                provider: provider, model: model, amountNanos: Money.nanos(usd: usd))
        }
        return (from, to, lines)
    }
}
