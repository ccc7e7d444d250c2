import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// Alerts under `/api/tally/v1/alerts`: rules (the five cost alerts and the generic threshold), channels (webhook,
/// Slack), one evaluation on demand, and the firings with their delivery status.
struct AlertController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader
    /// The UI's address, for the `url` in webhook payloads.
    let baseURL: String

    func addRoutes(to tally: RouterGroup<TallyRequestContext>) {
        tally.get("alerts", use: list)
        tally.post("alerts/evaluate", use: evaluate)
        tally.get("alerts/rules", use: listRules)
        tally.post("alerts/rules", use: createRule)
        tally.get("alerts/rules/:id", use: getRule)
        tally.put("alerts/rules/:id", use: putRule)
        tally.delete("alerts/rules/:id", use: deleteRule)
        tally.get("alerts/channels", use: listChannels)
        tally.post("alerts/channels", use: createChannel)
        tally.delete("alerts/channels/:id", use: deleteChannel)
    }

    /// `{"firing": [open firings], "history": [resolved ones, newest first]}`, each with its deliveries.
    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let all = try await database.firings(projectID: project.id, limit: 200)
        return JSONResponse.make([
            "firing": .array(all.filter { $0.resolvedAt == nil }.map(Self.json)),
            "history": .array(all.filter { $0.resolvedAt != nil }.map(Self.json)),
        ])
    }

    /// Runs one evaluation cycle now; `{"fired": [...], "resolved": [...], "failures": [...]}`.
    @Sendable func evaluate(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let outcome = try await database.evaluateAlerts(projectID: project.id, baseURL: baseURL)
        return JSONResponse.make([
            "fired": .array(outcome.fired.map(Self.json)), "resolved": .array(outcome.resolved.map(Self.json)),
            "failures": .array(outcome.failures.map { ["rule": .string($0.rule), "error": .string($0.error)] }),
        ])
    }

    @Sendable func listRules(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        return JSONResponse.make(["data": .array(try await database.rules(projectID: project.id).map(Self.json))])
    }

    @Sendable func createRule(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let rule = try AlertInput.rule(id: UUID().uuidString.lowercased(), try await bodyReader.json(request))
        try await write { try await database.putRule(projectID: project.id, rule) }
        return JSONResponse.make(Self.json(rule), status: .created)
    }

    @Sendable func getRule(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("id")
        guard let rule = try await database.rule(projectID: project.id, id: id) else {
            throw APIError.notFound("Alert rule \(id) not found")
        }
        return JSONResponse.make(Self.json(rule))
    }

    /// Replaces a rule (or creates it under this id).
    @Sendable func putRule(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("id")
        let rule = try AlertInput.rule(id: id, try await bodyReader.json(request))
        try await write { try await database.putRule(projectID: project.id, rule) }
        return JSONResponse.make(Self.json(rule))
    }

    @Sendable func deleteRule(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("id")
        guard try await database.deleteRule(projectID: project.id, id: id) else {
            throw APIError.notFound("Alert rule \(id) not found")
        }
        return JSONResponse.make(["message": "Alert rule deleted"])
    }

    @Sendable func listChannels(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        return JSONResponse.make(["data": .array(try await database.channels(projectID: project.id).map(Self.json))])
    }

    @Sendable func createChannel(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let input = try AlertInput.channel(try await bodyReader.json(request))
        var channel: AlertChannel?
        try await write { channel = try await database.createChannel(projectID: project.id, input) }
        return JSONResponse.make(channel.map(Self.json) ?? .null, status: .created)
    }

    @Sendable func deleteChannel(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("id")
        guard try await database.deleteChannel(projectID: project.id, idOrName: id) else {
            throw APIError.notFound("Alert channel \(id) not found")
        }
        return JSONResponse.make(["message": "Alert channel deleted"])
    }

    /// Runs an alert write, turning a name conflict or a missing channel into a 400.
    func write(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch AlertWriteError.duplicateChannel(let name) {
            throw APIError(status: .conflict, body: ["message": .string("A channel named \(name) exists")])
        } catch AlertWriteError.unknownChannel(let name) {
            throw APIError.invalid("body.channels: no channel named \(name) (create it with POST /api/tally/v1/alerts/channels)")
        }
    }

    static func json(_ r: AlertRule) -> JSONValue {
        [
            "id": .string(r.id), "name": .string(r.name), "type": .string(r.type.rawValue), "params": .object(r.params),
            "channels": .array(r.channels.map(JSONValue.string)), "actions": .array(r.actions.map(\.json)),
            "enabled": .bool(r.enabled),
        ]
    }

    static func json(_ c: AlertChannel) -> JSONValue {
        ["id": .string(c.id), "name": .string(c.name), "type": .string(c.type), "url": .string(c.url), "hasSecret": .bool(c.hasSecret)]
    }

    static func json(_ f: AlertFiring) -> JSONValue {
        [
            "id": .string(f.id), "rule": ["id": .string(f.ruleID), "name": .string(f.ruleName), "type": .string(f.ruleType)],
            "subject": f.subject, "value": .double(f.value), "threshold": .double(f.threshold),
            "message": .string(f.message), "firedAt": .string(f.firedAt.iso8601),
            "resolvedAt": f.resolvedAt.map { .string($0.iso8601) } ?? .null,
            "status": .string(f.resolvedAt == nil ? "firing" : "resolved"),
            "deliveries": .array(
                f.deliveries.map { d in
                    [
                        "channel": .string(d.channel), "event": .string(d.event), "status": .string(d.status),
                        "attempts": .int(Int64(d.attempts)), "lastStatus": d.lastStatus.map { .int(Int64($0)) } ?? .null,
                        "lastError": d.lastError.map(JSONValue.string) ?? .null,
                        "deliveredAt": d.deliveredAt.map { .string($0.iso8601) } ?? .null,
                    ]
                }),
        ]
    }
}
