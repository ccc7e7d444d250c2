import Foundation
import HTTPTypes
import Hummingbird
import TallyCore
import TallyStore

/// Web UI sign-in: `POST /api/tally/v1/session {publicKey, secretKey}` sets an HttpOnly, SameSite=Strict cookie
/// holding an opaque token (the secret never reaches browser storage); `GET` names the session's project; `DELETE`
/// signs out. No Authorization header needed on these three.
struct SessionController: Sendable {
    static let cookieName = "tally_session"
    let database: TallyDatabase
    let bodyReader: RequestBodyReader

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.post("session", use: signIn)
        group.get("session", use: current)
        group.delete("session", use: signOut)
    }

    /// The session token from the `Cookie` header, if any.
    static func token(_ request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let pair = part.trimmingCharacters(in: .whitespaces)
                if pair.hasPrefix(cookieName + "=") { return String(pair.dropFirst(cookieName.count + 1)) }
            }
        }
        return nil
    }

    static func cookie(_ value: String, maxAge: Int64) -> String {
        "\(cookieName)=\(value); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)"
    }

    static func projectJSON(_ p: Project) -> JSONValue {
        ["signedIn": true, "projectId": .string(p.id), "projectName": .string(p.name)]
    }

    @Sendable func signIn(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let body = try await bodyReader.read(request)
        guard let o = try? JSONValue.parse(body).objectValue, let publicKey = o["publicKey"]?.stringValue,
            let secretKey = o["secretKey"]?.stringValue, !publicKey.isEmpty, !secretKey.isEmpty
        else { throw APIError.invalid("expected {\"publicKey\": …, \"secretKey\": …}") }
        guard let (token, project) = try await database.openSession(publicKey: publicKey, secretKey: secretKey) else {
            throw APIError.unauthorized("Invalid credentials")
        }
        var response = JSONResponse.make(Self.projectJSON(project))
        response.headers[.setCookie] = Self.cookie(token, maxAge: TallyDatabase.sessionLifetimeMicros / 1_000_000)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// 200 either way (`signedIn` false without a live session), so a first visit logs no failed request.
    @Sendable func current(_ request: Request, context: TallyRequestContext) async throws -> Response {
        guard let token = Self.token(request), let project = try await database.sessionProject(token: token) else {
            return JSONResponse.make(["signedIn": false])
        }
        return JSONResponse.make(Self.projectJSON(project))
    }

    @Sendable func signOut(_ request: Request, context: TallyRequestContext) async throws -> Response {
        if let token = Self.token(request) { try await database.closeSession(token: token) }
        var response = Response(status: .noContent)
        response.headers[.setCookie] = Self.cookie("", maxAge: 0)
        return response
    }
}

/// `GET /api/tally/v1/traces`: the UI's trace list (TraceListQuery), one page plus `hasMore`, no total count.
struct TraceListController: Sendable {
    let database: TallyDatabase

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("traces", use: list)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = QueryReader(request)
        var q = TraceListQuery()
        q.from = try r.timestamp("from")
        q.to = try r.timestamp("to")
        q.tenant = r.string("tenantId")
        q.tags = r.all("tags") + r.all("tag")
        q.promptName = r.string("promptName")
        q.promptVersion = try r.int("promptVersion", in: 0...Int(Int32.max))
        q.model = r.string("model")
        q.userID = r.string("userId")
        q.sessionID = r.string("sessionId")
        q.environments = r.list("environment")
        q.level = try r.enumValue("level", ObservationLevel.self)
        q.nameContains = r.string("q")
        if let sort = r.string("sort") {
            q.ascending = !sort.hasPrefix("-")
            let name = sort.hasPrefix("-") ? String(sort.dropFirst()) : sort
            guard let s = TraceListQuery.Sort(rawValue: name) else {
                throw APIError.invalid(
                    "sort: expected [-]" + TraceListQuery.Sort.allCases.map(\.rawValue).joined(separator: "|"))
            }
            q.sort = s
        }
        q.limit = try r.int("limit", in: 1...200) ?? 50
        q.offset = try r.int("offset", in: 0...1_000_000) ?? 0
        let (rows, hasMore) = try await database.traceList(projectID: project.id, query: q)
        let data = rows.map { row -> JSONValue in
            let t = row.trace
            return [
                "id": .string(t.id), "timestamp": DTO.time(t.timestamp), "name": DTO.str(t.name),
                "tenant": DTO.str(t.tenant), "feature": DTO.str(t.feature), "userId": DTO.str(t.userID),
                "sessionId": DTO.str(t.sessionID), "tags": .array(t.tags.map { .string($0) }),
                "environment": .string(t.environment), "latencyMs": DTO.num(row.latencyMs),
                "observations": .int(Int64(row.observations)), "inputTokens": .int(row.inputTokens),
                "outputTokens": .int(row.outputTokens), "totalTokens": .int(row.totalTokens),
                "totalCost": .double(Double(row.totalCostNanos) / 1e9), "level": DTO.str(row.level?.rawValue),
            ]
        }
        return JSONResponse.make([
            "data": .array(data), "offset": .int(Int64(q.offset)), "limit": .int(Int64(q.limit)),
            "hasMore": .bool(hasMore),
        ])
    }
}
