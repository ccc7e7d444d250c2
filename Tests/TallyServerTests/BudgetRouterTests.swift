import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

@Suite("Budgets API and the budget check")
struct BudgetRouterTests {
    let router = RouterTests()

    func json(_ r: TestResponse) throws -> [String: JSONValue] {
        try JSONValue.parse(Data(buffer: r.body)).objectValue ?? [:]
    }

    /// A generation of `tenant` starting now with a provided cost (USD), in trace `trace`.
    func generation(_ id: String, trace: String, tenant: String, costUSD: Double, feature: String = "chat") -> String {
        let now = Timestamp.now().iso8601
        return """
            {"batch":[{"id":"e-\(id)","type":"generation-create","timestamp":"\(now)",
              "body":{"id":"\(id)","traceId":"\(trace)","model":"m","startTime":"\(now)",
                      "metadata":{"tenantId":"\(tenant)","feature":"\(feature)"},
                      "usage":{"input":10,"output":10},"costDetails":{"total":\(costUSD)}}}]}
            """
    }

    struct Client {
        let client: any TestClientProtocol
        let headers: HTTPFields

        func send(_ method: HTTPRequest.Method, _ path: String, _ body: String? = nil) async throws -> TestResponse {
            try await client.execute(
                uri: path.hasPrefix("/") ? path : "/api/tally/v1/" + path, method: method, headers: headers,
                body: body.map { ByteBuffer(string: $0) })
        }
    }

    func connect(_ env: RouterTests.Env, _ client: any TestClientProtocol, auth: String? = nil) -> Client {
        Client(client: client, headers: [.authorization: auth ?? env.auth, .contentType: "application/json"])
    }

