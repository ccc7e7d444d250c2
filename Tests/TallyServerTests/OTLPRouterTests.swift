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

@Suite("OTLP endpoint")
struct OTLPRouterTests {
    static let otlp = RouterTests.fixtures.appendingPathComponent("otlp")
    let router = RouterTests()

    func post(
        _ client: some TestClientProtocol, _ env: RouterTests.Env, path: String = "/api/public/otel/v1/traces",
        body: Data, contentType: String, gzip: Bool = false
    ) async throws -> TestResponse {
        var headers: HTTPFields = [.authorization: env.auth, .contentType: contentType]
        if gzip { headers[.contentEncoding] = "gzip" }
        return try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(data: body))
    }

    @Test(
        "every capture lands: v5 protobuf+gzip, raw protobuf+gzip, plain protobuf on /v1/traces, OTLP/JSON, a re-send")
    func capturesLand() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            let sends: [(String, String, Bool, String)] = [
                ("v5-002-traces.pb.gz", "application/x-protobuf", true, "/api/public/otel/v1/traces"),
                ("raw-001-gen_ai.pb.gz", "application/x-protobuf", true, "/api/public/otel/v1/traces"),
                ("raw-002-openinference.pb", "application/x-protobuf", false, "/v1/traces"),
                ("raw-003-mixed.json", "application/json", false, "/api/public/otel/v1/traces"),
                ("raw-004-gen_ai-resent.json", "application/json; charset=utf-8", false, "/api/public/otel/v1/traces"),
            ]
            for (file, type, gzip, path) in sends {
                let r = try await post(
                    client, env, path: path, body: try Data(contentsOf: Self.otlp.appendingPathComponent(file)),
                    contentType: type, gzip: gzip)
                #expect(r.status == .ok, "\(file)")
                #expect(
                    r.headers[.contentType]
                        == (type.hasPrefix("application/json") ? "application/json" : "application/x-protobuf"))
                if type.hasPrefix("application/json") {
                    #expect(String(buffer: r.body) == "{}")
                } else {
                    let reply = try OTLPExportTraceServiceResponse(serializedBytes: Data(buffer: r.body))
                    #expect(!reply.hasPartialSuccess)
                }
            }
        }
        let db = env.database
        // Costs by hand (USD per 1M tokens: gpt-4.1-mini 0.40 in / 0.10 cached / 1.60 out, gpt-4.1-nano 0.10 / 0.40,
        // text-embedding-3-small 0.02):
        let expected: [(String, Int, String?, Double)] = [
            // given 0.002288 + summarize-followup 800/120 → 0.000512 + embed-query 9 → 0.00000018
            ("b401d59f9a75a60d92c17e7c4b05629a", 8, "acme", 0.00280018),
            // answer-llm 1200/90 → 0.00048 + 0.000144
            ("ec46f09cffc78a8a4bfaaa4cfc818e9e", 3, "globex", 0.000624),
            // classify gpt-4.1-nano 300/5 → 0.00003 + 0.000002
            ("58955b41b419631be38ff3a7f7c3d683", 2, "initech", 0.000032),
            // chat: input 4200 − 1000 cached → 3200 × 0.40 + 1000 × 0.10 + 380 × 1.60 = 0.001988; embeddings 9 → 0.00000018
            ("e0e33f7f7c22489ba6bb043898bda4ab", 5, "acme", 0.00198818),
            // given 0.000624 + embed 6 tokens → 0.00000012
            ("0df7ef214fe56e3db9c267ae33224987", 5, "globex", 0.00062412),
            // chat gpt-4.1-nano 300/5 → 0.000032
            ("23e222dc859ae8fa929a854407ce86ca", 2, "initech", 0.000032),
        ]
        for (id, count, tenant, cost) in expected {
            let (summary, observations, _) = try #require(try await db.trace(projectID: "proj-1", id: id))
            #expect(observations.count == count, "\(id)")
            #expect(summary.trace.tenant == tenant, "\(id)")
            #expect(summary.totalCost == cost, "\(id)")
            #expect(!summary.trace.isPlaceholder, "\(id)")
            #expect(observations.allSatisfy { $0.tenant == tenant }, "\(id)")
        }
        #expect(try db.rowCounts()["trace"] == 6)
        #expect(try db.rowCounts()["observation"] == 25)
        let acme = try #require(try await db.trace(projectID: "proj-1", id: "b401d59f9a75a60d92c17e7c4b05629a"))
        #expect(acme.0.trace.name == "copilot-request")
        #expect(acme.0.trace.userID == "user-42")
        #expect(acme.0.trace.tags == ["copilot", "tenant:acme"])
        #expect(acme.0.trace.feature == "copilot")
        #expect(acme.0.trace.timestamp == acme.1.map(\.startTime).min())
        let gen = try #require(acme.1.first { $0.name == "chat-completion" })
        #expect(gen.promptName == "copilot-answer" && gen.promptVersion == 4)
        #expect(gen.providedCost["total"] == 0.002288)
        let rawChat = try #require(try await db.observation(projectID: "proj-1", id: "705246dc427dd0db"))
        #expect(rawChat.model == "gpt-4.1-mini")
        #expect(rawChat.responseModel == "gpt-4.1-mini-2025-04-14")
        #expect(rawChat.usage == ["input": 3200, "input_cached_tokens": 1000, "output": 380, "total": 4580])
    }

    @Test("children first, roots in a later request: the trace ends up exactly as if sent together")
    func childrenBeforeParents() async throws {
        let env = try await router.makeEnv()
        let whole = try OTLPExportTraceServiceRequest(
            serializedBytes: try Data(contentsOf: Self.otlp.appendingPathComponent("v5-002-traces.pb")))
        func only(_ keep: (OTLPSpan) -> Bool) -> OTLPExportTraceServiceRequest {
            var copy = whole
            for r in copy.resourceSpans.indices {
                for s in copy.resourceSpans[r].scopeSpans.indices {
                    copy.resourceSpans[r].scopeSpans[s].spans.removeAll { !keep($0) }
                }
            }
            return copy
        }
        let isRoot: (OTLPSpan) -> Bool = { span in
            span.parentSpanID.isEmpty || span.attributes.contains { $0.key == "langfuse.internal.as_root" }
        }
        let children = try only { !isRoot($0) }.serializedData()
        let roots = try only(isRoot).serializedData()
        try await env.app.test(.router) { client throws in
            let r = try await post(client, env, body: children, contentType: "application/x-protobuf")
            #expect(r.status == .ok)
        }
        let early = try #require(
            try await env.database.trace(projectID: "proj-1", id: "58955b41b419631be38ff3a7f7c3d683"))
        #expect(early.0.trace.isPlaceholder)
        #expect(early.0.trace.name == nil)
        #expect(early.0.trace.tenant == "initech")
        try await env.app.test(.router) { client throws in
            let r = try await post(client, env, body: roots, contentType: "application/x-protobuf")
            #expect(r.status == .ok)
        }
        for (id, name, count) in [
            ("b401d59f9a75a60d92c17e7c4b05629a", "copilot-request", 8),
            ("ec46f09cffc78a8a4bfaaa4cfc818e9e", "globex-agent", 3),
            ("58955b41b419631be38ff3a7f7c3d683", "nightly-batch", 2),
        ] {
            let (summary, observations, _) = try #require(try await env.database.trace(projectID: "proj-1", id: id))
            #expect(summary.trace.name == name)
            #expect(!summary.trace.isPlaceholder)
            #expect(observations.count == count)
            #expect(summary.trace.timestamp == observations.map(\.startTime).min())
            #expect(observations.filter { $0.parentObservationID == nil }.count == 1)
        }
    }

    @Test("the v5 scores array is accepted with 202 and stored")
    func v5Scores() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            let r = try await client.execute(
                uri: "/api/public/scores", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json"],
                body: ByteBuffer(data: try Data(contentsOf: Self.otlp.appendingPathComponent("v5-003-scores.json"))))
            #expect(r.status == .accepted)
        }
        #expect(
            try await env.database.score(projectID: "proj-1", id: "sdkcap-score-v5-acme-resolution")?.stringValue
                == "resolved")
        #expect(
            try await env.database.score(projectID: "proj-1", id: "sdkcap-score-v5-acme-session-csat")?.sessionID
                == "sess-acme-001")
        #expect(
            try await env.database.score(projectID: "proj-1", id: "sdkcap-score-v5-acme-feedback")?.dataType == .boolean
        )
    }

    @Test("bad exports: 415, 400 for garbage, truncation and logs, 413 for a gzip bomb, 401/403 without Basic auth")
    func badExports() async throws {
        let env = try await router.makeEnv { $0.maxOTLPDecodedBytes = 100_000 }
        try await env.app.test(.router) { client in
            let proto = try Data(contentsOf: Self.otlp.appendingPathComponent("v5-002-traces.pb"))
            #expect(try await post(client, env, body: proto, contentType: "text/plain").status == .unsupportedMediaType)
            // Refusals are google.rpc.Status in the request's codec: protobuf {1: code, 2: message}, or JSON.
            let truncated = try await post(client, env, body: proto.prefix(100), contentType: "application/x-protobuf")
            #expect(truncated.status == .badRequest)
            #expect(truncated.headers[.contentType] == "application/x-protobuf")
            let status = [UInt8](Data(buffer: truncated.body))
            #expect(status.prefix(3) == [0x08, 0x03, 0x12])  // code = 3 (INVALID_ARGUMENT), then the message
            #expect(
                try await post(client, env, body: Data("{".utf8), contentType: "application/json").status == .badRequest
            )
            let logs = Data(#"{"resourceLogs":[]}"#.utf8)
            let r = try await post(client, env, body: logs, contentType: "application/json")
            #expect(r.status == .badRequest)
            let json = try JSONValue.parse(Data(buffer: r.body)).objectValue
            #expect(json?["code"] == 3)
            #expect(json?["message"]?.stringValue?.contains("logs export") == true)
            #expect(
                try await post(
                    client, env, body: Data("not gzip".utf8), contentType: "application/x-protobuf", gzip: true
                ).status == .badRequest)
            let bomb = Data(buffer: try gzip(Data(repeating: 0, count: 5_000_000)))
            #expect(
                try await post(client, env, body: bomb, contentType: "application/x-protobuf", gzip: true).status
                    == .contentTooLarge)
            let noAuth = try await client.execute(
                uri: "/v1/traces", method: .post, headers: [.contentType: "application/x-protobuf"],
                body: ByteBuffer(data: proto))
            #expect(noAuth.status == .unauthorized)
            let bearer = try await client.execute(
                uri: "/api/public/otel/v1/traces", method: .post,
                headers: [.authorization: "Bearer pk-lf-test", .contentType: "application/x-protobuf"],
                body: ByteBuffer(data: proto))
            #expect(bearer.status == .forbidden)
            var headers: HTTPFields = [.authorization: env.auth, .contentType: "application/x-protobuf"]
            headers.append(contentsOf: HTTPFields(dictionaryLiteral: (.init("x-langfuse-ingestion-version")!, "9")))
            let version = try await client.execute(
                uri: "/api/public/otel/v1/traces", method: .post, headers: headers, body: ByteBuffer(data: proto))
            #expect(version.status == .badRequest)
            #expect(try await client.execute(uri: "/api/public/health", method: .get).status == .ok)
        }
        #expect(try env.database.rowCounts()["observation"] == 0)
    }

    @Test("spans with bad ids are reported through partial_success; the others are stored")
    func partialSuccess() async throws {
        let env = try await router.makeEnv()
        var request = OTLPExportTraceServiceRequest()
        var rs = OTLPResourceSpans()
        var ss = OTLPScopeSpans()
        for (i, traceBytes) in [16, 16, 3].enumerated() {
            var span = OTLPSpan()
            span.traceID = Data(repeating: 0xAB, count: traceBytes)
            span.spanID = Data(repeating: UInt8(i + 1), count: 8)
            span.name = "span-\(i)"
            span.startTimeUnixNano = 1_700_000_000_000_000_000
            ss.spans.append(span)
        }
        rs.scopeSpans = [ss]
        request.resourceSpans = [rs]
        let body = try request.serializedData()
        let jsonBody = Data(try request.jsonString().utf8)
        try await env.app.test(.router) { client in
            let r = try await post(client, env, body: body, contentType: "application/x-protobuf")
            #expect(r.status == .ok)
            let reply = try OTLPExportTraceServiceResponse(serializedBytes: Data(buffer: r.body))
            #expect(reply.partialSuccess.rejectedSpans == 1)
            #expect(reply.partialSuccess.errorMessage.contains("traceId"))
            let json = try await post(client, env, body: jsonBody, contentType: "application/json")
            #expect(String(buffer: json.body).contains("\"rejectedSpans\":\"1\""))
        }
        #expect(try env.database.rowCounts()["observation"] == 2)
    }

    @Test("10,000 spans in one export are stored in one request")
    func tenThousandSpans() async throws {
        let env = try await router.makeEnv()
        var ss = OTLPScopeSpans()
        for i in 0..<10_000 {
            var span = OTLPSpan()
            span.traceID = Data([UInt8(i % 100 + 1)] + Array(repeating: 0, count: 15))
            var id = withUnsafeBytes(of: UInt64(i + 1).bigEndian, Array.init)
            id[0] = 0x7F
            span.spanID = Data(id)
            span.name = "chat"
            span.startTimeUnixNano = 1_700_000_000_000_000_000 + UInt64(i) * 1_000
            span.endTimeUnixNano = span.startTimeUnixNano + 500_000
            var model = OTLPKeyValue()
            model.key = "gen_ai.request.model"
            model.value.stringValue = "gpt-4.1-mini"
            var tokens = OTLPKeyValue()
            tokens.key = "gen_ai.usage.input_tokens"
            tokens.value.intValue = 100
            span.attributes = [model, tokens]
            ss.spans.append(span)
        }
        var rs = OTLPResourceSpans()
        rs.scopeSpans = [ss]
        var request = OTLPExportTraceServiceRequest()
        request.resourceSpans = [rs]
        let body = try request.serializedData()
        try await env.app.test(.router) { client in
            let r = try await post(client, env, body: body, contentType: "application/x-protobuf")
            #expect(r.status == .ok)
            #expect(!(try OTLPExportTraceServiceResponse(serializedBytes: Data(buffer: r.body))).hasPartialSuccess)
        }
        let counts = try env.database.rowCounts()
        #expect(counts["observation"] == 10_000)
        #expect(counts["trace"] == 100)
    }
}
