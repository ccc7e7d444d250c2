import Hummingbird
import TallyCore

/// How a request authenticated: Basic `public:secret` gives full project access, `Bearer <publicKey>` scores only.
public enum AccessLevel: Sendable {
    case project
    case scores
}

/// The request context: carries the authenticated project once `AuthMiddleware` has run.
public struct TallyRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var project: Project?
    public var access: AccessLevel = .project
    /// The key's (or UI session's) reach inside the project.
    public var scope = KeyScope.full

    /// The peer's IP address (no port), or "unknown"; used to throttle failed sign-ins.
    public var clientAddress: String

    public init(source: Source) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// The authenticated project; routes behind `AuthMiddleware` can rely on it.
    func requireProject() throws -> Project {
        guard let project else { throw APIError.unauthorized("No authorization header") }
        return project
    }

    /// The tenants a read may cover given the `requested` filter: as asked for a project key; for a tenant key its
    /// own tenant, whatever was asked, and a 403 if another tenant was asked for (never someone else's data, and
    /// never an empty answer that looks like "no spend").
    func tenants(requested: [String]) throws -> [String] {
        guard let own = scope.tenant else { return requested }
        guard requested.allSatisfy({ $0 == own }) else {
            throw APIError.forbidden("This key reads tenant \(own) only")
        }
        return [own]
    }

    /// `tenants(requested:)` for a single-valued filter.
    func tenant(requested: String?) throws -> String? {
        try tenants(requested: requested.map { [$0] } ?? []).first
    }
}
