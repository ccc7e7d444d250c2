import Foundation
import HTTPTypes
import Hummingbird
import TallyCore
import TallyStoreAPI

/// Resolves `Authorization` to a project (COMPAT §1): Basic `public:secret` → full project access;
/// `Bearer <publicKey>` → scores-only access, accepted only where `allowsScoresAccess` is set. Without the header,
/// a web UI session cookie gives read access: GET and HEAD only, so a cross-site form can never write. Where
/// `allowsSessionWrites` is set (Tally's own API: budgets, switches, alerts), the UI may also write with its session
/// when the request is same-origin and carries `X-Tally-UI: 1` — a header no cross-site form can send and no
/// cross-origin script may (CORS does not allow it), on top of the `SameSite=Strict` cookie.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = TallyRequestContext
    let database: any TallyStorage
    let allowsScoresAccess: Bool
    var allowsSessionWrites = false
    /// LangSmith's SDK sends its key as `x-api-key` (no Authorization header): there it is `<public>:<secret>`.
    var acceptsAPIKeyHeader = false

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        if acceptsAPIKeyHeader, request.headers[.authorization] == nil, let key = request.headers[.apiKey] {
            guard let (publicKey, secretKey) = Self.keyPair(key.trimmingCharacters(in: .whitespaces)) else {
                throw APIError.unauthorized("x-api-key: expected <public key>:<secret key> of a Tally project")
            }
            (context.project, context.scope) = try await authenticate(publicKey: publicKey, secretKey: secretKey)
            context.access = .project
            try Self.authorize(request, context)
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], !header.isEmpty else {
            guard let token = SessionController.token(request) else {
                throw APIError.unauthorized("No authorization header")
            }
            guard
                request.method == .get || request.method == .head
                    || (allowsSessionWrites && request.headers[.tallyUI] == "1")
            else {
                throw APIError.forbidden("A browser session is read-only; use API keys to write")
            }
            guard Self.isSameOrigin(request) else {
                throw APIError.forbidden("A browser session is accepted only from the Tally UI's own origin")
            }
            guard let session = try await database.session(token: token) else {
                throw APIError.unauthorized("Session expired or signed out")
            }
            (context.project, context.scope) = session
            context.access = .project
            try Self.authorize(request, context)
            return try await next(request, context)
        }
        let (scheme, credentials) = Self.split(header)
        switch scheme.lowercased() {
        case "basic":
            guard let decoded = Data(base64Encoded: credentials).flatMap({ String(data: $0, encoding: .utf8) }),
                let (publicKey, secretKey) = Self.keyPair(decoded)
            else { throw APIError.unauthorized("Invalid authorization header") }
            (context.project, context.scope) = try await authenticate(publicKey: publicKey, secretKey: secretKey)
            context.access = .project
            try Self.authorize(request, context)
        case "bearer":
            guard !credentials.isEmpty else { throw APIError.unauthorized("Invalid authorization header") }
            guard let project = try await database.project(publicKey: credentials) else {
                throw APIError.unauthorized("Invalid public key. Confirm that you've configured the correct host.")
            }
            guard allowsScoresAccess else {
                throw APIError.forbidden("Access denied - insufficient permissions for this endpoint")
            }
            context.project = project
            context.access = .scores
        default:
            throw APIError.unauthorized("Invalid authorization header")
        }
        return try await next(request, context)
    }

    /// `<public key>:<secret key>` split at the first colon; nil unless both are non-empty.
    static func keyPair(_ text: String) -> (publicKey: String, secretKey: String)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let publicKey = String(text[..<colon])
        let secretKey = String(text[text.index(after: colon)...])
        return publicKey.isEmpty || secretKey.isEmpty ? nil : (publicKey, secretKey)
    }

    /// The project and reach of a key pair; a 401 for a wrong pair.
    func authenticate(publicKey: String, secretKey: String) async throws -> (Project, KeyScope) {
        guard let key = try await database.authenticatedKey(publicKey: publicKey, secretKey: secretKey) else {
            throw APIError.unauthorized("Invalid credentials. Confirm that you've configured the correct host.")
        }
        return (key.project, key.scope)
    }

    /// The routes a tenant key may call (GET or HEAD; route patterns as the router spells them). Each scopes its
    /// answer to the key's tenant (`TallyRequestContext.tenants(requested:)`, or a tenant check on the one trace it
    /// returns); every other route answers 403, so a route added later is closed to tenant keys until it is scoped.
    static let tenantRoutes: Set<String> = [
        "/api/tally/v1/breakdown", "/api/tally/v1/unit-economics", "/api/tally/v1/dashboards/spend-by-feature",
        "/api/tally/v1/dashboards/top-tenants", "/api/tally/v1/dashboards/tokens-per-success",
        "/api/tally/v1/dashboards/cost-by-model", "/api/tally/v1/exports/usage", "/api/tally/v1/traces",
        "/api/public/traces", "/api/public/traces/{traceId}", "/api/public/projects", "/api/tally/v1/what-if",
        "/api/tally/v1/insights", "/api/tally/v1/users",
    ]

    /// Refuses (403) what the key's reach does not cover: any write for a read-only key, any route outside
    /// `tenantRoutes` for a tenant key.
    static func authorize(_ request: Request, _ context: Context) throws {
        let reads = request.method == .get || request.method == .head
        if context.scope.readOnly, !reads {
            throw APIError.forbidden("This key is read-only")
        }
        if let tenant = context.scope.tenant, !tenantRoutes.contains(context.endpointPath ?? "") {
            throw APIError.forbidden(
                "This key reads tenant \(tenant)'s spend and traces only; this route is not open to it")
        }
    }

    /// True unless the browser says the request comes from another origin: an `Origin` header (or, without it,
    /// `Sec-Fetch-Site: cross-site`) whose host and port differ from the `Host` the request was sent to. Cookie
    /// sessions are accepted only then, whatever CORS headers other routes send.
    static func isSameOrigin(_ request: Request) -> Bool {
        if let origin = request.headers[.origin], origin != "null" {
            guard let authority = request.head.authority, let url = URL(string: origin), let host = url.host else {
                return false
            }
            return (host + (url.port.map { ":\($0)" } ?? "")).lowercased() == authority.lowercased()
        }
        if let site = request.headers[.secFetchSite] { return site != "cross-site" }
        return true
    }

    static func split(_ header: String) -> (String, String) {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else { return (trimmed, "") }
        return (String(trimmed[..<space]), trimmed[space...].trimmingCharacters(in: .whitespaces))
    }
}
