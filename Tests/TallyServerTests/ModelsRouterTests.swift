import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

@Suite("Models API, pricing settings and re-pricing")
struct ModelsRouterTests {
    let router = RouterTests()

    func json(_ r: TestResponse) throws -> JSONValue { try JSONValue.parse(Data(buffer: r.body)) }

    func generation(_ id: String, model: String, input: Int, output: Int) -> String {
        """
        {"batch":[{"id":"e-\(id)","type":"generation-create","timestamp":"2026-11-23T10:00:00Z",
          "body":{"id":"\(id)","traceId":"t-\(id)","model":"\(model)","startTime":"2026-11-23T10:00:00Z",
                  "usage":{"input":\(input),"output":\(output)}}}]}
        """
    }

    @Test("a project model overrides the built-in price, and re-pricing applies a price change to stored observations")
    func overrideAndRecompute() async throws {
        let env = try await router.makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        try await env.app.test(.router) { client throws in
            // Built-in gpt-4.1-mini: 1000 × 0.40/M + 100 × 1.60/M = 0.00056.
            _ = try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: h,
                body: ByteBuffer(string: generation("g1", model: "gpt-4.1-mini", input: 1000, output: 100)))
            #expect(try await env.database.observation(projectID: "proj-1", id: "g1")?.cost["total"] == 0.00056)

            let create = try await client.execute(
                uri: "/api/public/models", method: .post, headers: h,
                body: ByteBuffer(
                    string:
                        #"{"id":"negotiated-mini","modelName":"gpt-4.1-mini","matchPattern":"(?i)^(openai/)?gpt-4\\.1-mini$","unit":"TOKENS","inputPrice":0.0000002,"outputPrice":0.0000008}"#
                ))
            #expect(create.status == .ok)
            #expect(try json(create).objectValue?["isLangfuseManaged"] == false)

            // New observations use the project price: 1000 × 0.20/M + 100 × 0.80/M = 0.00028.
            _ = try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: h,
                body: ByteBuffer(string: generation("g2", model: "gpt-4.1-mini", input: 1000, output: 100)))
            let g2 = try #require(try await env.database.observation(projectID: "proj-1", id: "g2"))
            #expect(g2.cost["total"] == 0.00028)
            #expect(g2.pricedModelID == "negotiated-mini")
            // The stored one keeps its price until re-priced.
            #expect(try await env.database.observation(projectID: "proj-1", id: "g1")?.cost["total"] == 0.00056)
            let recompute = try await client.execute(
                uri: "/api/tally/v1/costs/recompute", method: .post, headers: h,
                body: ByteBuffer(
                    string: #"{"fromTimestamp":"2026-11-23T00:00:00Z","toTimestamp":"2026-11-24T00:00:00Z"}"#))
            #expect(try json(recompute) == ["updated": 1])
            #expect(try await env.database.observation(projectID: "proj-1", id: "g1")?.cost["total"] == 0.00028)
            let trace = try await client.execute(uri: "/api/public/traces/t-g1", method: .get, headers: h)
            #expect(try json(trace).objectValue?["totalCost"] == 0.00028)

            let list = try await client.execute(uri: "/api/public/models?limit=100", method: .get, headers: h)
            let models = try json(list).objectValue?["data"]?.arrayValue ?? []
            #expect(models.first?.objectValue?["id"] == "negotiated-mini")
            #expect(models.count > 50)
            let builtinDelete = try await client.execute(uri: "/api/public/models/gpt-4o", method: .delete, headers: h)
            #expect(builtinDelete.status == .badRequest)
            let delete = try await client.execute(
                uri: "/api/public/models/negotiated-mini", method: .delete, headers: h)
            #expect(delete.status == .ok)
            #expect(
                try await client.execute(uri: "/api/public/models/negotiated-mini", method: .get, headers: h).status
                    == .notFound)
        }
    }

    @Test(
        "switching built-in prices off leaves unknown-to-the-project models unpriced; priceBy response bills the executed model"
    )
    func settings() async throws {
        let env = try await router.makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        try await env.app.test(.router) { client throws in
            let off = try await client.execute(
                uri: "/api/tally/v1/settings/pricing", method: .put, headers: h,
                body: ByteBuffer(string: #"{"builtinPrices":false}"#))
            #expect(try json(off) == ["builtinPrices": false, "priceBy": "requested"])
            _ = try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: h,
                body: ByteBuffer(string: generation("g3", model: "gpt-4o", input: 1000, output: 100)))
            let g3 = try #require(try await env.database.observation(projectID: "proj-1", id: "g3"))
            #expect(g3.cost.isEmpty)
            #expect(g3.costSource == nil)
            let bad = try await client.execute(
                uri: "/api/tally/v1/settings/pricing", method: .put, headers: h,
                body: ByteBuffer(string: #"{"priceBy":"cheapest"}"#))
            #expect(bad.status == .badRequest)
        }
    }

    @Test("bad model definitions are refused with a clear message")
    func badModels() async throws {
        let env = try await router.makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        try await env.app.test(.router) { client throws in
            for (body, fragment) in [
                (#"{"matchPattern":"x","inputPrice":1e-6}"#, "modelName is required"),
                (#"{"modelName":"m","matchPattern":"([","inputPrice":1e-6}"#, "regular expression"),
                (#"{"modelName":"m","matchPattern":"m"}"#, "inputPrice"),
                (#"{"modelName":"m","matchPattern":"(a+)+$","inputPrice":1e-6}"#, "nested quantifiers"),
                (#"{"modelName":"m","matchPattern":"(a|aa)*$","inputPrice":1e-6}"#, "nested quantifiers"),
                (
                    #"{"modelName":"m","matchPattern":"m","pricingTiers":[{"isDefault":true,"prices":{"input":1e-6}},{"name":"t","priority":1e300,"conditions":[],"prices":{"input":1e-6}}]}"#,
                    "priority"
                ),
                (
                    #"{"modelName":"m","matchPattern":"m","totalPrice":1e-6,"inputPrice":1e-6}"#,
                    "totalPrice cannot be combined"
                ),
            ] {
                let r = try await client.execute(
                    uri: "/api/public/models", method: .post, headers: h, body: ByteBuffer(string: body))
                #expect(r.status == .badRequest, "\(body)")
                #expect(try json(r).objectValue?["error"]?.stringValue?.contains(fragment) == true, "\(body)")
            }
        }
    }
    @Test("models answer createdAt and Langfuse's tier conditions; 2.x/3.x SDKs get attribute tiers apart; PUT upserts")
    func langfuseModelShape() async throws {
        let env = try await router.makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        try await env.app.test(.router) { client throws in
            func model(_ id: String, sdk: String? = nil) async throws -> [String: JSONValue] {
                var headers = h
                if let sdk { headers[.langfuseSDKVersion] = sdk }
                let r = try await client.execute(uri: "/api/public/models/\(id)", method: .get, headers: headers)
                #expect(r.status == .ok)
                return try #require(try json(r).objectValue)
            }
            // A built-in model: createdAt is the date its prices were checked; its service_tier tier is an attribute
            // condition, answered as such to Langfuse 4+/5 clients and to clients that name no SDK.
            let gpt4o = try await model("gpt-4o")
            #expect(gpt4o["createdAt"]?.stringValue.flatMap(Timestamp.init(iso8601:)) != nil)
            let tiers = try #require(gpt4o["pricingTiers"]?.arrayValue)
            #expect(tiers.count == 2)
            #expect(
                tiers[1].objectValue?["conditions"]
                    == [
                        ["source": "model_parameters", "key": "service_tier", "operator": "in", "values": ["priority"]]
                    ])
            #expect(try await model("gpt-4o", sdk: "5.0.4")["pricingTiers"]?.arrayValue?.count == 2)
            // langfuse 3.x's schema knows usage conditions only: the tier moves aside.
            let forV3 = try await model("gpt-4o", sdk: "3.15.0")
            #expect(forV3["pricingTiers"]?.arrayValue?.count == 1)
            #expect(forV3["attributePricingTiers"]?.arrayValue?.first?.objectValue?["name"] == "Priority")

            // A usage-conditioned tier keeps its shape for every client, caseSensitive included.
            let body = """
                {"modelName":"long-ctx","matchPattern":"(?i)^long-ctx$","unit":"TOKENS","pricingTiers":[
                  {"name":"Standard","isDefault":true,"priority":0,"conditions":[],"prices":{"input":0.000001}},
                  {"name":"Large","isDefault":false,"priority":1,"prices":{"input":0.000002},
                   "conditions":[{"usageDetailPattern":"^Input","operator":"gt","value":200000,"caseSensitive":true}]}]}
                """
            let created = try await client.execute(
                uri: "/api/public/models/long-ctx-1", method: .put, headers: h, body: ByteBuffer(string: body))
            #expect(created.status == .ok)
            let stored = try #require(try json(created).objectValue)
            #expect(stored["id"] == "long-ctx-1")
            let createdAt = try #require(stored["createdAt"]?.stringValue.flatMap(Timestamp.init(iso8601:)))
            #expect(abs(createdAt.microseconds - Timestamp.now().microseconds) < 60_000_000)
            let condition: JSONValue = [
                "usageDetailPattern": "^Input", "operator": "gt", "value": 200000, "caseSensitive": true,
            ]
            #expect(stored["pricingTiers"]?.arrayValue?.last?.objectValue?["conditions"] == [condition])
            #expect(try await model("long-ctx-1", sdk: "3.15.0")["pricingTiers"]?.arrayValue?.count == 2)
            // A second PUT replaces the prices and keeps the first createdAt.
            let replaced = try await client.execute(
                uri: "/api/public/models/long-ctx-1", method: .put, headers: h,
                body: ByteBuffer(
                    string:
                        #"{"modelName":"long-ctx","matchPattern":"(?i)^long-ctx$","unit":"TOKENS","inputPrice":0.000003}"#
                ))
            #expect(try json(replaced).objectValue?["createdAt"] == stored["createdAt"])
            #expect(try json(replaced).objectValue?["inputPrice"] == 0.000003)
            // caseSensitive: "^Input" does not match the usage key "input", so the default tier prices.
            _ = try await client.execute(
                uri: "/api/public/models/long-ctx-1", method: .put, headers: h, body: ByteBuffer(string: body))
            _ = try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: h,
                body: ByteBuffer(string: generation("g-long", model: "long-ctx", input: 300_000, output: 0)))
            let priced = try #require(try await env.database.observation(projectID: "proj-1", id: "g-long"))
            #expect(priced.pricingTier == nil && priced.cost["total"] == 0.3)

            let builtin = try await client.execute(
                uri: "/api/public/models/gpt-4o", method: .put, headers: h, body: ByteBuffer(string: body))
            #expect(builtin.status == .badRequest)
            let badFlag = try await client.execute(
                uri: "/api/public/models/x", method: .put, headers: h,
                body: ByteBuffer(
                    string: body.replacingOccurrences(of: "\"caseSensitive\":true", with: "\"caseSensitive\":1")))
            #expect(badFlag.status == .badRequest)
        }
    }
}
