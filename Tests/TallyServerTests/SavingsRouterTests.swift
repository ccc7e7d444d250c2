import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

/// `GET /api/tally/v1/what-if` and `/insights` over `AnalyticsRouterTests`' workload (its table gives every call's
/// tokens and cost).
@Suite("Savings API")
struct SavingsRouterTests {
    let analytics = AnalyticsRouterTests()

    func get(_ client: any TestClientProtocol, _ h: HTTPFields, _ uri: String) async throws -> (
        HTTPResponse.Status, [String: JSONValue]
    ) {
        let r = try await client.execute(uri: uri, method: .get, headers: h)
        return (r.status, try JSONValue.parse(Data(buffer: r.body)).objectValue ?? [:])
    }

    @Test("what-if per tenant prices each tenant's usage as gpt-4o-mini, exact in nano-USD")
    func whatIfPerTenant() async throws {
        try await analytics.seeded { client, h in
            let (status, body) = try await get(client, h, "/api/tally/v1/what-if?as=gpt-4o-mini&groupBy=tenant")
            #expect(status == .ok)
            #expect(body["as"]?.objectValue?["pricedAs"] == "gpt-4o-mini")
            #expect(body["as"]?.objectValue?["prices"]?.objectValue?["input"] == .double(1.5e-7))
            let rows = (body["data"]?.arrayValue ?? []).compactMap(\.objectValue)
            // Most spent first: initech's given 0.5 USD, acme 6.18 mUSD, globex 0.28 mUSD. As gpt-4o-mini (0.15 and
            // 0.6 µUSD per input and output token): initech 1,000/1,000 → 750,000; acme 4,000/400 → 840,000;
            // globex 500/50 → 105,000.
            #expect(rows.map { $0["tenant"] } == ["initech", "acme", "globex"])
            #expect(rows.map { $0["actualCostNanos"] } == [500_000_000, 6_180_000, 280_000])
            #expect(rows.map { $0["whatIfCostNanos"] } == [750_000, 840_000, 105_000])
            #expect(rows[1]["usage"] == ["input": 4_000, "output": 400] && rows[1]["errors"] == 1)
            let total = try #require(body["total"]?.objectValue)
            #expect(total["actualCostNanos"] == 506_460_000 && total["whatIfCostNanos"] == 1_695_000)
            #expect(total["differenceNanos"] == -504_765_000 && total["calls"] == 5)
        }
    }

    @Test("what-if and insights refuse bad parameters with a 400 that says what is expected")
    func refusals() async throws {
        try await analytics.seeded { client, h in
            for (uri, words) in [
                ("/api/tally/v1/what-if", "as: required"),
                ("/api/tally/v1/what-if?as=no-such-model", "no model prices"),
                ("/api/tally/v1/what-if?as=gpt-4o&groupBy=tenant,feature,model", "at most 2"),
                ("/api/tally/v1/what-if?as=gpt-4o&groupBy=colour", "unknown dimension"),
                ("/api/tally/v1/insights?downgradeRatio=-1", "above 0"),
                ("/api/tally/v1/insights?loopCalls=1", "loopCalls"),
                ("/api/tally/v1/insights?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "before"),
            ] {
                let r = try await client.execute(uri: uri, method: .get, headers: h)
                #expect(r.status == .badRequest, "\(uri)")
                #expect(String(buffer: r.body).contains(words), "\(uri): \(String(buffer: r.body))")
            }
        }
    }

    @Test("insights name the erroring feature and model, with a link to its failed calls; tenant keys see their own")
    func insights() async throws {
        let env = try await analytics.router.makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        let key = try #require(try env.database.createKey(projectID: "proj-1", scope: KeyScope(tenant: "globex")))
        let globex: HTTPFields = [
            .authorization: "Basic " + Data("\(key.publicKey):\(key.secretKey)".utf8).base64EncodedString()
        ]
        try await env.app.test(.router) { client in
            _ = try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: h,
                body: ByteBuffer(string: AnalyticsRouterTests.batch))
            let range = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z"
            let (status, body) = try await get(client, h, "/api/tally/v1/insights?\(range)")
            #expect(status == .ok)
            let findings = (body["data"]?.arrayValue ?? []).compactMap(\.objectValue)
            // a3 failed: 1,000 × 3 µUSD + 100 × 15 µUSD = 4.5 mUSD over a 30-day range, so 4.5 mUSD a month.
            #expect(findings.map { $0["type"] } == ["retry_waste"])
            let retry = try #require(findings.first)
            #expect(retry["subject"] == ["feature": "search", "model": "claude-sonnet-4-5"])
            #expect(retry["wasteNanos"] == 4_500_000 && retry["estimatedMonthlyNanos"] == 4_500_000)
            #expect(retry["estimatedMonthlyUsd"] == .double(0.0045) && retry["traces"] == ["trace-a3"])
            #expect(
                retry["url"]
                    == "/#/traces?from=2026-11-01&to=2026-11-30&feature=search&model=claude-sonnet-4-5&level=ERROR")
            #expect(body["query"]?.objectValue?["thresholds"]?.objectValue?["loopCalls"] == 10)
            // A tenant key reads its own tenant's calls only: globex had no error.
            let (own, theirs) = try await get(client, globex, "/api/tally/v1/insights?\(range)")
            #expect(own == .ok && theirs["data"] == [])
            let (refused, _) = try await get(client, globex, "/api/tally/v1/insights?\(range)&tenantId=acme")
            #expect(refused == .forbidden)
            let (_, whatIf) = try await get(client, globex, "/api/tally/v1/what-if?as=gpt-4o")
            #expect(whatIf["total"]?.objectValue?["calls"] == 1)
        }
    }
}
