import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// `GET /api/tally/v1/users` (per user: traces, tokens, cost, error rate, first and last seen; sortable, paged) and
/// `GET /api/tally/v1/sessions` (sessions newest first with their totals; by tenant or user). A session's turns are
/// Langfuse's `GET /api/public/sessions/{id}`.
struct ActivityController: Sendable {
    let database: any TallyStorage

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("users", use: users)
        group.get("sessions", use: sessions)
    }

    @Sendable func users(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = UserListQuery()
        (q.from, q.to) = try Self.range(r)
        q.tenants = try context.tenants(requested: r.list("tenantId") + r.list("tenant"))
        q.environments = try r.list("environment")
        if let (key, ascending) = try r.sort("sort", UserListQuery.Sort.self) {
            (q.sort, q.ascending) = (key, ascending)
        }
        q.limit = try r.int("limit", in: 1...UserListQuery.maxLimit) ?? 50
        q.offset = try r.int("offset", in: 0...1_000_000) ?? 0
        let (rows, total) = try await database.users(projectID: project.id, query: q)
        return JSONResponse.make([
            "data": .array(
                rows.map { u in
                    [
                        "userId": .string(u.userID), "traces": .int(u.traces), "errors": .int(u.errors),
                        "errorRate": .double(u.errorRate), "totalTokens": .int(u.tokens),
                        "totalCost": .double(Money.usd(nanos: u.costNanos)), "totalCostNanos": .int(u.costNanos),
                        "firstSeen": DTO.time(u.firstSeen), "lastSeen": DTO.time(u.lastSeen),
                        "tenant": DTO.str(u.tenant), "severalTenants": .bool(u.severalTenants),
                    ]
                }),
            "meta": ["totalItems": .int(Int64(total)), "limit": .int(Int64(q.limit)), "offset": .int(Int64(q.offset))],
        ])
    }

    @Sendable func sessions(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = SessionListQuery()
        (q.from, q.to) = try Self.range(r)
        q.tenants = try r.list("tenantId") + r.list("tenant")
        q.userID = r.string("userId")
        q.environments = try r.list("environment")
        q.limit = try r.int("limit", in: 1...SessionListQuery.maxLimit) ?? 50
        q.offset = try r.int("offset", in: 0...1_000_000) ?? 0
        let rows = try await database.sessionList(projectID: project.id, query: q)
        return JSONResponse.make([
            "data": .array(
                rows.map { s in
                    [
                        "sessionId": .string(s.sessionID), "traces": .int(s.traces), "errors": .int(s.errors),
                        "totalTokens": .int(s.tokens), "totalCost": .double(Money.usd(nanos: s.costNanos)),
                        "totalCostNanos": .int(s.costNanos), "start": DTO.time(s.start), "end": DTO.time(s.end),
                        "durationMs": .double(Double(s.end.microseconds - s.start.microseconds) / 1_000),
                        "userId": DTO.str(s.userID), "users": .int(s.userCount), "tenant": DTO.str(s.tenant),
                    ]
                }),
            "meta": ["limit": .int(Int64(q.limit)), "offset": .int(Int64(q.offset))],
        ])
    }

    static func range(_ r: QueryReader) throws -> (Timestamp?, Timestamp?) {
        let from = try r.timestamp("from")
        let to = try r.timestamp("to")
        if let from, let to, from >= to { throw APIError.invalid("from must be before to") }
        return (from, to)
    }
}
