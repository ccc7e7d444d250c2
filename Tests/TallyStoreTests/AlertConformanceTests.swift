import Foundation
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

@Suite("Store conformance: alerts")
struct AlertConformanceTests {
    static func channel(_ name: String) throws -> AlertInput.Channel {
        try AlertInput.channel([
            "name": .string(name), "type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s",
        ])
    }

    static func rule(channels: [String], actions: [AlertAction] = []) throws -> AlertRule {
        AlertRule(
            id: "r1", name: "Spend", type: .threshold,
            params: try AlertInput.params(.threshold, ["metric": "totalCost", "groupBy": "tenant", "value": 1]),
            channels: channels, actions: actions, enabled: true)
    }

    static func finding(_ tenant: String, value: Double = 2) -> AlertFinding {
        AlertFinding(
            subjectKey: "tenant:\(tenant)", tenant: tenant, value: value, threshold: 1, message: "\(tenant) spent")
    }

    @Test("channels and rules round-trip; projects start with the seed rules", arguments: Backend.available)
    func channelsAndRules(_ backend: Backend) async throws {
        try await backend.withStore { store in
            _ = try await store.ensureProject(id: "p", name: "p")
            #expect(try await store.rules(projectID: "p").map(\.id) == AlertRule.seeds.map(\.id).sorted())
            let ops = try await store.createChannel(projectID: "p", try Self.channel("ops"))
            #expect(ops.hasSecret && ops.name == "ops")
            await #expect(throws: AlertWriteError.duplicateChannel("ops")) {
                try await store.createChannel(projectID: "p", try Self.channel("ops"))
            }
            await #expect(throws: AlertWriteError.unknownChannel("pager")) {
                try await store.putRule(projectID: "p", try Self.rule(channels: ["ops", "pager"]))
            }
            let rule = try Self.rule(channels: ["ops"], actions: [.throttleTenant(minutes: 5)])
            try await store.putRule(projectID: "p", rule)
            #expect(try await store.rule(projectID: "p", id: "r1") == rule)
            #expect(try await store.channels(projectID: "p").map(\.id) == [ops.id])
            #expect(try await store.deleteRule(projectID: "p", id: "seed-error-burn"))
            #expect(try await !store.deleteRule(projectID: "p", id: "seed-error-burn"))
            // A project is seeded once: a deleted seed rule stays deleted.
            _ = try await store.ensureProject(id: "p", name: "p")
            #expect(try await store.rule(projectID: "p", id: "seed-error-burn") == nil)
            #expect(try await store.deleteChannel(projectID: "p", idOrName: "ops"))
            #expect(try await !store.deleteChannel(projectID: "p", idOrName: ops.id))
        }
    }

    @Test(
        "a cycle opens a firing per new subject with its deliveries and actions, resolves the rest; the outbox records attempts",
        arguments: Backend.available)
    func cycleAndOutbox(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let now = Timestamp.now()
            _ = try await store.ensureProject(id: "p", name: "p")
            _ = try await store.createChannel(projectID: "p", try Self.channel("ops"))
            let rule = try Self.rule(channels: ["ops"], actions: [.throttleTenant(minutes: 5)])
            try await store.putRule(projectID: "p", rule)

            var outcome = try await store.recordAlertCycle(
                projectID: "p", rule: rule, findings: [Self.finding("acme"), Self.finding("beta")], baseURL: "http://x",
                now: now)
            #expect(
                outcome.fired.map(\.subject).sorted { $0.serialized() < $1.serialized() } == [
                    ["tenantId": "acme"], ["tenantId": "beta"],
                ])
            #expect(outcome.fired.allSatisfy { $0.deliveries.map(\.event) == ["alert.firing"] })
            // The action: both tenants throttled for 5 minutes.
            let policy = try await store.budgetPolicy(projectID: "p")
            #expect(policy.throttles["acme"]?.until == Timestamp(microseconds: now.microseconds + 300_000_000))
            #expect(policy.throttles["acme"]?.reason == "alert Spend: acme spent")
            // The same findings again: nothing changes.
            outcome = try await store.recordAlertCycle(
                projectID: "p", rule: rule, findings: [Self.finding("acme"), Self.finding("beta")], baseURL: "http://x",
                now: now)
            #expect(outcome.fired.isEmpty && outcome.resolved.isEmpty)
            let later = Timestamp(microseconds: now.microseconds + 60_000_000)
            outcome = try await store.recordAlertCycle(
                projectID: "p", rule: rule, findings: [Self.finding("acme")], baseURL: "http://x", now: later)
            #expect(outcome.fired.isEmpty && outcome.resolved.map(\.subject) == [["tenantId": "beta"]])
            #expect(outcome.resolved.first?.resolvedAt == later)

            let firings = try await store.firings(projectID: "p", limit: 10)
            #expect(firings.map { $0.resolvedAt == nil } == [true, false])
            let due = try await store.dueDeliveries(now: later, limit: 10)
            #expect(due.count == 3)
            let body = try #require(StoredJSON.jsonValue(due.last?.body)?.objectValue)
            #expect(body["type"] == "alert.resolved" && body["subject"] == ["tenantId": "beta"])
            #expect(due.allSatisfy { $0.url == "http://127.0.0.1:9/hook" && $0.secret == "s" && $0.attempts == 0 })
            let retry = Timestamp(microseconds: later.microseconds + 5_000_000)
            try await store.recordDeliveryAttempt(
                id: due[0].id, delivered: true, httpStatus: 200, error: nil, retryAt: nil, now: later)
            try await store.recordDeliveryAttempt(
                id: due[1].id, delivered: false, httpStatus: 500, error: "HTTP 500", retryAt: retry, now: later)
            try await store.recordDeliveryAttempt(
                id: due[2].id, delivered: false, httpStatus: nil, error: "refused", retryAt: nil, now: later)
            let again = try await store.dueDeliveries(now: retry, limit: 10)
            #expect(again.map(\.id) == [due[1].id] && again.first?.attempts == 1)
            let statuses = try await store.firings(projectID: "p", limit: 10).flatMap(\.deliveries).map(\.status)
            #expect(statuses.sorted() == ["delivered", "failed", "pending"])
        }
    }
}

