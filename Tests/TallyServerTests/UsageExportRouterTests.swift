import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

@Suite("Usage export")
struct UsageExportRouterTests {
    let router = RouterTests()

    static let evil = "=HYPERLINK(\"http://x\"),acme"

    /// Generations for three tenants: `acme` (two calls, one with cache and reasoning tokens), `beta` (one success,
    /// one ERROR), and a tenant id a spreadsheet would run as a formula; plus a span with a cost-free usage.
    static let batch = """
        {"batch": [
          {"id": "t1", "type": "trace-create", "timestamp": "2026-11-29T10:00:00Z",
           "body": {"id": "t1", "metadata": {"tenantId": "acme", "feature": "chat"}}},
          {"id": "g1", "type": "generation-create", "timestamp": "2026-11-29T10:00:00Z",
           "body": {"id": "g1", "traceId": "t1", "model": "gpt-4o", "startTime": "2026-11-29T10:00:00Z",
                    "usageDetails": {"input": 1000, "output": 200, "input_cached_tokens": 300, "output_reasoning_tokens": 50},
                    "costDetails": {"total": 0.000512}}},
          {"id": "g2", "type": "generation-create", "timestamp": "2026-11-30T10:00:00Z",
           "body": {"id": "g2", "traceId": "t1", "model": "gpt-4o", "startTime": "2026-11-30T10:00:00Z",
                    "usageDetails": {"input": 10, "output": 1, "cache_creation_input_tokens": 7},
                    "costDetails": {"total": 0.1}}},
          {"id": "s1", "type": "span-create", "timestamp": "2026-11-30T10:00:00Z",
           "body": {"id": "s1", "traceId": "t1", "startTime": "2026-11-30T10:00:00Z"}},
          {"id": "t2", "type": "trace-create", "timestamp": "2026-11-30T10:00:00Z",
           "body": {"id": "t2", "metadata": {"tenantId": "beta"}}},
          {"id": "g3", "type": "generation-create", "timestamp": "2026-11-30T10:00:00Z",
           "body": {"id": "g3", "traceId": "t2", "model": "gpt-4o-mini", "startTime": "2026-11-30T10:00:00Z",
                    "usageDetails": {"input": 5, "output": 5}, "costDetails": {"total": 0.25}}},
          {"id": "g4", "type": "generation-create", "timestamp": "2026-11-30T11:00:00Z",
           "body": {"id": "g4", "traceId": "t2", "model": "gpt-4o-mini", "level": "ERROR", "startTime": "2026-11-30T11:00:00Z",
                    "usageDetails": {"input": 7, "output": 0}, "costDetails": {"total": 0.125}}},
          {"id": "t3", "type": "trace-create", "timestamp": "2026-11-30T10:00:00Z",
           "body": {"id": "t3", "metadata": {"tenantId": \(JSONValue.string(evil).serialized())}}},
          {"id": "g5", "type": "generation-create", "timestamp": "2026-11-30T10:00:00Z",
           "body": {"id": "g5", "traceId": "t3", "model": "gpt-4o", "startTime": "2026-11-30T10:00:00Z",
                    "usageDetails": {"input": 1, "output": 1}, "costDetails": {"total": 0.000000001}}}
        ]}
        """

    func get(_ client: some TestClientProtocol, _ env: RouterTests.Env, _ uri: String) async throws -> (
        HTTPResponse.Status, HTTPFields, String
    ) {
        try await client.execute(uri: uri, method: .get, headers: [.authorization: env.auth]) {
            ($0.status, $0.headers, String(buffer: $0.body))
        }
    }

    @Test("JSON, CSV and JSON lines: exact decimal money, errors apart unless included, safe CSV cells")
    func export() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            try await RouterTests.ingest(client, env, batch: Self.batch)

            let (status, headers, text) = try await get(client, env, "/api/tally/v1/exports/usage?groupBy=tenant")
            #expect(status == .ok)
            #expect(headers[.contentDisposition] == "attachment; filename=\"tally-usage-proj-1.json\"")
            let rows = try #require(JSONValue.parse(Data(text.utf8)).objectValue?["data"]?.arrayValue)
            let byTenant = Dictionary(
                uniqueKeysWithValues: rows.compactMap { $0.objectValue }.map { ($0["tenant"]?.stringValue ?? "", $0) })
            #expect(byTenant["acme"]?["calls"] == 2)
            #expect(byTenant["acme"]?["costUsd"] == "0.100512000")
            #expect(byTenant["acme"]?["inputTokens"] == 1317)
            #expect(byTenant["acme"]?["cacheReadTokens"] == 300)
            #expect(byTenant["acme"]?["cacheWriteTokens"] == 7)
            #expect(byTenant["acme"]?["reasoningTokens"] == 50)
            #expect(byTenant["beta"]?["calls"] == 1)
            #expect(byTenant["beta"]?["costUsd"] == "0.250000000")
            #expect(byTenant["beta"]?["errorCalls"] == 1)
            #expect(byTenant["beta"]?["errorCostUsd"] == "0.125000000")
            #expect(byTenant[Self.evil]?["costUsd"] == "0.000000001")

