import Crypto
import Foundation
import GRDB
import TallyCore
import TallySecrets
import TallyStoreAPI

/// Web UI sessions: a sign-in with API keys yields an opaque token for an HttpOnly cookie.
extension TallyDatabase {
    /// Session lifetime: 12 hours.
    public static let sessionLifetimeMicros = SessionPolicy.lifetimeMicros

    /// Checks the key pair and opens a session; returns the token (64 hex characters), the project and the key's
    /// reach (the session's own).
    public func openSession(publicKey: String, secretKey: String) async throws -> (
        token: String, project: Project, scope: KeyScope
    )? {
        guard let key = try await authenticatedKey(publicKey: publicKey, secretKey: secretKey) else { return nil }
        let token = SecretHasher.sessionToken()
        let now = Timestamp.now().microseconds
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM ui_session WHERE expires_at < ?", arguments: [now])
            try db.execute(
                sql: "INSERT INTO ui_session (token_hash, public_key, created_at, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [Self.sessionHash(token), publicKey, now, now + Self.sessionLifetimeMicros])
        }
        return (token, key.project, key.scope)
    }

    /// The project and reach of a live session (not expired, key not revoked), or nil.
    public func session(token: String) async throws -> (project: Project, scope: KeyScope)? {
        guard token.count == 64 else { return nil }
        let hash = Self.sessionHash(token)
        return try await writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT k.tenant, k.read_only, p.* FROM ui_session s JOIN api_key k ON k.public_key = s.public_key
                    JOIN project p ON p.id = k.project_id
                    WHERE s.token_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL
                    """, arguments: [hash, Timestamp.now().microseconds]
            ).map { (Self.project(row: $0), Self.scope($0)) }
        }
    }

    public func closeSession(token: String) async throws {
        let hash = Self.sessionHash(token)
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM ui_session WHERE token_hash = ?", arguments: [hash])
        }
    }

    /// Lookup is by hash: a database reader never holds a usable token.
    static func sessionHash(_ token: String) -> String { SecretHasher.sessionHash(token) }
}
