import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

/// Seeded workload with costs computed by hand (built-in prices, USD per 1M tokens):
///
/// | gen | tenant  | feature | day   | model             | in   | out  | prompt v | ms  | cost (nano-USD)                 |
/// | a1  | acme    | copilot | 11-20 | gpt-4.1-mini      | 1000 | 100  | 1        | 100 | 400,000 + 160,000 = 560,000     |
/// | a2  | acme    | copilot | 11-20 | gpt-4.1-mini      | 2000 | 200  | 2        | 300 | 800,000 + 320,000 = 1,120,000   |
/// | a3  | acme    | search  | 11-21 | claude-sonnet-4-5 | 1000 | 100  | –        | 200 | 3,000,000 + 1,500,000 (ERROR)   |
/// | g1  | globex  | copilot | 11-21 | gpt-4.1-mini      | 500  | 50   | 2        | 400 | 200,000 + 80,000 = 280,000      |
/// | i1  | initech | search  | 11-20 | gpt-4o            | 1000 | 1000 | –        | 50  | given total 0.5 = 500,000,000   |
@Suite("Analytics API")
struct AnalyticsRouterTests {
    let router = RouterTests()

    struct Gen {
        var id, tenant, feature, day, model: String
        var input, output: Int
        var prompt: Int?
        var ms: Int
        var error = false
        var givenTotal: Double? = nil
        var region: String
        var score: Double? = nil
    }

    static let gens = [
        Gen(
            id: "a1", tenant: "acme", feature: "copilot", day: "20", model: "gpt-4.1-mini", input: 1000, output: 100,
            prompt: 1, ms: 100, region: "eu", score: 0.6),
        Gen(
            id: "a2", tenant: "acme", feature: "copilot", day: "20", model: "gpt-4.1-mini", input: 2000, output: 200,
            prompt: 2, ms: 300, region: "eu", score: 0.8),
        Gen(
            id: "a3", tenant: "acme", feature: "search", day: "21", model: "claude-sonnet-4-5", input: 1000,
            output: 100, prompt: nil, ms: 200, error: true, region: "eu"),
        Gen(
            id: "g1", tenant: "globex", feature: "copilot", day: "21", model: "gpt-4.1-mini", input: 500, output: 50,
            prompt: 2, ms: 400, region: "us", score: 1.0),
        Gen(
            id: "i1", tenant: "initech", feature: "search", day: "20", model: "gpt-4o", input: 1000, output: 1000,
            prompt: nil, ms: 50, givenTotal: 0.5, region: "us"),
    ]