            // includeErrors bills the failed call too; the breakdown API's cost then matches to the nano-dollar.
            let (_, _, all) = try await get(
                client, env, "/api/tally/v1/exports/usage?groupBy=tenant&includeErrors=true&format=jsonl")
            let lines = all.split(separator: "\n").map { try? JSONValue.parse(Data($0.utf8)).objectValue }
            #expect(lines.count == 3)
            let beta = lines.first { $0?["tenant"] == "beta" }
            #expect(beta??["calls"] == 2 && beta??["costUsd"] == "0.375000000" && beta??["errorCalls"] == 1)

            // By day: acme has a call on each of two days.
            let (_, _, daily) = try await get(
                client, env,
                "/api/tally/v1/exports/usage?groupBy=tenant,model&bucket=day&tenantId=acme&format=csv&from=2026-11-01T00:00:00Z"
            )
            #expect(
                daily
                    == "tenant,model,bucket,calls,inputTokens,outputTokens,cacheReadTokens,cacheWriteTokens,reasoningTokens,costUsd,cacheSavingsUsd,errorCalls,errorCostUsd\r\n"
                    + "acme,gpt-4o,2026-11-29,1,1300,250,300,0,50,0.000512000,0.005238000,0,0.000000000\r\n"
                    + "acme,gpt-4o,2026-11-30,1,17,1,0,7,0,0.100000000,0.000000000,0,0.000000000\r\n")

            // cacheBilling=list charges the cached call its list price: 1,300 input × 2.50/M + 250 output × 10/M.
            let (_, _, list) = try await get(
                client, env, "/api/tally/v1/exports/usage?groupBy=tenant&tenantId=acme&cacheBilling=list")
            let listed = try JSONValue.parse(Data(list.utf8)).objectValue
            #expect(listed?["data"]?.arrayValue?.first?.objectValue?["costUsd"] == "0.105750000")
            #expect(listed?["data"]?.arrayValue?.first?.objectValue?["cacheSavingsUsd"] == "0.005238000")
            #expect(listed?["query"]?.objectValue?["cacheBilling"] == "list")
            // The breakdown shows the saving apart from the spend, summed from the same integers.
            let (_, _, breakdown) = try await get(
                client, env, "/api/tally/v1/breakdown?groupBy=tenant&tenantId=acme&metrics=totalCost,cacheSavings")
            let acme = try JSONValue.parse(Data(breakdown.utf8)).objectValue?["data"]?.arrayValue?.first?.objectValue
            #expect(acme?["cacheSavings"] == 0.005238 && acme?["totalCost"] == 0.100512)
            #expect(acme?.count == 3)

            // CSV: the formula-like tenant id is quoted and defused; the file name carries the range.
            let (_, csvHeaders, csv) = try await get(
                client, env, "/api/tally/v1/exports/usage?format=csv&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z")
            #expect(
                csvHeaders[.contentDisposition]
                    == "attachment; filename=\"tally-usage-proj-1-2026-11-01-2026-12-01.csv\"")
            #expect(csvHeaders[.contentType] == "text/csv; charset=utf-8")
            #expect(csv.contains("\r\n\"'=HYPERLINK(\"\"http://x\"\"),acme\",1,1,1,"))

            // Bad parameters are 400s naming the parameter.
            #expect(try await get(client, env, "/api/tally/v1/exports/usage?format=xml").0 == .badRequest)
            #expect(try await get(client, env, "/api/tally/v1/exports/usage?bucket=year").0 == .badRequest)
            #expect(try await get(client, env, "/api/tally/v1/exports/usage?cacheBilling=free").0 == .badRequest)
            #expect(try await get(client, env, "/api/tally/v1/exports/usage?groupBy=colour").0 == .badRequest)
            #expect(
                try await client.execute(uri: "/api/tally/v1/exports/usage", method: .get).status == .unauthorized)
        }
    }

    @Test("CSV cells: quoting and formula guard")
    func csvCells() {
        #expect(
            CSV.line(["a", "b,c", "say \"hi\"", "line\nbreak"]) == "a,\"b,c\",\"say \"\"hi\"\"\",\"line\nbreak\"\r\n")
        #expect(CSV.line(["=1+1", "+x", "-5", "@SUM(A1)", "-0.5"]) == "'=1+1,'+x,-5,'@SUM(A1),-0.5\r\n")
        #expect(Money.decimal(nanos: 0) == "0.000000000")
        #expect(Money.decimal(nanos: 1_500_000_000) == "1.500000000")
        #expect(Money.decimal(nanos: -7) == "-0.000000007")
    }
}
