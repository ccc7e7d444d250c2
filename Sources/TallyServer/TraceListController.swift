import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// `GET /api/tally/v1/traces`: the UI's trace list (TraceListQuery), one page plus `hasMore` and `nextCursor` (pass
/// it back as `cursor` for the next page at the cost of the first), no total count.
struct TraceListController: Sendable {
    let database: any TallyStorage

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("traces", use: list)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = TraceListQuery()
        q.from = try r.timestamp("from")
        q.to = try r.timestamp("to")
        q.tenant = try context.tenant(requested: r.string("tenantId"))
        q.feature = r.string("feature")
        q.tags = try r.all("tags") + r.all("tag")
        q.promptName = r.string("promptName")
        q.promptVersion = try r.int("promptVersion", in: 0...Int(Int32.max))
        q.model = r.string("model")
        q.userID = r.string("userId")
        q.sessionID = r.string("sessionId")
        q.environments = try r.list("environment")
        q.level = try r.enumValue("level", ObservationLevel.self)
        q.nameContains = r.string("q")
        if let (key, ascending) = try r.sort("sort", TraceListQuery.Sort.self) {
            (q.sort, q.ascending) = (key, ascending)
        }
        q.limit = try r.int("limit", in: 1...200) ?? 50
        q.offset = try r.int("offset", in: 0...1_000_000) ?? 0
        if let token = r.string("cursor") {
            guard let cursor = ListCursor(token: token) else {
                throw APIError.invalid("cursor: not a cursor this list returned (nextCursor)")
            }
            guard q.offset == 0 else { throw APIError.invalid("cursor and offset exclude each other") }
            q.after = cursor
        }
        let (rows, hasMore, next) = try await database.traceList(projectID: project.id, query: q)
        let data = rows.map { row -> JSONValue in
            let t = row.trace
            let sums = row.totals
            return [
                "id": .string(t.id), "timestamp": DTO.time(t.timestamp), "name": DTO.str(t.name),
                "tenant": DTO.str(t.tenant), "feature": DTO.str(t.feature), "userId": DTO.str(t.userID),
                "sessionId": DTO.str(t.sessionID), "tags": .array(t.tags.map { .string($0) }),
                "environment": .string(t.environment), "latencyMs": DTO.num(sums.map { Double($0.spanMicros) / 1000 }),
                "observations": .int(Int64(sums?.observations ?? 0)), "inputTokens": .int(sums?.inputTokens ?? 0),
                "outputTokens": .int(sums?.outputTokens ?? 0), "totalTokens": .int(sums?.totalTokens ?? 0),
                "totalCost": .double(Money.usd(nanos: sums?.totalCostNanos ?? 0)),
                "level": DTO.str(sums?.level.rawValue),
            ]
        }
        return JSONResponse.make([
            "data": .array(data), "offset": .int(Int64(q.offset)), "limit": .int(Int64(q.limit)),
            "hasMore": .bool(hasMore), "nextCursor": next.map { .string($0.token) } ?? .null,
        ])
    }
}
