import Foundation
import HTTPTypes
import Hummingbird
import TallyCore
import TallyStoreAPI

/// Web UI sign-in: `POST /api/tally/v1/session {publicKey, secretKey}` sets an HttpOnly, SameSite=Strict cookie
/// holding an opaque token (the secret never reaches browser storage); `GET` names the session's project; `DELETE`
/// signs out. No Authorization header needed on these three.
struct SessionController: Sendable {
    static let cookieName = "tally_session"
    let database: any TallyStorage
    let bodyReader: RequestBodyReader
    let throttle = SignInThrottle()

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

    /// The session as the UI reads it: the project and, for a tenant or read-only key, its reach.
    static func projectJSON(_ p: Project, _ scope: KeyScope) -> JSONValue {
        [
            "signedIn": true, "projectId": .string(p.id), "projectName": .string(p.name),
            "tenantId": scope.tenant.map(JSONValue.string) ?? .null, "readOnly": .bool(scope.readOnly),
        ]
    }

    @Sendable func signIn(_ request: Request, context: TallyRequestContext) async throws -> Response {
        guard AuthMiddleware.isSameOrigin(request) else {
            throw APIError.forbidden("Sign in from the Tally UI's own origin")
        }
        let address = context.clientAddress
        if let wait = throttle.lockedOut(address) {
            var error = APIError(
                status: .tooManyRequests,
                body: ["message": .string("Too many failed sign-ins from this address; try again in \(wait) s")])
            error.headers[.retryAfter] = String(wait)
            throw error
        }
        let body = try await bodyReader.read(request)
        guard let o = try? JSONValue.parse(body).objectValue, let publicKey = o["publicKey"]?.stringValue,
            let secretKey = o["secretKey"]?.stringValue, !publicKey.isEmpty, !secretKey.isEmpty
        else { throw APIError.invalid("expected {\"publicKey\": …, \"secretKey\": …}") }
        guard let (token, project, scope) = try await database.openSession(publicKey: publicKey, secretKey: secretKey)
        else {
            throttle.recordFailure(address)
            throw APIError.unauthorized("Invalid credentials")
        }
        throttle.recordSuccess(address)
        var response = JSONResponse.make(Self.projectJSON(project, scope))
        response.headers[.setCookie] = Self.cookie(token, maxAge: SessionPolicy.lifetimeMicros / 1_000_000)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// 200 either way (`signedIn` false without a live session), so a first visit logs no failed request.
    @Sendable func current(_ request: Request, context: TallyRequestContext) async throws -> Response {
        guard let token = Self.token(request), let session = try await database.session(token: token) else {
            return JSONResponse.make(["signedIn": false])
        }
        return JSONResponse.make(Self.projectJSON(session.project, session.scope))
    }

    @Sendable func signOut(_ request: Request, context: TallyRequestContext) async throws -> Response {
        if let token = Self.token(request) { try await database.closeSession(token: token) }
        var response = Response(status: .noContent)
        response.headers[.setCookie] = Self.cookie("", maxAge: 0)
        return response
    }
}
