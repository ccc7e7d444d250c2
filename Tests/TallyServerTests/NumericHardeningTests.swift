import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwiftProtobuf
import TallyCore
import TallyOTLP
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

/// Hostile numbers, as an attacker with a project key sends them. Before the fix each of these trapped the
/// process (SIGILL) or poisoned a tenant's rollups; now each is one 400 entry (or one rejected span) naming the
/// field, its neighbours are stored, and every read keeps answering.
@Suite("Numeric hardening")
struct NumericHardeningTests {
    let router = RouterTests()

    static let day = "2026-11-20T10:00:00.000Z"

    /// A batch of one hostile generation (body fields laid over a generation of gpt-4o for tenant acme) and one
    /// ordinary neighbour.
    static func batch(_ fields: [String: JSONValue], id: String) -> Data {
        var body: [String: JSONValue] = [
            "id": .string(id), "traceId": .string("t-\(id)"), "name": "chat", "model": "gpt-4o",
            "startTime": .string(day), "metadata": ["tenantId": "acme"],
        ]
        for (k, v) in fields { body[k] = v }
        let neighbour: JSONValue = [
            "id": .string("ok-\(id)"), "type": "generation-create", "timestamp": .string(day),
            "body": [
                "id": .string("g-ok-\(id)"), "traceId": .string("t-ok-\(id)"), "model": "gpt-4o",
                "startTime": .string(day), "usage": ["input": 10, "output": 2], "metadata": ["tenantId": "acme"],
            ],
        ]
        let hostile: JSONValue = [
            "id": .string("bad-\(id)"), "type": "generation-create", "timestamp": .string(day), "body": .object(body),
        ]
        return Data(JSONValue.object(["batch": [hostile, neighbour]]).serialized().utf8)
    }

    /// The 16 inputs that crashed or poisoned the server, by the field each one names in its error.
    static let reported: [(fields: [String: JSONValue], field: String)] = [
        (["costDetails": ["total": 1e10]], "cost"),
        (["costDetails": ["total": 1e300]], "costDetails.total"),
        (["costDetails": ["total": 1e308]], "costDetails.total"),
        (["costDetails": ["input": 9e9, "output": 9e9]], "costDetails."),
        (["usage": ["input": 1, "inputCost": 1e300]], "usage.inputCost"),
        (["usage": ["input": .int(Int64.max), "output": 1]], "usage.input"),
        (["usageDetails": ["a": .int(Int64.max), "b": .int(Int64.max)]], "usageDetails."),
        (["usageDetails": ["input": .int(Int64.max / 2), "output": .int(Int64.max / 2 + 10)]], "usageDetails"),
        (["usage": ["promptTokens": 1e19]], "usage.promptTokens"),
        (["usage": ["total": "99999999999999999999999"]], "usage.total"),
        (["usageDetails": ["prompt_tokens": 5, "prompt_tokens_details": ["cached_tokens": .int(Int64.max)]]],
         "prompt_tokens_details.cached_tokens"),
        (["usage": ["input": .int(NumericLimits.maxUnits), "output": .int(NumericLimits.maxUnits)]], "gpt-4o"),
    ]