@Suite("PostgreSQL: alert work on many collectors", .enabled(if: Backend.postgresURL != nil))
struct PostgresAlertTests {
    @Test("one collector claims each interval, a subject fires once, a due delivery goes to one collector")
    func onceAcrossCollectors() async throws {
        try await PostgresHarness.withDatabase { a, url in
            try await PostgresHarness.running(try PostgresStore(url: url, poolSize: 4)) { b in
                let now = Timestamp.now()
                _ = try await a.ensureProject(id: "p", name: "p")
                #expect(try await a.claimWork("alerts:p", interval: .seconds(10), now: now))
                #expect(try await !b.claimWork("alerts:p", interval: .seconds(10), now: now))
                #expect(try await b.claimWork("retention", interval: .seconds(10), now: now))
                let soon = Timestamp(microseconds: now.microseconds + 9_500_000)
                #expect(try await b.claimWork("alerts:p", interval: .seconds(10), now: soon))

                _ = try await a.createChannel(projectID: "p", try AlertConformanceTests.channel("ops"))
                let rule = try AlertConformanceTests.rule(channels: ["ops"])
                try await a.putRule(projectID: "p", rule)
                let findings = (0..<5).map { AlertConformanceTests.finding("t\($0)") }
                let fired = try await withThrowingTaskGroup(of: Int.self) { group in
                    for i in 0..<8 {
                        let store = i.isMultiple(of: 2) ? a : b
                        group.addTask {
                            try await store.recordAlertCycle(
                                projectID: "p", rule: rule, findings: findings, baseURL: "http://x", now: now
                            ).fired.count
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(fired == 5)

                async let fromA = a.dueDeliveries(now: now, limit: 3)
                async let fromB = b.dueDeliveries(now: now, limit: 3)
                let (x, y) = try await (fromA, fromB)
                #expect(x.count + y.count == 5 && Set(x.map(\.id)).isDisjoint(with: y.map(\.id)))
                #expect(try await a.dueDeliveries(now: now, limit: 10).isEmpty)
                // A lease that runs out makes the delivery due again (its collector died before recording).
                let expired = Timestamp(microseconds: now.microseconds + AlertDelivery.leaseMicros)
                #expect(try await b.dueDeliveries(now: expired, limit: 10).count == 5)
            }
        }
    }
}
