import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

@Suite("Web UI sessions")
struct SessionRouterTests {
    let router = RouterTests()

    static func signIn(_ client: any TestClientProtocol, secret: String = "sk-lf-test") async throws -> TestResponse {
        try await client.execute(
            uri: "/api/tally/v1/session", method: .post, headers: [.contentType: "application/json"],
            body: ByteBuffer(string: #"{"publicKey":"pk-lf-test","secretKey":"\#(secret)"}"#))
    }

    @Test("sign-in sets an HttpOnly SameSite cookie that reads, writes only Tally's API with X-Tally-UI, and ends on sign-out or key revocation")
    func lifecycle() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            #expect(try await Self.signIn(client, secret: "wrong").status == .unauthorized)
            let r = try await Self.signIn(client)
            #expect(r.status == .ok)
            let setCookie = try #require(r.headers[.setCookie])
            #expect(
                setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/"))
            #expect(!String(buffer: r.body).contains("sk-lf-test"))
            let token = String(setCookie.split(separator: ";")[0].dropFirst("tally_session=".count))
            #expect(token.count == 64)
            let cookie: HTTPFields = [.cookie: "other=1; tally_session=\(token)"]

            let me = try await client.execute(uri: "/api/tally/v1/session", method: .get, headers: cookie)
            #expect(try JSONValue.parse(Data(buffer: me.body)).objectValue?["projectId"] == "proj-1")
            #expect(try await client.execute(uri: "/api/tally/v1/traces", method: .get, headers: cookie).status == .ok)
            #expect(try await client.execute(uri: "/api/public/traces", method: .get, headers: cookie).status == .ok)
            // Read-only: a write with the cookie alone is refused.
            let write = try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: cookie, body: ByteBuffer(string: #"{"batch":[]}"#)
            )
            #expect(write.status == .forbidden)
            // The UI's own writes (Tally's API, with X-Tally-UI) pass; without the header, or to Langfuse's API, not.
            var ui = cookie
            ui[.tallyUI] = "1"
            ui[.contentType] = "application/json"
            let throttle = ByteBuffer(string: #"{"reason":"from the UI"}"#)
            #expect(
                try await client.execute(
                    uri: "/api/tally/v1/tenants/acme/throttle", method: .put, headers: cookie, body: throttle
                ).status == .forbidden)
            #expect(
                try await client.execute(uri: "/api/tally/v1/tenants/acme/throttle", method: .put, headers: ui, body: throttle)
                    .status == .ok)
            #expect(
                try await client.execute(
                    uri: "/api/public/ingestion", method: .post, headers: ui, body: ByteBuffer(string: #"{"batch":[]}"#)
                ).status == .forbidden)
            // A forged or unknown token is nobody.
            let forged: HTTPFields = [.cookie: "tally_session=\(String(repeating: "0", count: 64))"]
            #expect(
                try await client.execute(uri: "/api/tally/v1/traces", method: .get, headers: forged).status
                    == .unauthorized)

            // Sign-out ends this session; another one dies with its key.
            let out = try await client.execute(uri: "/api/tally/v1/session", method: .delete, headers: cookie)
            #expect(out.status == .noContent && out.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(
                try await client.execute(uri: "/api/tally/v1/traces", method: .get, headers: cookie).status
                    == .unauthorized)
            let second = try await Self.signIn(client)
            let token2 = String(try #require(second.headers[.setCookie]).split(separator: ";")[0])
            try env.database.revokeKey(publicKey: "pk-lf-test")
            let after = try await client.execute(uri: "/api/tally/v1/traces", method: .get, headers: [.cookie: token2])
            #expect(after.status == .unauthorized)
        }
    }

    @Test("the UI trace list filters on observation-level fields and pages with hasMore")
    func traceList() async throws {
        try await AnalyticsRouterTests().seeded { client, h in
            func ids(_ query: String) async throws -> ([String], Bool) {
                let r = try await client.execute(uri: "/api/tally/v1/traces?" + query, method: .get, headers: h)
                let o = try JSONValue.parse(Data(buffer: r.body)).objectValue ?? [:]
                let rows = (o["data"]?.arrayValue ?? []).compactMap { $0.objectValue?["id"]?.stringValue }
                return (rows, o["hasMore"] == true)
            }
            #expect(try await ids("promptName=copilot-answer&promptVersion=2").0.sorted() == ["trace-a2", "trace-g1"])
            #expect(try await ids("level=ERROR").0 == ["trace-a3"])
            #expect(try await ids("model=gpt-4o").0 == ["trace-i1"])
            #expect(try await ids("q=SEARCH").0.sorted() == ["trace-a3", "trace-i1"])  // case-insensitive
            #expect(try await ids("q=%25").0.isEmpty)  // LIKE wildcards are literal
            #expect(try await ids("sort=-totalCost&limit=2") == (["trace-i1", "trace-a3"], true))
            #expect(try await ids("sort=-totalCost&limit=2&offset=4") == (["trace-g1"], false))
            let bad = try await client.execute(uri: "/api/tally/v1/traces?sort=cost;drop", method: .get, headers: h)
            #expect(bad.status == .badRequest)
        }
    }

    @Test("ten failed sign-ins from one address lock it out for the window: 429 with Retry-After, right keys too")
    func failedSignInsAreThrottled() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            for _ in 0..<10 { #expect(try await Self.signIn(client, secret: "guess").status == .unauthorized) }
            let locked = try await Self.signIn(client)
            #expect(locked.status == .tooManyRequests)
            #expect(Int(locked.headers[.retryAfter] ?? "") ?? 0 > 0)
        }
        let throttle = SignInThrottle(maxFailures: 2, window: 60)
        let t0 = Date()
        throttle.recordFailure("a", now: t0)
        throttle.recordFailure("a", now: t0)
        #expect(throttle.lockedOut("a", now: t0.addingTimeInterval(59)) != nil)
        #expect(throttle.lockedOut("a", now: t0.addingTimeInterval(61)) == nil)
        #expect(throttle.lockedOut("b", now: t0) == nil)
    }

    @Test("a cookie session or a sign-in from another origin is refused (403), whatever CORS says")
    func crossOriginRefused() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client in
            let evil = try await client.execute(
                uri: "/api/tally/v1/session", method: .post,
                headers: [.contentType: "application/json", .origin: "https://evil.example"],
                body: ByteBuffer(string: #"{"publicKey":"pk-lf-test","secretKey":"sk-lf-test"}"#))
            #expect(evil.status == .forbidden)
            let r = try await Self.signIn(client)
            let token = String((r.headers[.setCookie] ?? "").split(separator: ";")[0].dropFirst("tally_session=".count))
            let cross = try await client.execute(
                uri: "/api/tally/v1/traces", method: .get,
                headers: [.cookie: "tally_session=\(token)", .origin: "https://evil.example"])
            #expect(cross.status == .forbidden)
            let site = try await client.execute(
                uri: "/api/tally/v1/traces", method: .get,
                headers: [.cookie: "tally_session=\(token)", .secFetchSite: "cross-site"])
            #expect(site.status == .forbidden)
            let same = try await client.execute(
                uri: "/api/tally/v1/traces", method: .get,
                headers: [.cookie: "tally_session=\(token)", .secFetchSite: "same-origin"])
            #expect(same.status == .ok)
        }
    }
}
