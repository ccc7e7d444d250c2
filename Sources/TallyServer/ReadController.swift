import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// The Langfuse public read API (COMPAT §4): projects, traces, observations, sessions, scores. Every query is
/// scoped to the authenticated project.
struct ReadController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("projects", use: projects)
        group.get("traces", use: traces)
        group.delete("traces", use: deleteTraces)
        group.get("traces/:traceId", use: trace)
        group.delete("traces/:traceId", use: deleteTrace)
        group.get("observations", use: observations)
        group.get("observations/:observationId", use: observation)
        group.get("sessions", use: sessions)
        group.get("sessions/:sessionId", use: session)
        group.get("scores", use: scores)
        group.get("v2/scores", use: scores)
        group.get("scores/:scoreId", use: score)
        group.get("v2/scores/:scoreId", use: score)
        group.delete("scores/:scoreId", use: deleteScore)
    }

    @Sendable func projects(_ request: Request, context: TallyRequestContext) async throws -> Response {
        JSONResponse.make(["data": [DTO.project(try context.requireProject())]])
    }

    @Sendable func traces(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = TraceQuery()
        q.page = try r.page()
        q.userID = r.string("userId")
        q.name = r.string("name")
        q.sessionID = r.string("sessionId")
        q.from = try r.timestamp("fromTimestamp")
        q.to = try r.timestamp("toTimestamp")
        q.tags = try r.all("tags")
        q.version = r.string("version")
        q.release = r.string("release")
        q.environments = try r.all("environment")
        q.tenant = try context.tenant(requested: r.string("tenantId"))
        if let order = r.string("orderBy") {
            let parts = order.split(separator: ".", maxSplits: 1).map(String.init)
            guard let field = TraceQuery.OrderField(rawValue: parts[0]),
                let direction = SortDirection(rawValue: parts.count > 1 ? parts[1] : "desc")
            else {
                throw APIError.invalid(
                    "orderBy: expected <field>.<asc|desc> with field one of "
                        + TraceQuery.OrderField.allCases.map(\.rawValue).joined(separator: ", "))
            }
            q.orderField = field
            q.orderDirection = direction
        }
        let page = try await database.traces(projectID: project.id, query: q)
        return DTO.list(page) { DTO.trace($0, projectID: project.id) }
    }

    @Sendable func trace(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("traceId")
        guard let (summary, observations, scores) = try await database.trace(projectID: project.id, id: id),
            context.scope.tenant == nil || summary.trace.tenant == context.scope.tenant
        else { throw APIError.notFound("Trace not found within authorized project") }
        guard case .object(var out) = DTO.trace(summary, projectID: project.id) else {
            throw APIError.notFound("Trace not found")
        }
        out["observations"] = .array(observations.map { DTO.observation($0, projectID: project.id) })
        out["scores"] = .array(scores.map { DTO.score($0, projectID: project.id) })
        return JSONResponse.make(.object(out))
    }

    @Sendable func deleteTrace(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("traceId")
        let deleted = try await database.deleteTraces(projectID: project.id, ids: [id])
        guard deleted > 0 else { throw APIError.notFound("Trace not found within authorized project") }
        return JSONResponse.make(["message": "Trace deleted successfully"])
    }

    @Sendable func deleteTraces(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let body = try await bodyReader.read(request)
        guard case .object(let o)? = try? JSONValue.parse(body), case .array(let items)? = o["traceIds"],
            (1...1000).contains(items.count)
        else { throw APIError.invalid("body: expected {\"traceIds\": [1 to 1000 trace ids]}") }
        let ids = items.compactMap(\.stringValue)
        guard ids.count == items.count else { throw APIError.invalid("traceIds: expected strings") }
        try await database.deleteTraces(projectID: project.id, ids: ids)
        return JSONResponse.make(["message": "Traces deleted successfully"])
    }

    @Sendable func observations(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = ObservationQuery()
        q.page = try r.page()
        q.name = r.string("name")
        q.userID = r.string("userId")
        q.type = try r.enumValue("type", ObservationType.self)
        q.traceID = r.string("traceId")
        q.level = try r.enumValue("level", ObservationLevel.self)
        q.parentObservationID = r.string("parentObservationId")
        q.environments = try r.all("environment")
        q.fromStartTime = try r.timestamp("fromStartTime")
        q.toStartTime = try r.timestamp("toStartTime")
        q.version = r.string("version")
        let page = try await database.observations(projectID: project.id, query: q)
        return DTO.list(page) { DTO.observation($0, projectID: project.id) }
    }

    @Sendable func observation(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("observationId")
        guard let o = try await database.observation(projectID: project.id, id: id) else {
            throw APIError.notFound("Observation not found within authorized project")
        }
        return JSONResponse.make(DTO.observation(o, projectID: project.id))
    }

    @Sendable func sessions(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = SessionQuery()
        q.page = try r.page()
        q.from = try r.timestamp("fromTimestamp")
        q.to = try r.timestamp("toTimestamp")
        q.environments = try r.all("environment")
        let page = try await database.sessions(projectID: project.id, query: q)
        return DTO.list(page) { DTO.session($0, projectID: project.id) }
    }

    @Sendable func session(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("sessionId")
        guard let (session, traces) = try await database.session(projectID: project.id, id: id) else {
            throw APIError.notFound("Session not found within authorized project")
        }
        guard case .object(var out) = DTO.session(session, projectID: project.id) else {
            throw APIError.notFound("Session not found")
        }
        out["traces"] = .array(traces.map { DTO.trace($0, projectID: project.id) })
        return JSONResponse.make(.object(out))
    }

    @Sendable func scores(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = ScoreQuery()
        q.page = try r.page()
        q.userID = r.string("userId")
        q.names = r.string("name").map { [$0] } ?? []
        q.dataTypes = try r.enumValue("dataType", ScoreDataType.self).map { [$0] } ?? []
        q.sources = try r.enumValue("source", ScoreSource.self).map { [$0] } ?? []
        q.configIDs = r.string("configId").map { [$0] } ?? []
        q.queueIDs = r.string("queueId").map { [$0] } ?? []
        q.traceTags = try r.all("traceTags")
        q.environments = try r.all("environment")
        q.from = try r.timestamp("fromTimestamp")
        q.to = try r.timestamp("toTimestamp")
        q.value = try r.double("value")
        q.comparison = try r.enumValue("operator", ScoreQuery.Comparison.self) ?? .eq
        q.scoreIDs = try r.list("scoreIds")
        q.traceIDs = try r.list("traceId")
        q.observationIDs = try r.list("observationId")
        q.sessionIDs = try r.list("sessionId")
        q.datasetRunIDs = try r.list("datasetRunId")
        let page = try await database.scores(projectID: project.id, query: q)
        return DTO.list(page) { DTO.score($0, projectID: project.id) }
    }

    @Sendable func score(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("scoreId")
        guard let s = try await database.score(projectID: project.id, id: id) else {
            throw APIError.notFound("Score not found within authorized project")
        }
        return JSONResponse.make(DTO.score(s, projectID: project.id))
    }

    @Sendable func deleteScore(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("scoreId")
        guard try await database.deleteScore(projectID: project.id, id: id) else {
            throw APIError.notFound("Score not found within authorized project")
        }
        return Response(status: .noContent)
    }
}
