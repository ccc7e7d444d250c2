import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

@Suite("Invoice reconciliation API")
struct ReconcileRouterTests {
    let router = RouterTests()

    static func generation(
        _ id: String, trace: String, model: String, cost: Double?, provider: String?, input: Int = 10
    ) -> String {
        let metadata = provider.map { #", "metadata": {"provider": "\#($0)"}"# } ?? ""
        let costJSON = cost.map { #", "costDetails": {"total": \#($0)}"# } ?? ""
        return """
            {"id": "\(id)", "type": "generation-create", "timestamp": "2026-11-30T10:00:00Z",
             "body": {"id": "\(id)", "traceId": "\(trace)", "model": "\(model)", "startTime": "2026-11-30T10:00:00Z",
                      "usageDetails": {"input": \(input)}\(costJSON)\(metadata)}}
            """
    }

    static let batch = """
        {"batch": [
          {"id": "ta", "type": "trace-create", "timestamp": "2026-11-30T10:00:00Z", "body": {"id": "ta", "metadata": {"tenantId": "acme"}}},
          {"id": "tb", "type": "trace-create", "timestamp": "2026-11-30T10:00:00Z", "body": {"id": "tb", "metadata": {"tenantId": "beta"}}},
          \(generation("g1", trace: "ta", model: "gpt-4o", cost: 0.3, provider: "openai")),
          \(generation("g2", trace: "ta", model: "gpt-4o-mini", cost: 0.04, provider: "openai")),
          \(generation("g3", trace: "ta", model: "gpt-4o-mini", cost: 0.04, provider: "openai")),
          \(generation("g4", trace: "ta", model: "gpt-4o-mini", cost: 0.04, provider: "openai")),
          \(generation("g5", trace: "ta", model: "claude-sonnet-4-5", cost: 1.0, provider: "anthropic")),
          \(generation("g6", trace: "tb", model: "gpt-4o-mini", cost: 0.04, provider: "openai")),
          \(generation("g7", trace: "tb", model: "gpt-4o", cost: nil, provider: nil, input: 1000)),
          \(generation("g8", trace: "tn", model: "gpt-4o", cost: 0.1, provider: "openai"))
        ]}
        """

    static let invoice = """
        {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z",
         "lines": [{"provider": "openai", "amountUsd": 0.75},
                   {"provider": "anthropic", "model": "claude-sonnet-4-5", "amountUsd": 1.0}]}
        """

    @Test("variance per invoice line, unattributed spend, exact allocation per tenant, back-test, CSV, bad input")
    func reconcile() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            try await RouterTests.ingest(client, env, batch: Self.batch)
            func post(_ query: String, _ body: String) async throws -> (HTTPResponse.Status, String) {
                try await client.execute(
                    uri: "/api/tally/v1/reconcile\(query)", method: .post,
                    headers: [.authorization: env.auth, .contentType: "application/json"],
                    body: ByteBuffer(string: body)
                ) { ($0.status, String(buffer: $0.body)) }
            }
            let (status, text) = try await post("", Self.invoice)
            #expect(status == .ok)
            let o = try #require(try JSONValue.parse(Data(text.utf8)).objectValue)
            let lines = try #require(o["lines"]?.arrayValue?.compactMap { $0.objectValue })
            // openai: 0.3 + 3 × 0.04 + 0.04 + 0.0025 (gpt-4o priced from the built-in table) + 0.1 (no tenant).
            #expect(lines[0]["meteredUsd"] == "0.562500000" && lines[0]["calls"] == 7)
            #expect(lines[0]["varianceUsd"] == "0.187500000" && lines[0]["unattributedUsd"] == "0.100000000")
            #expect(lines[1]["meteredUsd"] == "1.000000000" && lines[1]["varianceUsd"] == "0.000000000")
            let tenants = try #require(o["tenants"]?.arrayValue?.compactMap { $0.objectValue })
            let allocated = Dictionary(
                uniqueKeysWithValues: tenants.map {
                    ($0["tenant"]?.stringValue ?? "", $0["allocatedUsd"]?.stringValue ?? "")
                })
            // Direct: acme 0.42 and beta 0.0425 metered with openai; 0.75 scaled, largest remainder; plus claude.
            #expect(allocated == ["acme": "1.681081081", "beta": "0.068918919", "": "0.000000000"])
            let backtest = try #require(o["backtest"]?.arrayValue?.compactMap { $0.objectValue })
            let acme = backtest.first { $0["tenant"] == "acme" }
            // Activity: acme 4 openai calls of 6 named → 0.5, plus claude 1.0.
            #expect(acme?["directUsd"] == "1.681081081" && acme?["activityUsd"] == "1.500000000")

            let (_, csv) = try await post("?allocate=activity&format=csv", Self.invoice)
            #expect(csv.hasPrefix("tenant,allocatedUsd,meteredUsd,calls\r\n"))
            #expect(
                csv.contains("acme,1.500000000,1.420000000,5\r\n") && csv.contains("beta,0.250000000,0.042500000,2\r\n")
            )

            for bad in [
                "[]",
                #"{"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "lines": [{"provider": "x", "amountUsd": 1}]}"#,
                #"{"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "lines": []}"#,
                #"{"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "lines": [{"provider": "x", "amountUsd": 1e300}]}"#,
                #"{"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "lines": [{"amountUsd": 1}]}"#,
                #"{"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "lines": [{"provider": "x", "model": "", "amountUsd": 1}]}"#,
            ] {
                #expect(try await post("", bad).0 == .badRequest, "\(bad)")
            }
            #expect(try await post("?allocate=magic", Self.invoice).0 == .badRequest)
        }
    }
}