    @Test("each reported overflow input is one 400 naming the field; its neighbour is stored; reads still answer")
    func reportedInputs() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            for (index, input) in Self.reported.enumerated() {
                let r = try await client.execute(
                    uri: "/api/public/ingestion", method: .post,
                    headers: [.authorization: env.auth, .contentType: "application/json"],
                    body: ByteBuffer(data: Self.batch(input.fields, id: "r\(index)")))
                #expect(r.status.code == 207, "input \(index)")
                let out = try JSONValue.parse(Data(buffer: r.body)).objectValue
                let errors = out?["errors"]?.arrayValue ?? []
                #expect(errors.count == 1, "input \(index): \(String(buffer: r.body))")
                let error = errors.first?.objectValue
                #expect(error?["id"] == .string("bad-r\(index)"))
                #expect(error?["status"] == 400)
                let text = error?["error"]?.stringValue ?? ""
                #expect(text.contains(input.field), "input \(index): \(text)")
                #expect(!text.lowercased().contains("sqlite"), "no database text: \(text)")
                #expect(out?["successes"]?.arrayValue?.count == 1, "input \(index)")
            }
            try await expectReadsAnswer(client, env)
        }
        let counts = try env.database.rowCounts()
        #expect(counts["observation"] == Self.reported.count)
    }

    @Test("usage at Int64.max cannot poison a tenant: later generations of that tenant/model/day are stored")
    func noPoisonedTenant() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            let poison = try await client.execute(
                uri: "/api/public/ingestion", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json"],
                body: ByteBuffer(data: Self.batch(["usage": ["input": .int(Int64.max)]], id: "p")))
            #expect(poison.status.code == 207)
            // The largest accepted usage, many times over: the rollup sums stay integers.
            for i in 0..<20 {
                let r = try await client.execute(
                    uri: "/api/public/ingestion", method: .post,
                    headers: [.authorization: env.auth, .contentType: "application/json"],
                    body: ByteBuffer(
                        data: Self.batch(
                            ["usage": ["input": .int(NumericLimits.maxUnits)], "model": "unpriced-model"], id: "m\(i)")))
                let out = try JSONValue.parse(Data(buffer: r.body)).objectValue
                #expect(out?["errors"] == [], "\(String(buffer: r.body))")
            }
            try await expectReadsAnswer(client, env)
            try await client.execute(
                uri: "/api/tally/v1/breakdown?groupBy=tenant&metrics=inputTokens&from=2026-11-20&to=2026-11-21",
                method: .get, headers: [.authorization: env.auth]
            ) { r throws in
                #expect(r.status == .ok)
                let rows = try JSONValue.parse(Data(buffer: r.body)).objectValue?["data"]?.arrayValue ?? []
                // 21 neighbours × 10 tokens + 20 × 10^12.
                #expect(rows.first?.objectValue?["inputTokens"] == .int(20 * NumericLimits.maxUnits + 210))
            }
        }
    }

    @Test("numeric fuzz: every numeric field × edge values never traps, never answers 5xx, never stores a bad row")
    func fuzz() async throws {
        let env = try await router.makeEnv()
        let values: [JSONValue] = [
            0, 1, -1, 0.5, -0.0, 1e10, 1e12, .int(NumericLimits.maxUnits + 1), 9.2e18, .int(Int64.max), .int(Int64.min),
            1e300, 1.7976931348623157e308, -1e308, 5e-324, "9223372036854775808", "18446744073709551615", "-5", "1e3",
        ]
        let paths: [[String]] = [
            ["usage", "input"], ["usage", "output"], ["usage", "total"], ["usage", "inputCost"], ["usage", "totalCost"],
            ["usage", "promptTokens"], ["usage", "completionTokens"], ["usageDetails", "input"],
            ["usageDetails", "cache_read_input_tokens"], ["usageDetails", "input_tokens"],
            ["costDetails", "input"], ["costDetails", "total"], ["promptVersion"], ["value"],
        ]
        try await env.app.test(.router) { client in
            var n = 0
            for path in paths {
                for value in values {
                    n += 1
                    var fields: [String: JSONValue] = [:]
                    if path.count == 2 {
                        fields[path[0]] = .object([path[1]: value])
                    } else {
                        fields[path[0]] = value
                        if path[0] == "promptVersion" { fields["promptName"] = "p" }
                    }
                    let r = try await client.execute(
                        uri: "/api/public/ingestion", method: .post,
                        headers: [.authorization: env.auth, .contentType: "application/json"],
                        body: ByteBuffer(data: Self.batch(fields, id: "f\(n)")))
                    #expect(r.status.code == 207, "\(path) = \(value.serialized())")
                    let errors = try JSONValue.parse(Data(buffer: r.body)).objectValue?["errors"]?.arrayValue ?? []
                    #expect(errors.allSatisfy { $0.objectValue?["status"] == 400 }, "\(path) = \(value.serialized())")
                }
            }
            for value in values {
                n += 1
                let score: JSONValue = [
                    "batch": [
                        [
                            "id": .string("s\(n)"), "type": "score-create", "timestamp": .string(Self.day),
                            "body": ["id": .string("s\(n)"), "traceId": "t", "name": "q", "value": value],
                        ]
                    ]
                ]
                let r = try await client.execute(
                    uri: "/api/public/ingestion", method: .post,
                    headers: [.authorization: env.auth, .contentType: "application/json"],
                    body: ByteBuffer(string: score.serialized()))
                #expect(r.status.code == 207, "score value \(value.serialized())")
            }
            try await expectReadsAnswer(client, env)
        }
        // Every stored row is within range.
        let bad = try env.database.count(
            sql: """
                SELECT count(*) FROM observation WHERE input_tokens > ? OR total_cost_nanos > ? OR total_cost_nanos < 0
                """, arguments: [NumericLimits.maxUnits * 101, NumericLimits.maxCostNanos])
        #expect(bad == 0)
    }

    @Test("OTLP: cost 1e10, llm.cost.total 1e12, cache counts at Int64.max are rejected spans; the rest are stored")
    func otlpSpans() async throws {
        let env = try await router.makeEnv()
        func attribute(_ key: String, _ set: (inout OTLPAnyValue) -> Void) -> OTLPKeyValue {
            var kv = OTLPKeyValue()
            kv.key = key
            set(&kv.value)
            return kv
        }
        let hostile: [[OTLPKeyValue]] = [
            [attribute("gen_ai.usage.cost") { $0.doubleValue = 1e10 }],
            [attribute("llm.cost.total") { $0.doubleValue = 1e12 }],
            [
                attribute("gen_ai.usage.input_tokens") { $0.intValue = 0 },
                attribute("gen_ai.usage.cache_read.input_tokens") { $0.intValue = .max },
                attribute("gen_ai.usage.cache_creation.input_tokens") { $0.intValue = .max },
            ],
            [attribute("gen_ai.usage.output_tokens") { $0.stringValue = "99999999999999999999" }],
            [attribute("langfuse.observation.usage_details") { $0.stringValue = #"{"input": 1e300}"# }],
            [attribute("langfuse.observation.cost_details") { $0.stringValue = #"{"total": 2000000}"# }],
        ]
        var ss = OTLPScopeSpans()
        for (i, attributes) in (hostile + [[]]).enumerated() {
            var span = OTLPSpan()
            span.traceID = Data(repeating: 0xA1, count: 16)
            span.spanID = Data(repeating: UInt8(i + 1), count: 8)
            span.name = "chat"
            span.startTimeUnixNano = 1_763_632_800_000_000_000
            span.endTimeUnixNano = span.startTimeUnixNano + 1_000_000
            span.attributes = [attribute("gen_ai.request.model") { $0.stringValue = "gpt-4o" }] + attributes
            ss.spans.append(span)
        }
        var rs = OTLPResourceSpans()
        rs.scopeSpans = [ss]
        var request = OTLPExportTraceServiceRequest()
        request.resourceSpans = [rs]
        let body = try request.serializedData()
        try await env.app.test(.router) { client in
            let r = try await client.execute(
                uri: "/api/public/otel/v1/traces", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/x-protobuf"],
                body: ByteBuffer(data: body))
            #expect(r.status == .ok)
            let reply = try OTLPExportTraceServiceResponse(serializedBytes: Data(buffer: r.body))
            #expect(reply.partialSuccess.rejectedSpans == Int64(hostile.count))
            #expect(reply.partialSuccess.errorMessage.contains("gen_ai.usage.cache_"))
            #expect(reply.partialSuccess.errorMessage.contains("gen_ai.usage.output_tokens"))
            try await expectReadsAnswer(client, env)
        }
        #expect(try env.database.rowCounts()["observation"] == 1)
    }

    /// The reads that answered 500 while a tenant was poisoned.
    func expectReadsAnswer(_ client: some TestClientProtocol, _ env: RouterTests.Env) async throws {
        for uri in [
            "/api/public/metrics/daily", "/api/tally/v1/breakdown?groupBy=model&metrics=totalCost",
            "/api/tally/v1/breakdown?groupBy=tenant,feature", "/api/tally/v1/dashboards/spend-by-feature",
            "/api/tally/v1/dashboards/top-tenants?window=30d", "/api/tally/v1/dashboards/cost-by-model",
            "/api/public/traces", "/api/public/observations",
        ] {
            let r = try await client.execute(uri: uri, method: .get, headers: [.authorization: env.auth])
            #expect(r.status == .ok, "\(uri): \(String(buffer: r.body))")
        }
    }
}
