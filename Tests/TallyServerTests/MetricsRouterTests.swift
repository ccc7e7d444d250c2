import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

@Suite("Prometheus /metrics")
struct MetricsRouterTests {
    let router = RouterTests()

    static func batch(tenant: String, id: String, level: String = "DEFAULT", cost: Double) -> String {
        let tenantJSON = JSONValue.string(tenant).serialized()
        return """
            {"batch": [
              {"id": "t-\(id)", "type": "trace-create", "timestamp": "2026-11-30T10:00:00Z",
               "body": {"id": "t-\(id)", "metadata": {"tenantId": \(tenantJSON), "feature": "chat"}}},
              {"id": "g-\(id)", "type": "generation-create", "timestamp": "2026-11-30T10:00:00Z",
               "body": {"id": "g-\(id)", "traceId": "t-\(id)", "model": "gpt-4o", "level": "\(level)",
                        "startTime": "2026-11-30T10:00:00Z", "endTime": "2026-11-30T10:00:00.400Z",
                        "usageDetails": {"input": 1000, "output": 100, "cache_read_input_tokens": 40},
                        "costDetails": {"total": \(cost)}}}
            ]}
            """
    }

    /// Sample lines by name prefix, label text and value (as written).
    static func samples(_ text: String, _ name: String) -> [(labels: String, value: String)] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(name + "{") || line.hasPrefix(name + " "),
                let space = line.lastIndex(of: " ")
            else { return nil }
            return (
                String(line[line.startIndex..<space].dropFirst(name.count)), String(line[line.index(after: space)...])
            )
        }
    }

    @Test("per-project series with escaped labels, exact decimal cost, the histogram, 401 on a wrong key")
    func scrape() async throws {
        let env = try await router.makeEnv()
        _ = try env.database.ensureProject(id: "proj-2", name: "Other")
        let other = try #require(try env.database.createKey(projectID: "proj-2"))
        let otherAuth = "Basic " + Data("\(other.publicKey):\(other.secretKey)".utf8).base64EncodedString()
        try await env.app.test(.router) { client in
            let weird = "acme \"quoted\"\nnext\\line é"
            for (i, (tenant, level, cost)) in [
                (weird, "DEFAULT", 0.1), (weird, "ERROR", 0.2), ("beta", "DEFAULT", 0.000000007),
            ]
            .enumerated() {
                let r = try await client.execute(
                    uri: "/api/public/ingestion", method: .post,
                    headers: [.authorization: env.auth, .contentType: "application/json"],
                    body: ByteBuffer(string: Self.batch(tenant: tenant, id: "\(i)", level: level, cost: cost)))
                #expect(r.status.code == 207)
            }
            let text = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: env.auth]) {
                r throws -> String in
                #expect(r.status == .ok)
                #expect(r.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                return String(buffer: r.body)
            }
            let escaped = #"acme \"quoted\"\nnext\\line é"#
            let requests = Self.samples(text, "llm_requests_total")
            #expect(requests.count == 3)
            #expect(
                requests.contains {
                    $0.labels
                        == #"{environment="default",tenant_id="\#(escaped)",feature="chat",model="gpt-4o",outcome="error"}"#
                        && $0.value == "1"
                })
            let cost = Self.samples(text, "llm_cost_usd_total").map(\.value).sorted()
            #expect(cost == ["0.000000007", "0.1", "0.2"])
            let cacheRead = Self.samples(text, "llm_tokens_total").filter {
                $0.labels.contains(#"token_type="cache_read""#)
            }
            #expect(cacheRead.map(\.value) == ["40", "40", "40"])
            let buckets = Self.samples(text, "llm_request_duration_seconds_bucket")
                .filter { $0.labels.contains(#"outcome="success""#) }
            #expect(buckets.map(\.value) == ["0", "0", "2", "2", "2", "2", "2", "2", "2", "2", "2", "2", "2"])
            #expect(text.contains("# TYPE tally_http_requests_total counter"))
            #expect(text.contains(#"tally_ingest_events_total{type="observation",result="stored"} 3"#))

            // OpenMetrics when asked, as Prometheus asks.
            try await client.execute(
                uri: "/metrics", method: .get,
                headers: [
                    .authorization: env.auth,
                    .accept: "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ]
            ) { r throws in
                let om = String(buffer: r.body)
                #expect(r.headers[.contentType] == "application/openmetrics-text; version=1.0.0; charset=utf-8")
                #expect(om.hasSuffix("# EOF\n"))
                #expect(om.contains("# TYPE llm_cost_usd counter\n"))
                #expect(om.contains("# TYPE tally_http_requests counter\n"))
                #expect(!om.contains("_total counter"))
            }

            // Another project sees none of these tenants; a wrong key gets 401.
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: otherAuth]) { r throws in
                #expect(r.status == .ok)
                #expect(Self.samples(String(buffer: r.body), "llm_requests_total").isEmpty)
            }
            let wrong = "Basic " + Data("pk-lf-test:nope".utf8).base64EncodedString()
            #expect(
                try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: wrong]).status
                    == .unauthorized)
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .unauthorized)
        }
    }

    @Test("with --metrics-max-tenants 1 the other tenants are summed as other; totals unchanged")
    func folding() async throws {
        let env = try await router.makeEnv {
            $0.metricsLimits = LLMMetrics.Limits(tenants: 1, features: 500, models: 200)
        }
        try await env.app.test(.router) { client in
            for (i, (tenant, cost)) in [("a", 0.5), ("b", 0.25), ("c", 0.125)].enumerated() {
                _ = try await client.execute(
                    uri: "/api/public/ingestion", method: .post,
                    headers: [.authorization: env.auth, .contentType: "application/json"],
                    body: ByteBuffer(string: Self.batch(tenant: tenant, id: "\(i)", cost: cost)))
            }
            let text = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: env.auth]) {
                String(buffer: $0.body)
            }
            let cost = Self.samples(text, "llm_cost_usd_total")
            #expect(cost.count == 2)
            #expect(cost.contains { $0.labels.contains(#"tenant_id="a""#) && $0.value == "0.5" })
            #expect(cost.contains { $0.labels.contains(#"tenant_id="other""#) && $0.value == "0.375" })
        }
    }

    @Test("OTEL_EXPORTER_OTLP_METRICS_HEADERS: k=v pairs, percent-decoded; a pair without = is refused")
    func pushHeaders() throws {
        let parsed = try OTLPMetricsConfiguration.headers("x-api-key=secret%20one, x-team = llm ,dd-api-key=a%3Db")
        #expect(parsed.map(\.0) == ["x-api-key", "x-team", "dd-api-key"])
        #expect(parsed.map(\.1) == ["secret one", "llm", "a=b"])
        #expect(try OTLPMetricsConfiguration.headers(nil).isEmpty)
        #expect(try OTLPMetricsConfiguration.headers("  ").isEmpty)
        #expect(throws: OTLPMetricsConfigurationError.self) { try OTLPMetricsConfiguration.headers("novalue") }
        #expect(throws: OTLPMetricsConfigurationError.self) { try OTLPMetricsConfiguration.headers("=v") }
    }

    @Test("request counts are by route pattern and standard method: ids and odd methods add no series")
    func boundedHealthLabels() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            for i in 0..<5 {
                _ = try await client.execute(
                    uri: "/api/public/traces/trace-\(i)", method: .get, headers: [.authorization: env.auth])
                _ = try await client.execute(
                    uri: "/api/public/traces/trace-\(i)", method: .init("BREW\(i)")!,
                    headers: [.authorization: env.auth])
            }
            let text = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: env.auth]) {
                String(buffer: $0.body)
            }
            let lines = Self.samples(text, "tally_http_requests_total")
            #expect(
                lines.contains {
                    $0.labels == #"{route="/api/public/traces/{traceId}",method="GET",status="404"}"# && $0.value == "5"
                })
            #expect(lines.contains { $0.labels.contains(#"method="other""#) && $0.value == "5" })
            #expect(!lines.contains { $0.labels.contains("trace-") })
            #expect(!text.contains("BREW"))
        }
    }

    @Test("Accept negotiation and exact decimals")
    func exposition() {
        #expect(Exposition.Format.negotiate(accept: nil) == .prometheus)
        #expect(Exposition.Format.negotiate(accept: "text/plain;version=0.0.4") == .prometheus)
        #expect(Exposition.Format.negotiate(accept: "application/openmetrics-text; version=1.0.0") == .openMetrics)
        #expect(
            Exposition.Format.negotiate(accept: "application/openmetrics-text;q=0.2,text/plain;q=0.9") == .prometheus)
        #expect(Money.shortDecimal(nanos: 0) == "0")
        #expect(Money.shortDecimal(nanos: 1_500_000_000) == "1.5")
        #expect(Money.shortDecimal(nanos: 512_000) == "0.000512")
        #expect(Money.shortDecimal(nanos: Int64.max) == "9223372036.854775807")
        #expect(Money.shortDecimal(nanos: Int64.min) == "-9223372036.854775808")
    }
}
