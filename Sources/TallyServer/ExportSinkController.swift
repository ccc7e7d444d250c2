import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// Export sinks under `/api/tally/v1/exports/sinks`: `PUT …/{name}` creates or replaces one (Lago or OpenMeter),
/// `GET` lists them with their cursor, lag, last error and issues, `GET …/{name}` adds the newest issues of each
/// kind, `POST …/{name}/push` makes it due now, `DELETE …/{name}` removes it with its ledger. The API key is
/// write-only.
struct ExportSinkController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader

    func addRoutes(to tally: RouterGroup<TallyRequestContext>) {
        tally.get("exports/sinks", use: list)
        tally.get("exports/sinks/:name", use: get)
        tally.put("exports/sinks/:name", use: put)
        tally.delete("exports/sinks/:name", use: delete)
        tally.post("exports/sinks/:name/push", use: pushNow)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let sinks = try await database.exportSinkStatuses(projectID: project.id)
        return JSONResponse.make(["data": .array(sinks.map { Self.json($0) })])
    }

    @Sendable func get(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let name = try Self.name(context)
        guard let sink = try await database.exportSinkStatus(projectID: project.id, name: name) else {
            throw APIError.notFound("Export sink \(name) not found")
        }
        return JSONResponse.make(Self.json(sink))
    }

    @Sendable func put(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let name = try Self.name(context)
        let input = try ExportSinkConfig.parse(try await bodyReader.json(request))
        let created = try await database.putExportSink(
            projectID: project.id, name: name, config: input.config, apiKey: input.apiKey, from: input.from)
        guard let sink = try await database.exportSinkStatus(projectID: project.id, name: name) else {
            throw APIError.notFound("Export sink \(name) not found")
        }
        return JSONResponse.make(Self.json(sink), status: created ? .created : .ok)
    }

    @Sendable func delete(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let name = try Self.name(context)
        guard try await database.deleteExportSink(projectID: project.id, name: name) else {
            throw APIError.notFound("Export sink \(name) not found")
        }
        return JSONResponse.make(["message": "Export sink deleted"])
    }

    @Sendable func pushNow(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let name = try Self.name(context)
        guard try await database.requestExportPush(projectID: project.id, name: name) else {
            throw APIError.notFound("Export sink \(name) not found")
        }
        return JSONResponse.make(["message": "Push requested"], status: .accepted)
    }

    static func name(_ context: TallyRequestContext) throws -> String {
        let raw = try context.pathID("name")
        guard let name = ExportSinkConfig.validName(raw) else {
            throw APIError.invalid("name: 1 to 64 letters, digits, '.', '_' or '-'")
        }
        return name
    }

    static func json(_ s: ExportSinkStatus, now: Timestamp = .now()) -> JSONValue {
        var o = s.config.json.objectValue ?? [:]
        o["name"] = .string(s.name)
        o["hasApiKey"] = .bool(s.hasApiKey)
        let time = { (t: Timestamp?) in t.map { JSONValue.string($0.iso8601) } ?? .null }
        o["status"] = [
            "cursor": .int(s.cursor), "pendingChanges": .int(s.pendingChanges),
            "lagSeconds": .double(s.lagSeconds(now: now)),
            "eventsSent": .int(s.eventsSent), "requestsSent": .int(s.requestsSent),
            "lastSuccessAt": time(s.lastSuccessAt), "lastFailureAt": time(s.lastFailureAt),
            "lastError": s.lastError.map(JSONValue.string) ?? .null,
            "lastStatus": s.lastStatus.map { .int(Int64($0)) } ?? .null, "failedAttempts": .int(Int64(s.attempts)),
            "nextPushAt": .string(s.nextPushAt.iso8601), "createdAt": .string(s.createdAt.iso8601),
        ]
        for kind in ExportIssueKind.allCases {
            let total = s.issueTotals[kind] ?? (0, 0)
            var entry: [String: JSONValue] = [
                "calls": .int(total.count), "costUsd": .string(Money.decimal(nanos: total.costNanos)),
            ]
            if let recent = s.issues[kind] {
                entry["recent"] = .array(
                    recent.map { i in
                        [
                            "observationId": .string(i.observationID), "traceId": .string(i.traceID),
                            "costUsd": .string(Money.decimal(nanos: i.costNanos)), "at": .string(i.at.iso8601),
                            "detail": i.detail,
                        ]
                    })
            }
            o[kind == .correction ? "corrections" : kind.rawValue] = .object(entry)
        }
        return .object(o)
    }
}
