import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

/// Tenant keys and read-only keys against every route: a key for tenant acme reads acme's spend and traces and
/// nothing of beta's, whatever it asks for; writes and settings are refused.
@Suite("Tenant and read-only keys")
struct TenantKeyTests {
    let router = RouterTests()

    /// Two tenants whose every field that a route could echo carries a marker: "acme" or "bravo" (beta's).
    static let batch = """
        {"batch": [
          {"id": "e1", "type": "trace-create", "timestamp": "2026-11-30T10:00:00Z",
           "body": {"id": "trace-acme", "name": "acme-checkout", "userId": "acme-user", "sessionId": "acme-session",
                    "tags": ["acme-tag"], "metadata": {"tenantId": "acme", "feature": "acme-feature", "secret": "acme-meta"}}},
          {"id": "e2", "type": "trace-create", "timestamp": "2026-11-30T10:00:00Z",
           "body": {"id": "trace-bravo", "name": "bravo-checkout", "userId": "bravo-user", "sessionId": "bravo-session",
                    "tags": ["bravo-tag"], "metadata": {"tenantId": "bravo", "feature": "bravo-feature", "secret": "bravo-meta"}}},
          {"id": "e3", "type": "generation-create", "timestamp": "2026-11-30T10:00:01Z",
           "body": {"id": "gen-acme", "traceId": "trace-acme", "name": "acme-gen", "model": "gpt-4o",
                    "startTime": "2026-11-30T10:00:01Z", "endTime": "2026-11-30T10:00:02Z",
                    "usageDetails": {"input": 100, "output": 10}, "costDetails": {"total": 0.25}}},
          {"id": "e4", "type": "generation-create", "timestamp": "2026-11-30T10:00:01Z",
           "body": {"id": "gen-bravo", "traceId": "trace-bravo", "name": "bravo-gen", "model": "gpt-4o-mini",
                    "startTime": "2026-11-30T10:00:01Z", "endTime": "2026-11-30T10:00:02Z",
                    "usageDetails": {"input": 999, "output": 99}, "costDetails": {"total": 7.5}}},
          {"id": "e5", "type": "score-create", "timestamp": "2026-11-30T10:00:03Z",
           "body": {"id": "score-bravo", "traceId": "trace-bravo", "name": "bravo-score", "value": 1, "comment": "bravo-comment"}},
          {"id": "e6", "type": "score-create", "timestamp": "2026-11-30T10:00:03Z",
           "body": {"id": "score-acme", "traceId": "trace-acme", "name": "acme-score", "value": 1}}
        ]}
        """

    /// Every GET route of the app with its path parameters pointing at beta's objects.
    static let getRoutes = [
        "/api/public/projects", "/api/public/traces", "/api/public/traces/trace-bravo", "/api/public/observations",
        "/api/public/observations/gen-bravo", "/api/public/v2/observations", "/api/public/sessions",
        "/api/public/sessions/bravo-session", "/api/public/scores", "/api/public/scores/score-bravo",
        "/api/public/v2/scores", "/api/public/v2/scores/score-bravo", "/api/public/v3/scores",
        "/api/public/v2/prompts", "/api/public/v2/prompts/bravo-prompt", "/api/public/models",
        "/api/public/models/gpt-4o", "/api/public/metrics/daily",
        #"/api/public/metrics?query={"view":"traces","metrics":[{"measure":"count","aggregation":"count"}],"dimensions":[{"field":"name"}]}"#,
        #"/api/public/v2/metrics?query={"view":"observations","metrics":[{"measure":"totalCost","aggregation":"sum"}],"dimensions":[{"field":"name"}]}"#,
        "/metrics", "/api/tally/v1/breakdown?groupBy=tenant", "/api/tally/v1/breakdown?groupBy=userId",
        "/api/tally/v1/breakdown?groupBy=metadata.secret", "/api/tally/v1/breakdown?groupBy=tag",
        "/api/tally/v1/unit-economics?groupBy=tenant", "/api/tally/v1/dashboards/spend-by-feature",
        "/api/tally/v1/dashboards/top-tenants?window=30d", "/api/tally/v1/dashboards/tokens-per-success",
        "/api/tally/v1/dashboards/cost-by-model", "/api/tally/v1/exports/usage?groupBy=tenant,feature,model&format=csv",
        "/api/tally/v1/traces", "/api/tally/v1/prompts/bravo-prompt/versions", "/api/tally/v1/alerts",
        "/api/tally/v1/alerts/rules", "/api/tally/v1/alerts/channels", "/api/tally/v1/budgets", "/api/tally/v1/plans",
        "/api/tally/v1/switches", "/api/tally/v1/settings/budgets", "/api/tally/v1/settings/pricing",
        "/api/tally/v1/settings/retention", "/api/tally/v1/tenants/bravo/budget", "/api/tally/v1/exports/sinks",
        "/api/tally/v1/keys",
    ]

