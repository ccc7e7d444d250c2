import TallyCore

/// A key as listed: never the secret, only its display form.
public struct APIKeyInfo: Sendable, Hashable {
    public var publicKey: String
    public var projectID: String
    public var displaySecret: String
    public var note: String?
    public var scope: KeyScope
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?

    public init(
        publicKey: String, projectID: String, displaySecret: String, note: String? = nil, scope: KeyScope,
        createdAt: Timestamp, revokedAt: Timestamp? = nil
    ) {
        self.publicKey = publicKey
        self.projectID = projectID
        self.displaySecret = displaySecret
        self.note = note
        self.scope = scope
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// A freshly created key pair. The secret exists only in this value: it is stored hashed.
public struct CreatedKey: Sendable, Hashable {
    public var publicKey: String
    public var secretKey: String
    public var projectID: String

    public init(publicKey: String, secretKey: String, projectID: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
        self.projectID = projectID
    }
}

public enum KeyError: Error, Equatable, CustomStringConvertible {
    case projectNotFound(String)
    case publicKeyTaken(String)
    case keyNotFound(String)

    public var description: String {
        switch self {
        case .projectNotFound(let id): return "no project with id \(id)"
        case .publicKeyTaken(let key): return "public key \(key) already belongs to another project"
        case .keyNotFound(let key): return "no key with public key \(key)"
        }
    }
}