    @Test("an over-budget tenant gets 429 daily_budget with Retry-After to UTC midnight; the spend is the breakdown's")
    func dailyBudget() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { raw in
            let c = connect(env, raw)
            #expect(try await c.send(.put, "plans/starter", #"{"dailyUsd": 5, "monthlyUsd": 100}"#).status == .ok)
            #expect(try await c.send(.put, "tenants/acme/budget", #"{"plan": "starter"}"#).status == .ok)
            #expect(try await c.send(.put, "tenants/control/budget", #"{"plan": "starter"}"#).status == .ok)

            let allowed = try await c.send(.post, "budgets/check", #"{"tenantId": "acme"}"#)
            #expect(allowed.status == .ok)
            #expect(try json(allowed)["allowed"] == true)

            _ = try await c.send(.post, "/api/public/ingestion", generation("g1", trace: "t1", tenant: "acme", costUSD: 3))
            _ = try await c.send(.post, "/api/public/ingestion", generation("g2", trace: "t2", tenant: "acme", costUSD: 2.5))
            _ = try await c.send(.post, "/api/public/ingestion", generation("g3", trace: "t3", tenant: "control", costUSD: 1))

            let refused = try await c.send(.post, "budgets/check", #"{"tenantId": "acme", "feature": "chat"}"#)
            #expect(refused.status == .tooManyRequests)
            let body = try json(refused)
            #expect(body["allowed"] == false)
            #expect(body["reason"] == "daily_budget")
            let now = Timestamp.now()
            let toMidnight = Int((BudgetPeriod.nextDayStart(now) - now.microseconds) / 1_000_000)
            let retry = try #require(refused.headers[.retryAfter].flatMap { Int($0) })
            #expect(abs(retry - toMidnight) <= 2)
            #expect(body["retryAfterSeconds"] == .int(Int64(retry)))
            #expect(body["day"]?.objectValue?["spentUsd"] == 5.5)
            #expect(body["day"]?.objectValue?["remainingUsd"] == 0.0)
            #expect(body["month"]?.objectValue?["remainingUsd"] == 94.5)

            // The check's spend is the breakdown API's number for the same tenant and period.
            let from = Timestamp(microseconds: BudgetPeriod.dayStart(now)).iso8601
            let breakdown = try await c.send(
                .get, "breakdown?groupBy=tenant&from=\(from)&to=\(Timestamp(microseconds: BudgetPeriod.nextDayStart(now)).iso8601)")
            #expect(breakdown.status == .ok, "\(String(buffer: breakdown.body))")
            let rows = try json(breakdown)["data"]?.arrayValue ?? []
            let acme = rows.first { $0.objectValue?["tenant"] == "acme" }
            #expect(acme?.objectValue?["totalCost"] == 5.5)

            #expect(try json(try await c.send(.post, "budgets/check", #"{"tenantId": "control"}"#))["allowed"] == true)
            // A tenant with no plan (and no default plan) is unlimited.
            #expect(try await c.send(.post, "budgets/check", #"{"tenantId": "nobody"}"#).status == .ok)

            // Most used first.
            let list = try json(try await c.send(.get, "budgets"))["data"]?.arrayValue ?? []
            #expect(list.compactMap { $0.objectValue?["tenantId"]?.stringValue } == ["acme", "control"])
        }
    }

    @Test("requestsPerMinute refuses the next check with rate_limit and a Retry-After of at most 60 s")
    func rateLimit() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { raw in
            let c = connect(env, raw)
            _ = try await c.send(.put, "plans/tight", #"{"requestsPerMinute": 3}"#)
            _ = try await c.send(.put, "settings/budgets", #"{"defaultPlan": "tight"}"#)
            for _ in 0..<3 {
                #expect(try await c.send(.post, "budgets/check", #"{"tenantId": "busy"}"#).status == .ok)
            }
            let refused = try await c.send(.post, "budgets/check", #"{"tenantId": "busy"}"#)
            #expect(refused.status == .tooManyRequests)
            #expect(try json(refused)["reason"] == "rate_limit")
            let retry = try #require(refused.headers[.retryAfter].flatMap { Int($0) })
            #expect((1...60).contains(retry))
            // Another tenant on the same default plan has its own minute.
            #expect(try await c.send(.post, "budgets/check", #"{"tenantId": "quiet"}"#).status == .ok)
        }
    }

    @Test("a switched-off feature and a throttled tenant are refused; a tenant's own switch wins over the project's")
    func switchesAndThrottles() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { raw in
            let c = connect(env, raw)
            #expect(
                try await c.send(.put, "switches/copilot", #"{"enabled": false, "reason": "runaway agent"}"#).status
                    == .ok)
            _ = try await c.send(.put, "switches/copilot", #"{"enabled": true, "tenantId": "vip"}"#)
            let off = try await c.send(.post, "budgets/check", #"{"tenantId": "acme", "feature": "copilot"}"#)
            #expect(off.status == .tooManyRequests)
            #expect(try json(off)["reason"] == "feature_disabled")
            #expect(off.headers[.retryAfter] == nil)  // no end known
            #expect(try await c.send(.post, "budgets/check", #"{"tenantId": "vip", "feature": "copilot"}"#).status == .ok)
            #expect(try await c.send(.post, "budgets/check", #"{"tenantId": "acme", "feature": "search"}"#).status == .ok)

            let until = Timestamp(microseconds: Timestamp.now().microseconds + 600_000_000).iso8601
            _ = try await c.send(.put, "tenants/acme/throttle", #"{"until": "\#(until)", "reason": "alert"}"#)
            let throttled = try await c.send(.post, "budgets/check", #"{"tenantId": "acme", "feature": "search"}"#)
            #expect(try json(throttled)["reason"] == "throttled")
            let retry = try #require(throttled.headers[.retryAfter].flatMap { Int($0) })
            #expect((598...600).contains(retry))
            #expect(try await c.send(.delete, "tenants/acme/throttle").status == .ok)
            #expect(try await c.send(.post, "budgets/check", #"{"tenantId": "acme"}"#).status == .ok)
            #expect(try await c.send(.delete, "switches/copilot").status == .ok)
            #expect(try await c.send(.post, "budgets/check", #"{"tenantId": "acme", "feature": "copilot"}"#).status == .ok)
            #expect(try await c.send(.delete, "switches/copilot").status == .notFound)

            // An expired switch no longer applies.
            let past = Timestamp(microseconds: Timestamp.now().microseconds - 1_000_000).iso8601
            _ = try await c.send(.put, "switches/old", #"{"enabled": false, "until": "\#(past)"}"#)
            #expect(try await c.send(.post, "budgets/check", #"{"tenantId": "acme", "feature": "old"}"#).status == .ok)
        }
    }

    @Test("holds: of 50 concurrent checks with a $0.10 estimate against $1 left, exactly 10 pass; a costed trace releases its hold")
    func holdsStopABurst() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { raw in
            let c = connect(env, raw)
            _ = try await c.send(.put, "plans/small", #"{"dailyUsd": 1}"#)
            _ = try await c.send(.put, "tenants/agent/budget", #"{"plan": "small"}"#)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<50 {
                    group.addTask {
                        try await c.send(
                            .post, "budgets/check", #"{"tenantId": "agent", "estimateUsd": 0.1, "holdId": "run-\#(i)"}"#
                        ).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 10)
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 40)
            let status = try json(try await c.send(.get, "tenants/agent/budget"))
            #expect(status["day"]?.objectValue?["heldUsd"] == 1.0)

            // Which ten passed is not known; release them all by ingesting a cheap costed observation per hold id.
            for i in 0..<50 {
                _ = try await c.send(
                    .post, "/api/public/ingestion", generation("g\(i)", trace: "run-\(i)", tenant: "agent", costUSD: 0.01))
            }
            let after = try json(try await c.send(.get, "tenants/agent/budget"))
            #expect(after["day"]?.objectValue?["heldUsd"] == 0.0)
            #expect(after["day"]?.objectValue?["spentUsd"] == 0.5)
            #expect(try await c.send(.post, "budgets/check", #"{"tenantId": "agent", "estimateUsd": 0.4}"#).status == .ok)
            #expect(
                try await c.send(.post, "budgets/check", #"{"tenantId": "agent", "estimateUsd": 0.6}"#).status
                    == .tooManyRequests)
        }
    }

    @Test("bad input is a 400 naming the field; an unknown plan is a 400; a plan in use cannot be deleted")
    func badInput() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { raw in
            let c = connect(env, raw)
            func error(_ r: TestResponse) throws -> String { try json(r)["error"]?.stringValue ?? "" }
            let negative = try await c.send(.put, "plans/p", #"{"dailyUsd": -1}"#)
            #expect(negative.status == .badRequest)
            #expect(try error(negative).contains("dailyUsd"))
            let unknown = try await c.send(.put, "plans/p", #"{"daily": 5}"#)
            #expect(try error(unknown).contains("body.daily: unknown field"))
            #expect(try error(try await c.send(.put, "plans/p", #"{"requestsPerMinute": 1.5}"#)).contains("requestsPerMinute"))
            #expect(try error(try await c.send(.put, "plans/p", #"{"monthlyUsd": "5"}"#)).contains("monthlyUsd"))
            #expect(try await c.send(.put, "plans/p", "not json").status == .badRequest)
            #expect(try await c.send(.put, "plans/p", "[1]").status == .badRequest)
            let longTenant = String(repeating: "t", count: 201)
            let long = try await c.send(.post, "budgets/check", #"{"tenantId": "\#(longTenant)"}"#)
            #expect(long.status == .badRequest)
            #expect(try error(long).contains("tenantId"))
            #expect(try error(try await c.send(.post, "budgets/check", #"{}"#)).contains("tenantId: required"))
            #expect(
                try error(try await c.send(.post, "budgets/check", #"{"tenantId": "a", "estimateUsd": 1e300}"#))
                    .contains("estimateUsd"))
            #expect(try error(try await c.send(.put, "switches/f", #"{"reason": "x"}"#)).contains("enabled: required"))
            #expect(try error(try await c.send(.put, "tenants/a/throttle", #"{"until": "soon"}"#)).contains("until"))
            let noPlan = try await c.send(.put, "tenants/a/budget", #"{"plan": "ghost"}"#)
            #expect(noPlan.status == .badRequest)
            #expect(try error(noPlan).contains("ghost"))
            #expect(try await c.send(.put, "settings/budgets", #"{"defaultPlan": "ghost"}"#).status == .badRequest)

            _ = try await c.send(.put, "plans/used", #"{"dailyUsd": 1}"#)
            _ = try await c.send(.put, "tenants/a/budget", #"{"plan": "used"}"#)
            #expect(try await c.send(.delete, "plans/used").status == .conflict)
            #expect(try await c.send(.delete, "tenants/a/budget").status == .ok)
            #expect(try await c.send(.delete, "plans/used").status == .ok)
            #expect(try await c.send(.get, "plans/used").status == .notFound)
        }
    }

    @Test("projects are isolated: another project's key sees no plans, switches or spend of this one")
    func isolation() async throws {
        let env = try await router.makeEnv()
        _ = try env.database.ensureProject(id: "proj-2", name: "Other")
        let other = try #require(try env.database.createKey(projectID: "proj-2"))
        let otherAuth = "Basic " + Data("\(other.publicKey):\(other.secretKey)".utf8).base64EncodedString()
        try await env.app.test(.router) { raw in
            let c = connect(env, raw)
            let o = connect(env, raw, auth: otherAuth)
            _ = try await c.send(.put, "plans/starter", #"{"dailyUsd": 1}"#)
            _ = try await c.send(.put, "settings/budgets", #"{"defaultPlan": "starter"}"#)
            _ = try await c.send(.put, "switches/chat", #"{"enabled": false}"#)
            _ = try await c.send(.post, "/api/public/ingestion", generation("g1", trace: "t1", tenant: "acme", costUSD: 2))
            #expect(try await c.send(.post, "budgets/check", #"{"tenantId": "acme"}"#).status == .tooManyRequests)

            #expect(try json(try await o.send(.get, "plans"))["data"] == .array([]))
            #expect(try json(try await o.send(.get, "switches"))["data"] == .array([]))
            #expect(try json(try await o.send(.get, "budgets"))["data"] == .array([]))
            #expect(try await o.send(.post, "budgets/check", #"{"tenantId": "acme", "feature": "chat"}"#).status == .ok)
            let status = try json(try await o.send(.get, "tenants/acme/budget"))
            #expect(status["month"]?.objectValue?["spentUsd"] == 0.0)
            #expect(try await o.send(.put, "tenants/acme/budget", #"{"plan": "starter"}"#).status == .badRequest)
            #expect(try await raw.execute(uri: "/api/tally/v1/plans", method: .get).status == .unauthorized)
        }
    }
}

@Suite("Alerts API")
struct AlertRouterTests {
    let router = RouterTests()

    func json(_ r: TestResponse) throws -> [String: JSONValue] {
        try JSONValue.parse(Data(buffer: r.body)).objectValue ?? [:]
    }

    @Test("projects are isolated: another project sees only its own seed rules, no channels, firings or deliveries")
    func isolation() async throws {
        let env = try await router.makeEnv()
        _ = try env.database.ensureProject(id: "proj-2", name: "Other")
        let other = try #require(try env.database.createKey(projectID: "proj-2"))
        let otherAuth = "Basic " + Data("\(other.publicKey):\(other.secretKey)".utf8).base64EncodedString()
        try await env.app.test(.router) { raw in
            let c = BudgetRouterTests().connect(env, raw)
            let o = BudgetRouterTests().connect(env, raw, auth: otherAuth)
            let channel = try await c.send(
                .post, "alerts/channels", #"{"name": "ops", "type": "slack", "url": "http://127.0.0.1:9/x"}"#)
            #expect(channel.status == .created)
            _ = try await c.send(.put, "plans/p", #"{"dailyUsd": 0.000001}"#)
            _ = try await c.send(.put, "tenants/acme/budget", #"{"plan": "p"}"#)
            let rule = #"{"name": "b", "type": "budget_threshold", "channels": ["ops"]}"#
            #expect(try await c.send(.put, "alerts/rules/seed-budget-threshold", rule).status == .ok)
            _ = try await c.send(
                .post, "/api/public/ingestion",
                BudgetRouterTests().generation("g1", trace: "t1", tenant: "acme", costUSD: 1))
            let fired = try json(try await c.send(.post, "alerts/evaluate"))["fired"]?.arrayValue ?? []
            let budget = fired.filter { $0.objectValue?["rule"]?.objectValue?["type"] == "budget_threshold" }
            #expect(budget.count == 2)  // 80 % and 100 % of the daily limit (the $1 is also a spike: no baseline)
            #expect(fired.count == 3)

            #expect(try json(try await o.send(.get, "alerts/channels"))["data"] == .array([]))
            let rules = try json(try await o.send(.get, "alerts/rules"))["data"]?.arrayValue ?? []
            #expect(rules.count == 5 && rules.allSatisfy { $0.objectValue?["channels"] == .array([]) })
            #expect(try json(try await o.send(.get, "alerts"))["firing"] == .array([]))
            #expect(try json(try await o.send(.post, "alerts/evaluate"))["fired"] == .array([]))
            // Its rules cannot name this project's channel.
            #expect(try await o.send(.put, "alerts/rules/seed-budget-threshold", rule).status == .badRequest)
            #expect(try await o.send(.delete, "alerts/channels/ops").status == .notFound)
            #expect(try json(try await c.send(.get, "alerts"))["firing"]?.arrayValue?.count == 3)
        }
    }
}
