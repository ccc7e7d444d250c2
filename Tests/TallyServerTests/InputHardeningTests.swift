import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

/// Inputs that answered 500 or corrupted ids before: oversized filter lists, control characters in ids, encoded
/// path ids; and what every response now carries (a request id, security headers, no database text).
@Suite("Input hardening")
struct InputHardeningTests {
    let router = RouterTests()

    func ingest(_ client: some TestClientProtocol, _ env: RouterTests.Env, _ batch: JSONValue) async throws
        -> JSONValue
    {
        let r = try await client.execute(
            uri: "/api/public/ingestion", method: .post,
            headers: [.authorization: env.auth, .contentType: "application/json"],
            body: ByteBuffer(string: batch.serialized()))
        #expect(r.status.code == 207)
        return try JSONValue.parse(Data(buffer: r.body))
    }

    static func traceCreate(_ id: String, name: String) -> JSONValue {
        [
            "id": .string("e-\(name)"), "type": "trace-create", "timestamp": "2026-11-20T10:00:00Z",
            "body": ["id": .string(id), "name": .string(name)],
        ]
    }

    @Test("993 tags, 150 models, 2,000 query parameters or 60 metrics filters answer 400 naming the limit, not 500")
    func filterCaps() async throws {
        let env = try await router.makeEnv()
        let tags = (0..<993).map { "tags=t\($0)" }.joined(separator: "&")
        let models = "model=" + (0..<150).map { "m\($0)" }.joined(separator: ",")
        let params = (0..<2_000).map { "p\($0)=1" }.joined(separator: "&")
        let filters: JSONValue = .array(
            (0..<60).map { _ in ["column": "name", "operator": "=", "value": "x", "type": "string"] })
        let query: JSONValue = [
            "view": "observations", "metrics": [["measure": "count", "aggregation": "count"]], "filters": filters,
            "fromTimestamp": "2026-11-01T00:00:00Z", "toTimestamp": "2026-11-30T00:00:00Z",
        ]
        let encoded = query.serialized().addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        try await env.app.test(.router) { client in
            for uri in [
                "/api/public/traces?\(tags)", "/api/tally/v1/traces?\(tags)", "/api/tally/v1/breakdown?\(tags)",
                "/api/tally/v1/breakdown?\(models)", "/api/public/traces?\(params)", "/api/public/metrics?query=\(encoded)",
            ] {
                let r = try await client.execute(uri: uri, method: .get, headers: [.authorization: env.auth])
                #expect(r.status == .badRequest, "\(uri.prefix(60)): \(String(buffer: r.body).prefix(200))")
                #expect(String(buffer: r.body).contains("at most"), "\(uri.prefix(60))")
            }
            // 100 tags is still a valid filter.
            let ok = (0..<100).map { "tags=t\($0)" }.joined(separator: "&")
            let r = try await client.execute(
                uri: "/api/public/traces?\(ok)", method: .get, headers: [.authorization: env.auth])
            #expect(r.status == .ok)
        }
    }

    @Test("ids with NUL or other control characters, or U+FFFD from a lone surrogate, are refused; neighbours stored")
    func idRules() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            _ = try await ingest(client, env, ["batch": [Self.traceCreate("victim", name: "original")]])
            let hostile: [String] = ["victim\u{0}evil", "tab\there", "bell\u{7}", "c1\u{85}", "lone\u{FFFD}"]
            let out = try await ingest(
                client, env,
                ["batch": .array(hostile.enumerated().map { Self.traceCreate($0.element, name: "h\($0.offset)") }
                    + [Self.traceCreate("fine id/with slash", name: "ok")])])
            let errors = out.objectValue?["errors"]?.arrayValue ?? []
            #expect(errors.count == hostile.count)
            #expect(errors.allSatisfy { $0.objectValue?["status"] == 400 })
            // A lone surrogate escape in raw JSON decodes to U+FFFD and is refused the same way.
            let raw = #"{"batch":[{"id":"e-s","type":"trace-create","timestamp":"2026-11-20T10:00:00Z","body":{"id":"a\udc00b"}}]}"#
            let r = try await client.execute(
                uri: "/api/public/ingestion", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json"], body: ByteBuffer(string: raw))
            #expect(try JSONValue.parse(Data(buffer: r.body)).objectValue?["errors"]?.arrayValue?.count == 1)
            // The victim kept its name; the id with a space and a slash can be read and deleted by its encoded path.
            try await client.execute(uri: "/api/public/traces/victim", method: .get, headers: [.authorization: env.auth])
            { r throws in
                #expect(try JSONValue.parse(Data(buffer: r.body)).objectValue?["name"] == "original")
            }
            try await client.execute(
                uri: "/api/public/traces/fine%20id%2Fwith%20slash", method: .get, headers: [.authorization: env.auth]
            ) { r throws in
                #expect(r.status == .ok)
                #expect(try JSONValue.parse(Data(buffer: r.body)).objectValue?["name"] == "ok")
            }
            try await client.execute(uri: "/api/public/traces/vic%74im", method: .get, headers: [.authorization: env.auth])
            { r throws in
                #expect(r.status == .ok)
            }
            try await client.execute(
                uri: "/api/public/traces/fine%20id%2Fwith%20slash", method: .delete, headers: [.authorization: env.auth]
            ) { r throws in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/api/public/traces/a%00b", method: .get, headers: [.authorization: env.auth])
            { r throws in
                #expect(r.status == .badRequest)
            }
        }
        #expect(try env.database.rowCounts()["trace"] == 1)
    }

