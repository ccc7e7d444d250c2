import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

/// A call made for several tenants at once (metadata `tenantShares`) is attributed to them pro rata everywhere a
/// tenant's spend is read: breakdowns (rollups and scans), the usage export, reconciliation, budgets, /metrics, a
/// tenant key's view and the billing sinks, each to the nano-dollar.
@Suite("Shared calls, pro rata")
struct SharedCallsTests {
    let sinks = ExportSinkTests()

    /// A batch job's call (its trace names no tenant) shared by acme and beta 1200:800, costing 1,001 nano-USD:
    /// acme 600.6 → 601, beta 400.4 → 400 (largest remainder). Its input 1,000 / output 201 split 600/400 and
    /// 121/80 (120.6 and 80.4).
    static func shared(_ id: String, shares: String, at: String, eventID: String? = nil) -> String {
        """
        {"id": "\(eventID ?? "e-\(id)")", "type": "generation-create", "timestamp": "\(at)",
         "body": {"id": "\(id)", "traceId": "batch", "model": "gpt-4o", "startTime": "\(at)",
                  "metadata": {"tenantShares": \(shares), "feature": "digest", "provider": "openai"},
                  "usageDetails": {"input": 1000, "output": 201}, "costDetails": {"total": 0.000001001}}}
        """
    }

    static func own(_ id: String, tenant: String, cost: String, at: String) -> String {
        """
        {"id": "e-\(id)", "type": "generation-create", "timestamp": "\(at)",
         "body": {"id": "\(id)", "traceId": "t-\(id)", "model": "gpt-4o", "startTime": "\(at)",
                  "metadata": {"tenantId": "\(tenant)", "feature": "chat", "provider": "openai"},
                  "usageDetails": {"input": 10, "output": 5}, "costDetails": {"total": \(cost)}}}
        """
    }

    static func json(_ text: String) -> [String: JSONValue] {
        (try? JSONValue.parse(Data(text.utf8)).objectValue) ?? [:]
    }

    /// Rows of a `data` array keyed by one field.
    static func rows(_ body: [String: JSONValue], by key: String) -> [String: [String: JSONValue]] {
        var out: [String: [String: JSONValue]] = [:]
        for row in body["data"]?.arrayValue ?? [] {
            guard let o = row.objectValue else { continue }
            out[o[key]?.stringValue ?? ""] = o
        }
        return out
    }