    static var batch: String {
        var events: [String] = []
        for g in gens {
            let start = "2026-11-\(g.day)T10:00:00.000Z"
            let end = "2026-11-\(g.day)T10:00:00.\(String(format: "%03d", g.ms))Z"
            events.append(
                #"{"id":"t-\#(g.id)","type":"trace-create","timestamp":"\#(start)","body":{"id":"trace-\#(g.id)","name":"\#(g.feature)-request","timestamp":"\#(start)","userId":"user-\#(g.tenant)","metadata":{"tenantId":"\#(g.tenant)","feature":"\#(g.feature)","region":"\#(g.region)"},"tags":["tenant:\#(g.tenant)","\#(g.feature)"],"environment":"production"}}"#
            )
            var body =
                #""id":"\#(g.id)","traceId":"trace-\#(g.id)","name":"llm","model":"\#(g.model)","startTime":"\#(start)","endTime":"\#(end)","usage":{"input":\#(g.input),"output":\#(g.output)}"#
            if let p = g.prompt { body += #","promptName":"copilot-answer","promptVersion":\#(p)"# }
            if g.error { body += #","level":"ERROR","statusMessage":"boom""# }
            if let c = g.givenTotal { body += #","costDetails":{"total":\#(c)}"# }
            events.append(#"{"id":"o-\#(g.id)","type":"generation-create","timestamp":"\#(start)","body":{\#(body)}}"#)
            if let s = g.score {
                events.append(
                    #"{"id":"s-\#(g.id)","type":"score-create","timestamp":"\#(start)","body":{"id":"score-\#(g.id)","traceId":"trace-\#(g.id)","name":"helpfulness","value":\#(s)}}"#
                )
            }
        }
        return "{\"batch\":[\(events.joined(separator: ","))]}"
    }

    func seeded(_ body: @escaping @Sendable (any TestClientProtocol, HTTPFields) async throws -> Void) async throws {
        let env = try await router.makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        try await env.app.test(.router) { client throws in
            let r = try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: h, body: ByteBuffer(string: Self.batch))
            #expect(try JSONValue.parse(Data(buffer: r.body)).objectValue?["errors"] == [])
            try await body(client, h)
        }
    }

    static func data(_ r: TestResponse) throws -> [[String: JSONValue]] {
        (try JSONValue.parse(Data(buffer: r.body)).objectValue?["data"]?.arrayValue ?? []).compactMap(\.objectValue)
    }

    @Test("spend by tenant matches the hand calculation to the nano-dollar, with latency percentiles and error rate")
    func byTenant() async throws {
        try await seeded { client, h in
            let r = try await client.execute(
                uri: "/api/tally/v1/breakdown?groupBy=tenant&sort=-totalCost", method: .get, headers: h)
            #expect(r.status == .ok)
            let rows = try Self.data(r)
            #expect(rows.map { $0["tenant"] } == ["initech", "acme", "globex"])
            #expect(rows.map { $0["totalCost"] } == [0.5, 0.00618, 0.00028])
            let acme = rows[1]
            #expect(acme["count"] == 3)
            #expect(acme["inputTokens"] == 4000)
            #expect(acme["outputTokens"] == 400)
            #expect(acme["latencyP50"] == 200.0)
            #expect(acme["latencyP95"] == 300.0)
            #expect(acme["errorRate"] == .double(1.0 / 3.0))
        }
    }

    @Test("spend by feature per day, filters by tenant, tag, model, prompt and metadata, grouping by metadata")
    func featureByDayAndFilters() async throws {
        try await seeded { client, h in
            let byDay = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/breakdown?groupBy=feature&bucket=day&metrics=totalCost,count", method: .get,
                    headers: h))
            #expect(
                byDay.map { [$0["bucket"]!, $0["feature"]!, $0["totalCost"]!] } == [
                    ["2026-11-20", "copilot", 0.00168], ["2026-11-20", "search", 0.5],
                    ["2026-11-21", "copilot", 0.00028], ["2026-11-21", "search", 0.0045],
                ])
            #expect(byDay.first?["latencyP50"] == nil)
            let models = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/breakdown?groupBy=model&tenantId=acme", method: .get, headers: h))
            #expect(
                models.map { [$0["model"]!, $0["totalCost"]!] } == [
                    ["claude-sonnet-4-5", 0.0045], ["gpt-4.1-mini", 0.00168],
                ])
            let tagged = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/breakdown?tags=copilot&tags=tenant:globex", method: .get, headers: h))
            #expect(tagged.map { $0["totalCost"] } == [0.00028])
            let eu = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/breakdown?metadata.region=eu&groupBy=metadata.region", method: .get, headers: h)
            )
            #expect(eu.map { [$0["metadata.region"]!, $0["count"]!] } == [["eu", 3]])
            let v2 = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/breakdown?promptName=copilot-answer&promptVersion=2&groupBy=tenant",
                    method: .get, headers: h))
            #expect(v2.map { [$0["tenant"]!, $0["totalCost"]!] } == [["acme", 0.00112], ["globex", 0.00028]])
            let week = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/breakdown?bucket=week&from=2026-11-21T00:00:00Z", method: .get, headers: h))
            #expect(week.map { [$0["bucket"]!, $0["totalCost"]!] } == [["2026-11-16", 0.00478]])
        }
    }

    @Test("prompt versions side by side: runs, cost per run, tokens, latency, errors, mean scores, first/last seen")
    func promptComparison() async throws {
        try await seeded { client, h in
            let rows = try Self.data(
                try await client.execute(uri: "/api/tally/v1/prompts/copilot-answer/versions", method: .get, headers: h)
            )
            #expect(rows.count == 2)
            #expect(rows[0]["promptVersion"] == 1)
            #expect(rows[0]["runs"] == 1)
            #expect(rows[0]["costPerRun"] == 0.00056)
            #expect(rows[0]["scores"] == ["helpfulness": 0.6])
            #expect(rows[1]["promptVersion"] == 2)
            #expect(rows[1]["runs"] == 2)
            #expect(rows[1]["totalCost"] == 0.0014)
            #expect(rows[1]["costPerRun"] == 0.0007)
            #expect(rows[1]["inputTokensPerRun"] == 1250.0)
            #expect(rows[1]["scores"] == ["helpfulness": 0.9])
            #expect(rows[1]["firstSeen"] == "2026-11-20T10:00:00.000Z")
            #expect(rows[1]["lastSeen"] == "2026-11-21T10:00:00.000Z")
            // Unfiltered: read from the rollups, latency from the 1% histogram (nearest rank of 300 and 400 ms).
            #expect(rows[1]["latencyExact"] == false)
            let p50 = try #require(rows[1]["latencyP50"]?.doubleValue)
            #expect(abs(p50 - 300) / 300 <= 0.01)
            // A tenant filter scans the observations: exact percentiles, same sums.
            let exact = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/prompts/copilot-answer/versions?tenantId=acme,globex", method: .get, headers: h)
            )
            #expect(exact[1]["latencyExact"] == true)
            #expect(exact[1]["latencyP50"] == 300.0 && exact[1]["latencyP95"] == 400.0)
            #expect(exact[1]["totalCost"] == 0.0014 && exact[1]["runs"] == 2)
        }
    }

    @Test("GET /api/public/metrics/daily answers like Langfuse")
    func daily() async throws {
        try await seeded { client, h in
            let r = try await client.execute(uri: "/api/public/metrics/daily", method: .get, headers: h)
            let rows = try Self.data(r)
            #expect(rows.map { $0["date"] } == ["2026-11-21", "2026-11-20"])
            #expect(rows[1]["countTraces"] == 3)
            #expect(rows[1]["countObservations"] == 3)
            #expect(rows[1]["totalCost"] == 0.50168)
            let usage = rows[1]["usage"]?.arrayValue?.compactMap(\.objectValue) ?? []
            #expect(usage.map { $0["model"] } == ["gpt-4.1-mini", "gpt-4o"])
            #expect(
                usage[0]["inputUsage"] == 3000 && usage[0]["outputUsage"] == 300 && usage[0]["totalCost"] == 0.00168)
            let filtered = try Self.data(
                try await client.execute(uri: "/api/public/metrics/daily?userId=user-globex", method: .get, headers: h))
            #expect(filtered.map { $0["totalCost"] } == [0.00028])
        }
    }

    @Test("unit economics: cost per successful action, by score or by the absence of errors")
    func unitEconomics() async throws {
        try await seeded { client, h in
            // helpfulness ≥ 0.8: a2 (0.8) and g1 (1.0) succeed; a1 (0.6) does not; a3 and i1 have no score.
            let byTenant = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/unit-economics?groupBy=tenant&successScore=helpfulness&successMin=0.8",
                    method: .get, headers: h))
            #expect(byTenant.map { $0["tenant"] } == ["acme", "globex", "initech"])
            let acme = byTenant[0]
            #expect(acme["traces"] == 3 && acme["successes"] == 1)
            #expect(acme["totalCost"] == 0.00618)
            #expect(acme["costPerSuccess"] == 0.00618)  // all acme spend ÷ 1 successful action
            #expect(acme["costPerTrace"] == 0.00206)
            #expect(acme["tokensPerSuccess"] == 4400.0)
            #expect(byTenant[2]["costPerSuccess"] == .null)
            // Without a score rule, a trace without ERROR observations is a success: acme 2 of 3.
            let noError = try Self.data(
                try await client.execute(uri: "/api/tally/v1/unit-economics?tenantId=acme", method: .get, headers: h))
            #expect(noError.map { $0["successes"] } == [2])
            let refused = try await client.execute(
                uri: "/api/tally/v1/unit-economics?groupBy=model", method: .get, headers: h)
            #expect(refused.status == .badRequest)
        }
    }

    @Test("the four dashboards as data")
    func dashboards() async throws {
        try await seeded { client, h in
            let spend = try Self.data(
                try await client.execute(uri: "/api/tally/v1/dashboards/spend-by-feature", method: .get, headers: h))
            #expect(
                spend.map { [$0["bucket"]!, $0["feature"]!, $0["totalCost"]!] } == [
                    ["2026-11-20", "copilot", 0.00168], ["2026-11-20", "search", 0.5],
                    ["2026-11-21", "copilot", 0.00028], ["2026-11-21", "search", 0.0045],
                ])
            let top = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/dashboards/top-tenants?from=2026-11-20T00:00:00Z&to=2026-11-22T00:00:00Z",
                    method: .get, headers: h))
            #expect(top.map { $0["tenant"] } == ["initech", "acme", "globex"])
            let perSuccess = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/dashboards/tokens-per-success?successScore=helpfulness&successMin=0.8",
                    method: .get, headers: h))
            #expect(perSuccess.map { $0["bucket"] } == ["2026-11-20", "2026-11-21"])
            #expect(perSuccess[0]["tokensPerSuccess"] == 5300.0)  // day 20: a1 1100 + a2 2200 + i1 2000 tokens, 1 success (a2)
            let models = try Self.data(
                try await client.execute(uri: "/api/tally/v1/dashboards/cost-by-model", method: .get, headers: h))
            #expect(
                models.map { [$0["model"]!, $0["totalCost"]!] } == [
                    ["gpt-4o", 0.5], ["claude-sonnet-4-5", 0.0045], ["gpt-4.1-mini", 0.00196],
                ])
            // A window ends now: only spend from the last 24 hours counts (the seed is older than that).
            let now = Timestamp(microseconds: Timestamp.now().microseconds - 3_600_000_000).iso8601
            let fresh =
                #"{"batch":[{"id":"f","type":"generation-create","timestamp":"\#(now)","body":{"id":"fresh-gen","traceId":"fresh","model":"gpt-4.1-mini","startTime":"\#(now)","usage":{"input":1000},"metadata":{"tenantId":"fresh"}}}]}"#
            _ = try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: h, body: ByteBuffer(string: fresh))
            let recent = try Self.data(
                try await client.execute(
                    uri: "/api/tally/v1/dashboards/top-tenants?window=24h", method: .get, headers: h))
            #expect(recent.map { [$0["tenant"]!, $0["totalCost"]!] } == [["fresh", 0.0004]])
            #expect(
                try await client.execute(
                    uri: "/api/tally/v1/dashboards/top-tenants?window=1y", method: .get, headers: h
                ).status == .badRequest)
        }
    }

    @Test(
        "bad analytics queries are refused with a message naming the problem",
        arguments: [
            ("/api/tally/v1/breakdown?groupBy=colour", "unknown dimension"),
            ("/api/tally/v1/breakdown?groupBy=tenant;DROP TABLE trace", "unknown dimension"),
            ("/api/tally/v1/breakdown?groupBy=tenant,model,feature,type", "at most 3"),
            ("/api/tally/v1/breakdown?from=yesterday", "from"),
            ("/api/tally/v1/breakdown?from=2026-11-22T00:00:00Z&to=2026-11-21T00:00:00Z", "before"),
            ("/api/tally/v1/breakdown?bucket=fortnight", "bucket"),
            ("/api/tally/v1/breakdown?sort=model", "sort"),
            ("/api/tally/v1/breakdown?metrics=vibes", "unknown metric"),
            ("/api/tally/v1/breakdown?metadata.a%27%29--=1", "metadata key"),
            ("/api/tally/v1/breakdown?groupBy=metadata.x%22%29", "unknown dimension"),
            ("/api/tally/v1/breakdown?limit=0", "limit"),
            ("/api/tally/v1/breakdown?type=BANANA", "type"),
        ])
    func badQueries(uri: String, fragment: String) async throws {
        try await seeded { client, h in
            let r = try await client.execute(uri: uri, method: .get, headers: h)
            #expect(r.status == .badRequest, "\(uri)")
            let body = try JSONValue.parse(Data(buffer: r.body)).objectValue
            #expect(body?["error"]?.stringValue?.contains(fragment) == true, "\(uri): \(body ?? [:])")
        }
    }

    @Test("filter values are data, never SQL")
    func injectionInValues() async throws {
        try await seeded { client, h in
            let r = try await client.execute(
                uri: "/api/tally/v1/breakdown?tenantId=acme%27%20OR%201%3D1%20--&groupBy=tenant", method: .get,
                headers: h)
            #expect(r.status == .ok)
            #expect(try Self.data(r).isEmpty)
            let m = try await client.execute(
                uri: "/api/tally/v1/breakdown?metadata.region=%27%20OR%20%271%27%3D%271", method: .get, headers: h)
            #expect(try Self.data(m).isEmpty)
        }
    }

    // MARK: Langfuse metrics query API

    static func metricsURI(_ query: String, version: Int = 1) -> String {
        let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        return (version == 2 ? "/api/public/v2/metrics" : "/api/public/metrics") + "?query=" + encoded
    }

    static let range = #""fromTimestamp":"2026-11-01T00:00:00Z","toTimestamp":"2026-12-01T00:00:00Z""#

    @Test("metrics query: observations by model, cost summed exactly, ordered by a metric key")
    func metricsByModel() async throws {
        try await seeded { client, h in
            let q =
                #"{"view":"observations","dimensions":[{"field":"providedModelName"}],"metrics":[{"measure":"totalCost","aggregation":"sum"},{"measure":"count","aggregation":"count"},{"measure":"inputTokens","aggregation":"sum"}],"filters":[],"orderBy":[{"field":"sum_totalCost","direction":"desc"}],\#(Self.range)}"#
            for version in [1, 2] {
                let rows = try Self.data(
                    try await client.execute(uri: Self.metricsURI(q, version: version), method: .get, headers: h))
                #expect(rows.map { $0["providedModelName"] } == ["gpt-4o", "claude-sonnet-4-5", "gpt-4.1-mini"])
                #expect(rows.map { $0["sum_totalCost"] } == [0.5, 0.0045, 0.00196])
                #expect(rows.map { $0["count_count"] } == [1, 1, 3])
                #expect(rows[2]["sum_inputTokens"] == 3500)
            }
        }
    }

    @Test("metrics query: time dimension, tag and metadata filters, percentiles per prompt version")
    func metricsFiltersAndPercentiles() async throws {
        try await seeded { client, h in
            let byDay =
                #"{"view":"observations","dimensions":[{"field":"tenantId"}],"metrics":[{"measure":"totalCost","aggregation":"sum"}],"filters":[{"column":"tags","operator":"any of","value":["copilot"],"type":"arrayOptions"}],"timeDimension":{"granularity":"day"},\#(Self.range)}"#
            let rows = try Self.data(try await client.execute(uri: Self.metricsURI(byDay), method: .get, headers: h))
            #expect(
                rows.map { [$0["time_dimension"], $0["tenantId"], $0["sum_totalCost"]] } == [
                    ["2026-11-20T00:00:00.000Z", "acme", 0.00168], ["2026-11-21T00:00:00.000Z", "globex", 0.00028],
                ])
            let eu =
                #"{"view":"observations","metrics":[{"measure":"count","aggregation":"count"}],"filters":[{"column":"metadata","key":"region","operator":"=","value":"eu","type":"stringObject"},{"column":"level","operator":"none of","value":["ERROR"],"type":"stringOptions"}],\#(Self.range)}"#
            #expect(
                try Self.data(try await client.execute(uri: Self.metricsURI(eu), method: .get, headers: h)).first?[
                    "count_count"] == 2)
            let latency =
                #"{"view":"observations","dimensions":[{"field":"promptVersion"}],"metrics":[{"measure":"latency","aggregation":"p50"},{"measure":"latency","aggregation":"p95"},{"measure":"latency","aggregation":"max"}],"filters":[{"column":"promptName","operator":"=","value":"copilot-answer","type":"string"}],\#(Self.range)}"#
            let versions = try Self.data(
                try await client.execute(uri: Self.metricsURI(latency), method: .get, headers: h))
            #expect(
                versions.map { [$0["promptVersion"], $0["p50_latency"], $0["p95_latency"], $0["max_latency"]] } == [
                    [1, 100.0, 100.0, 100.0], [2, 300.0, 400.0, 400.0],
                ])
        }
    }

    @Test("metrics query: traces view (v1 only) and numeric scores")
    func metricsTracesAndScores() async throws {
        try await seeded { client, h in
            let traces =
                #"{"view":"traces","dimensions":[{"field":"tenantId"}],"metrics":[{"measure":"count","aggregation":"count"},{"measure":"totalCost","aggregation":"sum"},{"measure":"observationsCount","aggregation":"sum"}],"orderBy":[{"field":"tenantId","direction":"asc"}],\#(Self.range)}"#
            let rows = try Self.data(try await client.execute(uri: Self.metricsURI(traces), method: .get, headers: h))
            #expect(rows.map { $0["tenantId"] } == ["acme", "globex", "initech"])
            #expect(rows.map { $0["count_count"] } == [3, 1, 1])
            #expect(rows.map { $0["sum_totalCost"] } == [0.00618, 0.00028, 0.5])
            #expect(rows.map { $0["sum_observationsCount"] } == [3, 1, 1])
            let v2 = try await client.execute(uri: Self.metricsURI(traces, version: 2), method: .get, headers: h)
            #expect(v2.status == .badRequest)
            let scores =
                #"{"view":"scores-numeric","dimensions":[{"field":"name"}],"metrics":[{"measure":"value","aggregation":"avg"},{"measure":"count","aggregation":"count"}],\#(Self.range)}"#
            let s = try Self.data(try await client.execute(uri: Self.metricsURI(scores), method: .get, headers: h))
            #expect(s.first?["name"] == "helpfulness" && s.first?["count_count"] == 3)
            #expect(abs((s.first?["avg_value"]?.doubleValue ?? 0) - 0.8) < 1e-12)
        }
    }

    @Test(
        "metrics query: malformed and hostile queries are 400s naming the problem",
        arguments: [
            ("not json", "JSON object"),
            (#"{"view":"spans","metrics":[{"measure":"count","aggregation":"count"}]}"#, "query.view"),
            (#"{"view":"observations","metrics":[]}"#, "at least one"),
            (
                #"{"view":"observations","metrics":[{"measure":"count","aggregation":"histogram"}],\#(range)}"#,
                "aggregation"
            ),
            (
                #"{"view":"observations","metrics":[{"measure":"cost; DROP TABLE trace","aggregation":"sum"}],\#(range)}"#,
                "is not a measure"
            ),
            (
                #"{"view":"observations","dimensions":[{"field":"name) FROM x --"}],"metrics":[{"measure":"count","aggregation":"count"}],\#(range)}"#,
                "is not a field"
            ),
            (
                #"{"view":"observations","metrics":[{"measure":"count","aggregation":"count"}],"filters":[{"column":"metadata","key":"a') OR 1=1 --","operator":"=","value":"x","type":"stringObject"}],\#(range)}"#,
                "metadata takes"
            ),
            (
                #"{"view":"observations","metrics":[{"measure":"count","aggregation":"count"}],"filters":[{"column":"name","operator":"LIKE '%' OR 1=1","value":"x","type":"string"}],\#(range)}"#,
                "is none of =, !="
            ),
            (
                #"{"view":"observations","metrics":[{"measure":"count","aggregation":"count"}],"fromTimestamp":"2026-12-01T00:00:00Z","toTimestamp":"2026-11-01T00:00:00Z"}"#,
                "before"
            ),
            (
                #"{"view":"observations","metrics":[{"measure":"count","aggregation":"count"}],"config":{"row_limit":5000},\#(range)}"#,
                "row_limit"
            ),
        ])
    func metricsBadQueries(query: String, message: String) async throws {
        try await seeded { client, h in
            let r = try await client.execute(uri: Self.metricsURI(query), method: .get, headers: h)
            #expect(r.status == .badRequest)
            #expect(String(buffer: r.body).contains(message), "\(String(buffer: r.body))")
            // The store is intact after the hostile query.
            let traces = try await client.execute(uri: "/api/public/traces", method: .get, headers: h)
            #expect(try Self.data(traces).count == 5)
        }
    }
}