    @Test("every response carries a request id (the client's when it is a token) and the security headers")
    func requestIDAndHeaders() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            try await client.execute(uri: "/api/public/health", method: .get, headers: [.requestID: "abc-123"]) {
                r throws in
                #expect(r.headers[.requestID] == "abc-123")
                #expect(r.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                #expect(r.headers[.contentTypeOptions] == "nosniff")
                #expect(r.headers[.referrerPolicy] == "no-referrer")
            }
            try await client.execute(uri: "/api/public/traces", method: .get, headers: [.requestID: "bad id\u{1}"]) {
                r throws in
                #expect(r.status == .unauthorized)
                let id = r.headers[.requestID] ?? ""
                #expect(id.count == 16 && id != "bad id\u{1}")
                #expect(r.headers[.contentTypeOptions] == "nosniff")
            }
        }
    }

    @Test("a gzip body cut short (no trailer, or mid-stream) is a 400, never stored")
    func truncatedGzip() async throws {
        let env = try await router.makeEnv()
        let batch: JSONValue = ["batch": [Self.traceCreate("gz", name: "gz")]]
        let full = Data(buffer: try gzip(Data(batch.serialized().utf8)))
        try await env.app.test(.router) { client in
            for cut in [full.dropLast(8), full.dropLast(4), full.prefix(full.count / 2)] {
                let r = try await client.execute(
                    uri: "/api/public/ingestion", method: .post,
                    headers: [.authorization: env.auth, .contentType: "application/json", .contentEncoding: "gzip"],
                    body: ByteBuffer(data: Data(cut)))
                #expect(r.status == .badRequest, "\(cut.count) of \(full.count) bytes")
            }
            let ok = try await client.execute(
                uri: "/api/public/ingestion", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json", .contentEncoding: "gzip"],
                body: ByteBuffer(data: full))
            #expect(ok.status.code == 207)
        }
        #expect(try env.database.rowCounts()["trace"] == 1)
    }
}

@Suite("Query strings")
struct FormQueryTests {
    @Test("a + in a query string is a space (httpx writes spaces so), %2B a plus, and the path keeps its +")
    func plusIsSpace() async throws {
        let env = try await RouterTests().makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        try await env.app.test(.router) { client in
            let batch = """
                {"batch":[{"id":"e1","type":"generation-create","timestamp":"2026-11-23T10:00:00Z",
                  "body":{"id":"g1","traceId":"t1","name":"chat gpt-4o-mini","startTime":"2026-11-23T10:00:00Z"}},
                 {"id":"e2","type":"generation-create","timestamp":"2026-11-23T10:00:00Z",
                  "body":{"id":"g2","traceId":"t1","name":"a+b","startTime":"2026-11-23T10:00:00Z"}}]}
                """
            _ = try await client.execute(uri: "/api/public/ingestion", method: .post, headers: h, body: ByteBuffer(string: batch))
            func names(_ query: String) async throws -> [String] {
                let r = try await client.execute(uri: "/api/public/observations?" + query, method: .get, headers: h)
                return (try JSONValue.parse(Data(buffer: r.body)).objectValue?["data"]?.arrayValue ?? [])
                    .compactMap { $0.objectValue?["name"]?.stringValue }
            }
            #expect(try await names("name=chat+gpt-4o-mini") == ["chat gpt-4o-mini"])
            #expect(try await names("name=chat%20gpt-4o-mini") == ["chat gpt-4o-mini"])
            #expect(try await names("name=a%2Bb") == ["a+b"])
            #expect(try await names("name=a+b").isEmpty)
        }
    }

    @Test("an unknown route answers a JSON 404 with a message")
    func unknownRoute() async throws {
        let env = try await RouterTests().makeEnv()
        try await env.app.test(.router) { client in
            let r = try await client.execute(
                uri: "/api/public/v9/nothing", method: .get, headers: [.authorization: env.auth])
            #expect(r.status == .notFound)
            let body = try JSONValue.parse(Data(buffer: r.body)).objectValue
            #expect(body?["message"]?.stringValue?.hasPrefix("Not found") == true)
        }
    }
}