    @Test("split exactly in breakdowns, export, reconcile, budgets, /metrics, a tenant key and the sinks; re-split")
    func everywhere() async throws {
        try await sinks.withReceiver { env, receiver, url, client in
            func get(_ uri: String, auth: String? = nil) async throws -> (Int, String) {
                try await client.execute(uri: uri, method: .get, headers: [.authorization: auth ?? env.auth]) {
                    (Int($0.status.code), String(buffer: $0.body))
                }
            }
            _ = try await ExportSinkTests.call(
                client, env.auth, .put, "/api/tally/v1/exports/sinks/delta",
                #"{"type": "lago", "url": "\#(url)", "settleSeconds": 0, "corrections": "delta"}"#)
            _ = try await ExportSinkTests.call(
                client, env.auth, .put, "/api/tally/v1/exports/sinks/listed",
                #"{"type": "openmeter", "url": "\#(url)", "settleSeconds": 0}"#)
            let now = Timestamp.now()
            let at = Timestamp(microseconds: now.microseconds - 60_000_000).iso8601
            let batch = [
                Self.shared("gb", shares: #"{"acme": 1200, "beta": 800}"#, at: at),
                Self.own("ga", tenant: "acme", cost: "0.5", at: at),
                Self.shared("bad", shares: #"{"acme": -1}"#, at: at),
            ]
            let response = try await client.execute(
                uri: "/api/public/ingestion", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json"],
                body: ByteBuffer(string: #"{"batch": [\#(batch.joined(separator: ","))]}"#)
            ) { Self.json(String(buffer: $0.body)) }
            // The malformed shares are refused alone, with the reason; the neighbours are stored.
            let errors = response["errors"]?.arrayValue?.compactMap(\.objectValue) ?? []
            #expect(errors.count == 1 && errors.first?["status"] == 400)
            #expect(errors.first?["error"]?.stringValue?.contains("tenantShares") == true)
            #expect(response["successes"]?.arrayValue?.count == 2)

            let expected: [String: (calls: Int64, cost: String, input: Int64, output: Int64)] = [
                "acme": (2, "0.500000601", 610, 126), "beta": (0, "0.000000400", 400, 80),
            ]
            // Breakdowns: from the rollups (whole days), from a scan (an unaligned range), and the tenant page's
            // daily rollup, all alike.
            let from = Timestamp(microseconds: now.microseconds - 3_600_000_000).iso8601
            for uri in [
                "/api/tally/v1/breakdown?groupBy=tenant&metrics=count,totalCost,inputTokens,outputTokens",
                "/api/tally/v1/breakdown?groupBy=tenant&metrics=count,totalCost,inputTokens,outputTokens&from=\(from)",
                "/api/tally/v1/breakdown?groupBy=tenant,model&metrics=count,totalCost,inputTokens,outputTokens",
            ] {
                let (status, text) = try await get(uri)
                #expect(status == 200, "\(uri)")
                let byTenant = Self.rows(Self.json(text), by: "tenant")
                for (tenant, e) in expected {
                    let row = byTenant[tenant]
                    #expect(row?["count"] == .int(e.calls), "\(uri) \(tenant)")
                    #expect(row?["totalCost"]?.doubleValue == Double(e.cost), "\(uri) \(tenant)")
                    #expect(row?["inputTokens"] == .int(e.input) && row?["outputTokens"] == .int(e.output))
                }
                #expect(byTenant[""] == nil, "\(uri): nothing left unattributed")
            }
            // A breakdown that does not group by tenant counts the shared call once, whole.
            let (_, byModel) = try await get("/api/tally/v1/breakdown?groupBy=feature&metrics=count,totalCost")
            let digest = Self.rows(Self.json(byModel), by: "feature")["digest"]
            #expect(digest?["count"] == 1 && digest?["totalCost"]?.doubleValue == 0.000001001)

            // The usage export, exact decimals.
            let (_, export) = try await get("/api/tally/v1/exports/usage?groupBy=tenant")
            let exported = Self.rows(Self.json(export), by: "tenant")
            for (tenant, e) in expected {
                #expect(exported[tenant]?["calls"] == .int(e.calls) && exported[tenant]?["costUsd"] == .string(e.cost))
            }

            // A tenant key for beta sees its share, and nothing of acme's.
            let (_, created) = try await ExportSinkTests.call(
                client, env.auth, .post, "/api/tally/v1/keys", #"{"tenantId": "beta"}"#)
            let pk = try #require(created.objectValue?["publicKey"]?.stringValue)
            let sk = try #require(created.objectValue?["secretKey"]?.stringValue)
            let beta = "Basic " + Data("\(pk):\(sk)".utf8).base64EncodedString()
            let (_, own) = try await get("/api/tally/v1/exports/usage?groupBy=tenant", auth: beta)
            #expect(Self.rows(Self.json(own), by: "tenant").mapValues { $0["costUsd"] } == ["beta": "0.000000400"])

            // Reconciliation meters each tenant's share.
            let reconciled = try await client.execute(
                uri: "/api/tally/v1/reconcile", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json"],
                body: ByteBuffer(
                    string:
                        #"{"from": "2026-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z", "lines": [{"provider": "openai", "amountUsd": 1}]}"#
                )
            ) { Self.json(String(buffer: $0.body)) }
            let metered = Dictionary(
                uniqueKeysWithValues: (reconciled["tenants"]?.arrayValue ?? []).compactMap(\.objectValue).map {
                    ($0["tenant"]?.stringValue ?? "", $0["meteredUsd"]?.stringValue ?? "")
                })
            #expect(metered["acme"] == "0.500000601" && metered["beta"] == "0.000000400")

            // The budget ledger and the Prometheus counters take the same shares.
            let (_, budget) = try await get("/api/tally/v1/tenants/beta/budget")
            #expect(Self.json(budget)["month"]?.objectValue?["spentUsd"]?.doubleValue == 0.0000004)
            let (_, metrics) = try await get("/metrics")
            let betaCost = metrics.split(separator: "\n").first {
                $0.hasPrefix("llm_cost_usd_total{") && $0.contains(#"tenant_id="beta""#)
            }
            #expect(betaCost?.hasSuffix(#"feature="digest",model="gpt-4o",outcome="success"} 0.0000004"#) == true)

            // The sinks bill one event per share, ids `<observation>#<tenant>`.
            try await ExportSinkTests.pushAll(env.database)
            let lago = await receiver.kept("/api/v1/events/batch")
            #expect(Set(lago.keys) == ["ga", "gb#acme", "gb#beta"])
            #expect(lago["gb#beta"]?["properties"]?.objectValue?["cost_usd"] == "0.000000400")
            #expect(lago["gb#beta"]?["properties"]?.objectValue?["observation_id"] == "gb")
            #expect(lago["gb#beta"]?["properties"]?.objectValue?["input_tokens"] == 400)
            #expect(
                await receiver.sums("cost_usd", path: "/api/v1/events/batch") == [
                    "acme": Decimal(string: "0.500000601")!, "beta": Decimal(string: "0.0000004")!,
                ])

            // New weights re-split the call: gamma joins. The delta sink corrects acme and beta and bills gamma, so
            // its receiver's sums equal the export again; the listed sink lists the two corrections.
            _ = try await client.execute(
                uri: "/api/public/ingestion", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json"],
                body: ByteBuffer(
                    string:
                        #"{"batch": [\#(Self.shared("gb", shares: #"{"acme": 1, "beta": 1, "gamma": 2}"#, at: at, eventID: "e-gb2"))]}"#
                )
            ) { #expect($0.status.code == 207) }
            try await ExportSinkTests.pushAll(env.database)
            let (_, again) = try await get("/api/tally/v1/exports/usage?groupBy=tenant")
            let now2 = Self.rows(Self.json(again), by: "tenant").mapValues { $0["costUsd"]?.stringValue ?? "" }
            // 1,001 × (¼, ¼, ½) = 250.25, 250.25, 500.5 → 250, 250, 501 (gamma's .5 is the largest remainder).
            #expect(now2 == ["acme": "0.500000250", "beta": "0.000000250", "gamma": "0.000000501"])
            #expect(
                await receiver.sums("cost_usd", path: "/api/v1/events/batch") == [
                    "acme": Decimal(string: "0.50000025")!, "beta": Decimal(string: "0.00000025")!,
                    "gamma": Decimal(string: "0.000000501")!,
                ])
            let (_, listed) = try await ExportSinkTests.call(
                client, env.auth, .get, "/api/tally/v1/exports/sinks/listed")
            #expect(listed.objectValue?["corrections"]?.objectValue?["calls"] == 2)
            // The rollups still agree with a scan after the re-split.
            let (_, fast) = try await get("/api/tally/v1/breakdown?groupBy=tenant&metrics=count,totalCost")
            let (_, slow) = try await get("/api/tally/v1/breakdown?groupBy=tenant&metrics=count,totalCost&from=\(from)")
            #expect(Self.rows(Self.json(fast), by: "tenant") == Self.rows(Self.json(slow), by: "tenant"))
        }
    }

    @Test("OTLP: the tally.tenant_shares attribute splits a span's call")
    func otlpAttribute() async throws {
        let env = try await RouterTests().makeEnv()
        try await env.app.test(.router) { client in
            let start = Timestamp.now().microseconds * 1_000 - 60_000_000_000
            let body = """
                {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "app"}, "spans": [
                  {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "batch",
                   "kind": 3, "startTimeUnixNano": "\(start)", "endTimeUnixNano": "\(start + 1_000_000)",
                   "attributes": [
                     {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                     {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                     {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "300"}},
                     {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "30"}},
                     {"key": "tally.tenant_shares", "value": {"stringValue": "{\\"acme\\": 2, \\"beta\\": 1}"}}]}]}]}]}
                """
            let status = try await client.execute(
                uri: "/api/public/otel/v1/traces", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json"], body: ByteBuffer(string: body)
            ) { $0.status }
            #expect(status == .ok)
            let text = try await client.execute(
                uri: "/api/tally/v1/breakdown?groupBy=tenant&metrics=count,inputTokens,outputTokens", method: .get,
                headers: [.authorization: env.auth]
            ) { String(buffer: $0.body) }
            let byTenant = Self.rows(Self.json(text), by: "tenant")
            #expect(byTenant["acme"]?["inputTokens"] == 200 && byTenant["acme"]?["outputTokens"] == 20)
            #expect(byTenant["beta"]?["inputTokens"] == 100 && byTenant["beta"]?["count"] == 0)
        }
    }
}
