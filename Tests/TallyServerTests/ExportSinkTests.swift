import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

/// A billing system's event endpoint on loopback: records every request and answers from a script (a status per
/// request, or a delay past the sink's timeout), then 200. It keeps events by id as Lago and OpenMeter do: a
/// duplicate id is dropped.
actor FakeBillingReceiver {
    struct Received {
        var path: String
        var headers: [String: String]
        var body: JSONValue
    }
    enum Step {
        case status(Int)
        case delay(Duration)
        /// Refuse (422) a request that holds an event for this subject; take the others.
        case refuseSubject(String)
    }
    var script: [Step] = []
    var requests: [Received] = []
    /// Kept events by path (one per sink type), then id.
    var events: [String: [String: [String: JSONValue]]] = [:]
    var duplicates = 0
    var refusedSubject: String?

    func play(_ steps: [Step]) { script += steps }
    func refuse(subject: String?) { refusedSubject = subject }

    func take(path: String, headers: [String: String], body: JSONValue) async -> Int {
        requests.append(Received(path: path, headers: headers, body: body))
        let list: [JSONValue] =
            path.hasSuffix("/batch") ? body.objectValue?["events"]?.arrayValue ?? [] : body.arrayValue ?? []
        let items = list.compactMap(\.objectValue)
        if let refusedSubject,
            items.contains(where: { ($0["external_subscription_id"] ?? $0["subject"])?.stringValue == refusedSubject })
        {
            return 422
        }
        if !script.isEmpty {
            switch script.removeFirst() {
            case .status(let code): return code
            case .delay(let d): try? await Task.sleep(for: d)
            case .refuseSubject: break
            }
        }
        for item in items {
            guard let id = (item["transaction_id"] ?? item["id"])?.stringValue else { continue }
            if events[path, default: [:]][id] != nil { duplicates += 1 } else { events[path, default: [:]][id] = item }
        }
        return path.hasSuffix("/batch") ? 200 : 204
    }

    /// Sums a figure of the kept events per subject (properties for Lago, data for OpenMeter).
    func sums(_ field: String, path: String? = nil) -> [String: Decimal] {
        var out: [String: Decimal] = [:]
        for e in kept(path).values {
            let subject = (e["external_subscription_id"] ?? e["subject"])?.stringValue ?? "?"
            let fields = (e["properties"] ?? e["data"])?.objectValue ?? [:]
            let value: Decimal
            switch fields[field] {
            case .string(let s)?: value = Decimal(string: s) ?? .nan
            case .int(let i)?: value = Decimal(i)
            default: continue
            }
            out[subject, default: 0] += value
        }
        return out
    }

    func allRequests() -> [Received] { requests }
    /// The kept events of `path` (of every path when nil).
    func kept(_ path: String? = nil) -> [String: [String: JSONValue]] {
        if let path { return events[path] ?? [:] }
        return events.values.reduce(into: [:]) { $0.merge($1) { a, _ in a } }
    }

    static func router(_ receiver: FakeBillingReceiver) -> Router<BasicRequestContext> {
        let router = Router()
        for path in ["/api/v1/events/batch", "/api/v1/events"] {
            router.post(RouterPath(path)) { request, _ -> Response in
                let data = try await request.body.collect(upTo: 16 * 1_048_576)
                var headers: [String: String] = [:]
                for field in request.headers { headers[field.name.canonicalName] = field.value }
                let body = (try? JSONValue.parse(Data(buffer: data))) ?? .null
                let status = await receiver.take(path: path, headers: headers, body: body)
                return Response(
                    status: .init(code: status), body: .init(byteBuffer: ByteBuffer(string: #"{"ok": true}"#)))
            }
        }
        return router
    }
}

@Suite("Usage export sinks (Lago, OpenMeter)")
struct ExportSinkTests {
    let env = RouterTests()

    static func trace(_ id: String, tenant: String?) -> String {
        let metadata = tenant.map { #", "metadata": {"tenantId": "\#($0)", "feature": "chat"}"# } ?? ""
        return """
            {"id": "e-\(id)", "type": "trace-create", "timestamp": "2026-11-30T10:00:00Z", "body": {"id": "\(id)"\(metadata)}}
            """
    }

    static func generation(
        _ id: String, trace: String, cost: Double, input: Int = 100, output: Int = 20, cacheRead: Int = 0,
        level: String = "DEFAULT", eventID: String? = nil
    ) -> String {
        """
        {"id": "\(eventID ?? "e-\(id)")", "type": "generation-create", "timestamp": "2026-11-30T10:00:01Z",
         "body": {"id": "\(id)", "traceId": "\(trace)", "model": "gpt-4o", "startTime": "2026-11-30T10:00:01.250Z",
                  "level": "\(level)", "usageDetails": {"input": \(input), "output": \(output), "cache_read_input_tokens": \(cacheRead)},
                  "costDetails": {"total": \(cost)}}}
        """
    }

    static func ingest(_ client: some TestClientProtocol, _ env: RouterTests.Env, _ events: [String]) async throws {
        try await RouterTests.ingest(client, env, batch: #"{"batch": [\#(events.joined(separator: ","))]}"#)
    }

    static func call(
        _ client: some TestClientProtocol, _ auth: String, _ method: HTTPRequest.Method, _ uri: String,
        _ body: String? = nil
    ) async throws -> (Int, JSONValue) {
        try await client.execute(
            uri: uri, method: method, headers: [.authorization: auth, .contentType: "application/json"],
            body: body.map { ByteBuffer(string: $0) }
        ) { ($0.status.code, (try? JSONValue.parse(Data(buffer: $0.body))) ?? .null) }
    }

    /// Runs one pass of every sink, whatever its next push time.
    static func pushAll(_ database: TallyDatabase) async throws {
        let service = ExportPushService(database: database, logger: Logger(label: "test"))
        for sink in try await database.dueExportSinks(now: Timestamp(microseconds: Int64.max / 2)) {
            await service.pass(sink, client: HTTPClient.shared)
        }
    }

    /// The usage export's billable cost per tenant (exact decimals), tenants with calls only.
    static func billed(_ client: some TestClientProtocol, _ auth: String) async throws -> [String: Decimal] {
        let (_, body) = try await call(client, auth, .get, "/api/tally/v1/exports/usage?groupBy=tenant")
        var out: [String: Decimal] = [:]
        for row in body.objectValue?["data"]?.arrayValue ?? [] {
            guard let o = row.objectValue, let tenant = o["tenant"]?.stringValue, o["calls"] != 0,
                let cost = o["costUsd"]?.stringValue.flatMap({ Decimal(string: $0) })
            else { continue }
            out[tenant] = cost
        }
        return out
    }

    /// Runs `body` against Tally's router (its push service idle: the test pushes with `pushAll`) and a fake
    /// receiver on a loopback port (`url`).
    func withReceiver(
        _ body:
            @escaping @Sendable (RouterTests.Env, FakeBillingReceiver, String, any TestClientProtocol) async throws ->
            Void
    ) async throws {
        let env = try await env.makeEnv { $0.deliveryPollInterval = .seconds(3_600) }
        let receiver = FakeBillingReceiver()
        let receiverApp = Application(
            router: FakeBillingReceiver.router(receiver), configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await receiverApp.test(.live) { rc in
            let url = "http://127.0.0.1:\(try #require(rc.port))"
            try await env.app.test(.router) { client in try await body(env, receiver, url, client) }
        }
    }

    @Test("Lago: request shape, batches of batchSize, subject map, errors and unattributed calls apart, nothing twice")
    func lagoShape() async throws {
        try await withReceiver { env, receiver, url, client in
            let (status, created) = try await Self.call(
                client, env.auth, .put, "/api/tally/v1/exports/sinks/lago",
                #"{"type": "lago", "url": "\#(url)/", "apiKey": "lago-key", "code": "llm_cost", "batchSize": 2, "settleSeconds": 0, "subjectMap": {"acme": "sub_acme"}}"#
            )
            #expect(status == 201)
            #expect(created.objectValue?["hasApiKey"] == true && created.objectValue?["apiKey"] == nil)
            #expect(created.objectValue?["url"]?.stringValue == url)
            try await Self.ingest(
                client, env,
                [
                    Self.trace("ta", tenant: "acme"), Self.trace("tb", tenant: "beta"),
                    Self.trace("tn", tenant: nil),
                    Self.generation("g1", trace: "ta", cost: 0.000512, cacheRead: 40),
                    Self.generation("g2", trace: "ta", cost: 0.25),
                    Self.generation("g3", trace: "tb", cost: 1.5),
                    Self.generation("g4", trace: "tb", cost: 0.75, level: "ERROR"),
                    Self.generation("g5", trace: "tn", cost: 0.1),
                ])
            try await Self.pushAll(env.database)
            let requests = await receiver.allRequests()
            #expect(requests.count == 2)
            for r in requests {
                #expect(r.path == "/api/v1/events/batch")
                #expect(r.headers["authorization"] == "Bearer lago-key")
                #expect(r.headers["content-type"] == "application/json")
                #expect((r.body.objectValue?["events"]?.arrayValue?.count ?? 0) <= 2)
            }
            let kept = await receiver.kept()
            #expect(Set(kept.keys) == ["g1", "g2", "g3"])
            let g1 = try #require(kept["g1"])
            #expect(g1["external_subscription_id"] == "sub_acme" && g1["code"] == "llm_cost")
            #expect(g1["timestamp"] == .int(1_796_032_801))
            let p = try #require(g1["properties"]?.objectValue)
            #expect(p["cost_usd"] == "0.000512000" && p["input_tokens"] == 140 && p["output_tokens"] == 20, "\(p)")  // input counts its cache reads
            #expect(p["cache_read_tokens"] == 40 && p["model"] == "gpt-4o" && p["feature"] == "chat")
            #expect(p["tenant_id"] == "acme" && p["trace_id"] == "ta" && p["observation_id"] == "g1")
            #expect(kept["g3"]?["external_subscription_id"] == "beta")
            #expect(await receiver.sums("cost_usd") == ["sub_acme": Decimal(string: "0.250512")!, "beta": 1.5])

            // Nothing changed: nothing is sent again.
            try await Self.pushAll(env.database)
            #expect(await receiver.allRequests().count == 2)
            let (_, sink) = try await Self.call(client, env.auth, .get, "/api/tally/v1/exports/sinks/lago")
            let s = try #require(sink.objectValue)
            #expect(s["status"]?.objectValue?["pendingChanges"] == 0)
            #expect(s["status"]?.objectValue?["eventsSent"] == 3)
            #expect(s["unattributed"]?.objectValue?["calls"] == 1)
            #expect(s["unattributed"]?.objectValue?["costUsd"] == "0.100000000")
            #expect(
                s["unattributed"]?.objectValue?["recent"]?.arrayValue?.first?.objectValue?["observationId"] == "g5")

            // The trace of g5 names its tenant later: g5 is pushed and no longer unattributed.
            try await Self.ingest(
                client, env,
                [Self.trace("tn", tenant: "gamma").replacingOccurrences(of: "e-tn", with: "e-tn2")])
            try await Self.pushAll(env.database)
            #expect(await receiver.kept()["g5"]?["external_subscription_id"] == "gamma")
            let (_, after) = try await Self.call(client, env.auth, .get, "/api/tally/v1/exports/sinks")
            let listed = try #require(after.objectValue?["data"]?.arrayValue?.first?.objectValue)
            #expect(listed["unattributed"]?.objectValue?["calls"] == 0)
        }
    }

    @Test("an outage (5xx, a timeout) loses nothing and bills nothing twice; totals equal the breakdown's")
    func outage() async throws {
        try await withReceiver { env, receiver, url, client in
            _ = try await Self.call(
                client, env.auth, .put, "/api/tally/v1/exports/sinks/om",
                #"{"type": "openmeter", "url": "\#(url)", "batchSize": 3, "settleSeconds": 0, "timeoutSeconds": 1}"#
            )
            var events = [Self.trace("ta", tenant: "acme"), Self.trace("tb", tenant: "beta")]
            for i in 0..<10 {
                events.append(
                    Self.generation("g\(i)", trace: i % 3 == 0 ? "tb" : "ta", cost: 0.001 * Double(i + 1)))
            }
            try await Self.ingest(client, env, events)
            // Two requests fail, the third is taken but answered too late (the sink's timeout is 1 s).
            await receiver.play([.status(503), .status(500), .delay(.seconds(2))])
            try await Self.pushAll(env.database)
            var (_, sink) = try await Self.call(client, env.auth, .get, "/api/tally/v1/exports/sinks/om")
            var status = try #require(sink.objectValue?["status"]?.objectValue)
            #expect(status["lastStatus"] == 503 && status["failedAttempts"] == 1)
            #expect(status["pendingChanges"] == 10 && status["eventsSent"] == 0)
            // /metrics tells an operator the sink is stuck.
            let scrape = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: env.auth]) {
                String(buffer: $0.body)
            }
            #expect(scrape.contains("tally_export_pending_changes{sink=\"om\"} 10\n"))
            #expect(scrape.contains("tally_export_failed_attempts{sink=\"om\"} 1\n"))
            #expect(scrape.contains("tally_export_issues{sink=\"om\",kind=\"rejected\"} 0\n"))
            #expect(scrape.contains("# TYPE tally_export_lag_seconds gauge"))
            try await Self.pushAll(env.database)
            try await Self.pushAll(env.database)
            (_, sink) = try await Self.call(client, env.auth, .get, "/api/tally/v1/exports/sinks/om")
            status = try #require(sink.objectValue?["status"]?.objectValue)
            #expect(status["failedAttempts"] == 3)
            // Retried until taken (a connection the timeout cut may fail once more); the late batch lands too.
            for _ in 0..<5 {
                try await Self.pushAll(env.database)
                (_, sink) = try await Self.call(client, env.auth, .get, "/api/tally/v1/exports/sinks/om")
                status = try #require(sink.objectValue?["status"]?.objectValue)
                if status["pendingChanges"] == 0 { break }
            }
            #expect(status["failedAttempts"] == 0 && status["pendingChanges"] == 0)
            try await Task.sleep(for: .seconds(1.5))
            #expect(await receiver.duplicates == 3)  // the late-answered batch came again
            #expect(await receiver.kept().count == 10)
            let first = try #require(await receiver.allRequests().first)
            #expect(first.path == "/api/v1/events")
            #expect(first.headers["content-type"] == "application/cloudevents-batch+json")
            #expect(first.headers["authorization"] == nil)
            let e = try #require(first.body.arrayValue?.first?.objectValue)
            #expect(e["specversion"] == "1.0" && e["source"] == "tally/proj-1" && e["type"] == "llm.usage")
            #expect(e["time"] == "2026-11-30T10:00:01.250Z" && e["datacontenttype"] == "application/json")
            #expect(e["subject"]?.stringValue == "acme" || e["subject"]?.stringValue == "beta")
            let expected = try await Self.billed(client, env.auth)
            #expect(await receiver.sums("cost_usd") == expected)
        }
    }

    @Test("corrections: listed by default; sent as deltas (and reversal + new on a tenant change) when asked")
    func corrections() async throws {
        try await withReceiver { env, receiver, url, client in
            _ = try await Self.call(
                client, env.auth, .put, "/api/tally/v1/exports/sinks/listed",
                #"{"type": "lago", "url": "\#(url)", "settleSeconds": 0}"#)
            _ = try await Self.call(
                client, env.auth, .put, "/api/tally/v1/exports/sinks/delta",
                #"{"type": "openmeter", "url": "\#(url)", "settleSeconds": 0, "corrections": "delta"}"#)
            try await Self.ingest(
                client, env,
                [
                    Self.trace("ta", tenant: "acme"), Self.generation("g1", trace: "ta", cost: 0.5),
                    Self.generation("g2", trace: "ta", cost: 0.2),
                ])
            try await Self.pushAll(env.database)
            // g1's usage and cost grow (a later update); g2 turns out to have failed.
            try await Self.ingest(
                client, env,
                [
                    Self.generation("g1", trace: "ta", cost: 0.8, input: 160, eventID: "e-g1b"),
                    Self.generation("g2", trace: "ta", cost: 0.2, level: "ERROR", eventID: "e-g2b"),
                ])
            try await Self.pushAll(env.database)
            let (_, listed) = try await Self.call(client, env.auth, .get, "/api/tally/v1/exports/sinks/listed")
            let corrections = try #require(listed.objectValue?["corrections"]?.objectValue)
            #expect(corrections["calls"] == 2 && corrections["costUsd"] == "0.100000000")  // +0.3 and −0.2
            let recent = corrections["recent"]?.arrayValue?.compactMap(\.objectValue) ?? []
            let g1 = try #require(recent.first { $0["observationId"] == "g1" })
            #expect(g1["detail"]?.objectValue?["pushed"]?.objectValue?["costUsd"] == "0.500000000")
            #expect(g1["detail"]?.objectValue?["current"]?.objectValue?["costUsd"] == "0.800000000")
            let kept = await receiver.kept("/api/v1/events")
            #expect(kept["g1:r2"]?["data"]?.objectValue?["cost_usd"] == "0.300000000")
            #expect(kept["g1:r2"]?["data"]?.objectValue?["input_tokens"] == 60)
            #expect(kept["g1:r2"]?["data"]?.objectValue?["correction_of"] == "g1")
            #expect(kept["g2:r2:reversal"]?["data"]?.objectValue?["cost_usd"] == "-0.200000000")

            // The tenant changes: the delta sink reverses acme's event and bills beta.
            try await Self.ingest(
                client, env, [Self.trace("ta", tenant: "beta").replacingOccurrences(of: "e-ta", with: "e-ta2")]
            )
            try await Self.pushAll(env.database)
            // The listed sink keeps what it sent (acme 0.5 + 0.2); the delta sink moved 0.8 to beta.
            #expect(
                await receiver.sums("cost_usd", path: "/api/v1/events/batch") == ["acme": Decimal(string: "0.7")!])
            #expect(
                await receiver.sums("cost_usd", path: "/api/v1/events") == [
                    "acme": 0, "beta": Decimal(string: "0.8")!,
                ])
            #expect(try await Self.billed(client, env.auth) == ["beta": Decimal(string: "0.8")!])
        }
    }

    @Test("a refused event is isolated and listed; its neighbours are taken and the cursor moves on")
    func rejected() async throws {
        try await withReceiver { env, receiver, url, client in
            _ = try await Self.call(
                client, env.auth, .put, "/api/tally/v1/exports/sinks/lago",
                #"{"type": "lago", "url": "\#(url)", "settleSeconds": 0}"#)
            await receiver.refuse(subject: "unknown-customer")
            try await Self.ingest(
                client, env,
                [
                    Self.trace("ta", tenant: "acme"), Self.trace("tx", tenant: "unknown-customer"),
                    Self.generation("g1", trace: "ta", cost: 0.1), Self.generation("g2", trace: "tx", cost: 0.2),
                    Self.generation("g3", trace: "ta", cost: 0.3),
                ])
            try await Self.pushAll(env.database)
            #expect(Set(await receiver.kept().keys) == ["g1", "g3"])
            let (_, sink) = try await Self.call(client, env.auth, .get, "/api/tally/v1/exports/sinks/lago")
            let s = try #require(sink.objectValue)
            #expect(s["status"]?.objectValue?["pendingChanges"] == 0)
            #expect(
                s["rejected"]?.objectValue?["calls"] == 1 && s["rejected"]?.objectValue?["costUsd"] == "0.200000000"
            )
            let detail = s["rejected"]?.objectValue?["recent"]?.arrayValue?.first?.objectValue?["detail"]?
                .objectValue
            #expect(detail?["status"] == 422)
        }
    }

    @Test("the sink API: validation, 404s, replace keeps the key, delete")
    func api() async throws {
        let env = try await env.makeEnv { $0.deliveryPollInterval = .seconds(3_600) }  // only the test pushes
        try await env.app.test(.router) { client in
            let base = "/api/tally/v1/exports/sinks"
            for (body, field) in [
                (#"{"type": "stripe", "url": "http://x"}"#, "body.type"),
                (#"{"type": "lago", "url": "ftp://x"}"#, "body.url"),
                (#"{"type": "lago", "url": "http://x", "batchSize": 101}"#, "body.batchSize"),
                (#"{"type": "lago", "url": "http://x", "intervalSeconds": 0}"#, "body.intervalSeconds"),
                (#"{"type": "lago", "url": "http://x", "corrections": "resend"}"#, "body.corrections"),
                (#"{"type": "lago", "url": "http://x", "subjectMap": {"a": 1}}"#, "body.subjectMap"),
                (#"{"type": "lago", "url": "http://x", "colour": "red"}"#, "body.colour"),
                (#"[1]"#, "body"),
            ] {
                let (status, error) = try await Self.call(client, env.auth, .put, "\(base)/s1", body)
                #expect(status == 400, "\(body)")
                #expect(error.objectValue?["error"]?.stringValue?.hasPrefix(field) == true, "\(error)")
            }
            #expect(
                try await Self.call(
                    client, env.auth, .put, "\(base)/bad%20name", #"{"type": "lago", "url": "http://x"}"#
                ).0 == 400)
            #expect(try await Self.call(client, env.auth, .get, "\(base)/none").0 == 404)
            #expect(try await Self.call(client, env.auth, .post, "\(base)/none/push").0 == 404)
            var (status, body) = try await Self.call(
                client, env.auth, .put, "\(base)/s1", #"{"type": "lago", "url": "http://x", "apiKey": "k"}"#)
            #expect(
                status == 201 && body.objectValue?["code"] == "llm_usage" && body.objectValue?["intervalSeconds"] == 60)
            (status, body) = try await Self.call(
                client, env.auth, .put, "\(base)/s1", #"{"type": "lago", "url": "http://x", "intervalSeconds": 5}"#)
            #expect(
                status == 200 && body.objectValue?["hasApiKey"] == true && body.objectValue?["intervalSeconds"] == 5)
            #expect(try await Self.call(client, env.auth, .post, "\(base)/s1/push").0 == 202)
            #expect(try await Self.call(client, env.auth, .get, base).1.objectValue?["data"]?.arrayValue?.count == 1)
            #expect(try await Self.call(client, env.auth, .delete, "\(base)/s1").0 == 200)
            #expect(try await Self.call(client, env.auth, .delete, "\(base)/s1").0 == 404)
            #expect(try await client.execute(uri: base, method: .get).status == .unauthorized)
        }
    }
}
