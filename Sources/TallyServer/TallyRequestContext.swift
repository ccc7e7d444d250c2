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
}