    /// The routes a tenant key reads, each answering 200 with acme's data.
    static let open: Set<String> = [
        "/api/public/projects", "/api/public/traces", "/api/tally/v1/breakdown", "/api/tally/v1/unit-economics",
        "/api/tally/v1/dashboards/spend-by-feature", "/api/tally/v1/dashboards/top-tenants",
        "/api/tally/v1/dashboards/tokens-per-success", "/api/tally/v1/dashboards/cost-by-model",
        "/api/tally/v1/exports/usage", "/api/tally/v1/traces",
    ]

    static func basic(_ pk: String, _ sk: String) -> String {
        "Basic " + Data("\(pk):\(sk)".utf8).base64EncodedString()
    }

    static func encoded(_ uri: String) -> String {
        guard let q = uri.firstIndex(of: "?") else { return uri }
        let query = uri[uri.index(after: q)...].split(separator: "&").map { pair -> String in
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            let value =
                parts.count > 1 ? parts[1].addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" : ""
            return parts[0] + "=" + value
        }
        return String(uri[..<q]) + "?" + query.joined(separator: "&")
    }

    @Test("a tenant key reads its own tenant on the open routes, 403 everywhere else; nothing of beta leaks")
    func tenantKeyLeaksNothing() async throws {
        let env = try await router.makeEnv()
        let key = try #require(try env.database.createKey(projectID: "proj-1", scope: KeyScope(tenant: "acme")))
        let acme = Self.basic(key.publicKey, key.secretKey)
        try await env.app.test(.router) { client in
            try await RouterTests.ingest(client, env, batch: Self.batch)
            for route in Self.getRoutes {
                let path = String(route.split(separator: "?")[0])
                let r = try await client.execute(
                    uri: Self.encoded(route), method: .get, headers: [.authorization: acme])
                let body = String(buffer: r.body)
                #expect(!body.lowercased().contains("bravo"), "\(route) leaked: \(body.prefix(300))")
                if Self.open.contains(path) {
                    #expect(r.status == .ok, "\(route): \(r.status) \(body.prefix(200))")
                } else if path == "/api/public/traces/trace-bravo" {
                    #expect(r.status == .notFound, "\(route): \(r.status)")
                } else {
                    #expect(r.status == .forbidden, "\(route): \(r.status) \(body.prefix(200))")
                }
            }
            // Its own data is there.
            var r = try await client.execute(
                uri: "/api/public/traces/trace-acme", method: .get, headers: [.authorization: acme])
            #expect(r.status == .ok && String(buffer: r.body).contains("acme-checkout"))
            r = try await client.execute(
                uri: "/api/tally/v1/breakdown?groupBy=tenant&metrics=totalCost", method: .get,
                headers: [.authorization: acme])
            let rows = try JSONValue.parse(Data(buffer: r.body)).objectValue?["data"]?.arrayValue ?? []
            #expect(rows.count == 1 && rows.first?.objectValue?["tenant"] == "acme")
            #expect(rows.first?.objectValue?["totalCost"] == 0.25)
            // Asking for beta, or for beta besides acme, is a 403 (never an empty answer that reads as "no spend").
            for uri in [
                "/api/tally/v1/breakdown?tenantId=bravo", "/api/tally/v1/breakdown?tenantId=acme,bravo",
                "/api/tally/v1/exports/usage?tenant=bravo", "/api/tally/v1/traces?tenantId=bravo",
                "/api/public/traces?tenantId=bravo", "/api/tally/v1/dashboards/top-tenants?tenantId=bravo",
            ] {
                let r = try await client.execute(uri: uri, method: .get, headers: [.authorization: acme])
                #expect(r.status == .forbidden, "\(uri): \(r.status)")
            }
            // Filters only narrow within acme.
            r = try await client.execute(
                uri: "/api/tally/v1/breakdown?groupBy=tenant&metadata.tenantId=bravo", method: .get,
                headers: [.authorization: acme])
            #expect(r.status == .ok && !String(buffer: r.body).contains("bravo"))
            r = try await client.execute(
                uri: "/api/public/traces?tags=bravo-tag", method: .get, headers: [.authorization: acme])
            #expect(r.status == .ok && !String(buffer: r.body).contains("bravo-checkout"))
            // Every write is refused, whatever the route.
            for (method, uri) in [
                (HTTPRequest.Method.post, "/api/public/ingestion"), (.post, "/api/public/scores"),
                (.post, "/api/public/otel/v1/traces"), (.delete, "/api/public/traces/trace-acme"),
                (.put, "/api/tally/v1/exports/sinks/x"), (.post, "/api/tally/v1/keys"),
                (.post, "/api/tally/v1/reconcile"),
                (.put, "/api/tally/v1/tenants/acme/budget"), (.post, "/api/tally/v1/budget/check"),
                (.post, "/api/langsmith/runs"),
            ] {
                let r = try await client.execute(
                    uri: uri, method: method, headers: [.authorization: acme, .contentType: "application/json"],
                    body: ByteBuffer(string: "{}"))
                #expect(r.status == .forbidden || r.status == .notFound, "\(method) \(uri): \(r.status)")
                #expect(r.status != .notFound || uri == "/api/tally/v1/budget/check", "\(method) \(uri)")
            }
            // The tenant key's public key alone (Bearer) is nothing.
            r = try await client.execute(
                uri: "/api/public/scores", method: .post,
                headers: [.authorization: "Bearer \(key.publicKey)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"traceId": "trace-acme", "name": "x", "value": 1}"#))
            #expect(r.status == .unauthorized)
            // The trace list of the UI, and the session's answer.
            r = try await client.execute(uri: "/api/tally/v1/traces", method: .get, headers: [.authorization: acme])
            #expect(String(buffer: r.body).contains("trace-acme"))
        }
    }

    @Test("a UI session signed in with a tenant key has the key's reach and says so")
    func tenantSession() async throws {
        let env = try await router.makeEnv()
        let key = try #require(try env.database.createKey(projectID: "proj-1", scope: KeyScope(tenant: "acme")))
        try await env.app.test(.router) { client in
            try await RouterTests.ingest(client, env, batch: Self.batch)
            let signIn = try await client.execute(
                uri: "/api/tally/v1/session", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"publicKey": "\#(key.publicKey)", "secretKey": "\#(key.secretKey)"}"#))
            #expect(signIn.status == .ok)
            let session = try JSONValue.parse(Data(buffer: signIn.body)).objectValue
            #expect(session?["tenantId"] == "acme" && session?["readOnly"] == true)
            let cookie = try #require(signIn.headers[.setCookie]?.split(separator: ";").first.map(String.init))
            var r = try await client.execute(
                uri: "/api/tally/v1/breakdown?groupBy=tenant", method: .get, headers: [.cookie: cookie])
            #expect(r.status == .ok && !String(buffer: r.body).contains("bravo"))
            r = try await client.execute(uri: "/api/tally/v1/budgets", method: .get, headers: [.cookie: cookie])
            #expect(r.status == .forbidden)
            r = try await client.execute(
                uri: "/api/tally/v1/settings/retention", method: .put,
                headers: [.cookie: cookie, .init("X-Tally-UI")!: "1"],
                body: ByteBuffer(string: "{}"))
            #expect(r.status == .forbidden)
        }
    }

    @Test("a read-only project key reads every tenant and writes nothing; keys are managed over the API")
    func readOnlyAndKeyAPI() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            try await RouterTests.ingest(client, env, batch: Self.batch)
            // Project keys create keys; the secret is answered once.
            var r = try await client.execute(
                uri: "/api/tally/v1/keys", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json"],
                body: ByteBuffer(string: #"{"readOnly": true, "note": "dashboards"}"#))
            #expect(r.status == .created)
            let created = try #require(try JSONValue.parse(Data(buffer: r.body)).objectValue)
            let reader = Self.basic(
                try #require(created["publicKey"]?.stringValue), try #require(created["secretKey"]?.stringValue))
            r = try await client.execute(
                uri: "/api/tally/v1/breakdown?groupBy=tenant", method: .get, headers: [.authorization: reader])
            #expect(r.status == .ok && String(buffer: r.body).contains("bravo"))
            r = try await client.execute(uri: "/api/tally/v1/budgets", method: .get, headers: [.authorization: reader])
            #expect(r.status == .ok)
            for (method, uri) in [
                (HTTPRequest.Method.post, "/api/public/ingestion"), (.delete, "/api/public/traces/trace-acme"),
                (.post, "/api/tally/v1/keys"), (.put, "/api/tally/v1/settings/retention"),
            ] {
                let w = try await client.execute(
                    uri: uri, method: method, headers: [.authorization: reader, .contentType: "application/json"],
                    body: ByteBuffer(string: "{}"))
                #expect(w.status == .forbidden, "\(method) \(uri): \(w.status)")
            }
            // A tenant key over the API; readOnly false with a tenant is refused.
            r = try await client.execute(
                uri: "/api/tally/v1/keys", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json"],
                body: ByteBuffer(string: #"{"tenantId": "acme", "readOnly": false}"#))
            #expect(r.status == .badRequest)
            r = try await client.execute(
                uri: "/api/tally/v1/keys", method: .post,
                headers: [.authorization: env.auth, .contentType: "application/json"],
                body: ByteBuffer(string: #"{"tenantId": "acme"}"#))
            let tenantKey = try #require(try JSONValue.parse(Data(buffer: r.body)).objectValue)
            #expect(tenantKey["tenantId"] == "acme" && tenantKey["readOnly"] == true)
            r = try await client.execute(uri: "/api/tally/v1/keys", method: .get, headers: [.authorization: env.auth])
            let listed = try JSONValue.parse(Data(buffer: r.body)).objectValue?["data"]?.arrayValue ?? []
            #expect(listed.count == 3)
            #expect(!String(buffer: r.body).contains(try #require(created["secretKey"]?.stringValue)))
            // Revoking: within the project only, then the key is refused at once.
            let pk = try #require(created["publicKey"]?.stringValue)
            r = try await client.execute(
                uri: "/api/tally/v1/keys/\(pk)", method: .delete, headers: [.authorization: env.auth])
            #expect(r.status == .ok)
            r = try await client.execute(
                uri: "/api/tally/v1/breakdown", method: .get, headers: [.authorization: reader])
            #expect(r.status == .unauthorized)
            r = try await client.execute(
                uri: "/api/tally/v1/keys/pk-none", method: .delete, headers: [.authorization: env.auth])
            #expect(r.status == .notFound)
        }
    }
}
