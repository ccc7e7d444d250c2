import Foundation
import PostgresNIO
import TallyCore
import TallySQL
import TallySecrets
import TallyStoreAPI

/// Projects, keys and UI sessions (schema/postgres/0001), with the SQLite store's rules: secrets hashed with a
/// per-key salt and compared in constant time (an unknown public key is checked against a decoy), tokens stored as
/// their SHA-256.
extension PostgresStore: ProjectStore {
    typealias ProjectColumns = (String, String, String, String, Int64)
    static let projectColumns = "p.id, p.name, p.organization_id, p.organization_name, p.created_at"

    static func project(_ c: ProjectColumns) -> Project {
        Project(id: c.0, name: c.1, organizationID: c.2, organizationName: c.3, createdAt: Timestamp(microseconds: c.4))
    }

    /// The projects `query` selects; its columns must be `projectColumns`.
    func fetchProjects(_ query: PostgresQuery) async throws -> [Project] {
        var out: [Project] = []
        for try await c in try await client.query(query, logger: logger).decode(ProjectColumns.self) {
            out.append(Self.project(c))
        }
        return out
    }

    /// Creates the project if no project has `id` (with the seed alert rules); an existing project keeps its name.
    @discardableResult
    public func ensureProject(id: String, name: String) async throws -> Project {
        let now = Timestamp.now().microseconds
        try await client.query(
            "INSERT INTO project (id, name, created_at) VALUES (\(id), \(name), \(now)) ON CONFLICT (id) DO NOTHING",
            logger: logger)
        try await seedAlertRules(projectID: id)
        guard
            let project = try await fetchProjects(
                "SELECT \(unescaped: Self.projectColumns) FROM project p WHERE p.id = \(id)"
            ).first
        else { throw KeyError.projectNotFound(id) }
        return project
    }

    public func projects() async throws -> [Project] {
        try await fetchProjects("SELECT \(unescaped: Self.projectColumns) FROM project p ORDER BY p.created_at, p.id")
    }

    public func project(publicKey: String) async throws -> Project? {
        try await fetchProjects(
            """
            SELECT \(unescaped: Self.projectColumns) FROM api_key k JOIN project p ON p.id = k.project_id
            WHERE k.public_key = \(publicKey) AND k.revoked_at IS NULL AND NOT k.read_only AND k.tenant IS NULL
            """
        ).first
    }

    /// As `TallyDatabase.createKey`: given keys are stored verbatim; an existing live key of this project is left
    /// alone (nil); a key of another project moves here with the new secret.
    @discardableResult
    public func createKey(
        projectID: String, publicKey: String?, secretKey: String?, note: String?, scope: KeyScope
    ) async throws -> CreatedKey? {
        let generated = SecretHasher.generatedPair()
        let pk = publicKey ?? generated.publicKey
        let sk = secretKey ?? generated.secretKey
        return try await transaction { connection in
            var exists = false
            for try await _ in try await connection.query(
                "SELECT 1 FROM project WHERE id = \(projectID)", logger: logger)
            {
                exists = true
            }
            guard exists else { throw KeyError.projectNotFound(projectID) }
            for try await owner in try await connection.query(
                "SELECT project_id FROM api_key WHERE public_key = \(pk) AND revoked_at IS NULL FOR UPDATE",
                logger: logger
            ).decode(String.self) where owner == projectID {
                return nil
            }
            let salt = SecretHasher.salt()
            let hash = SecretHasher.hash(secret: sk, salt: salt)
            let display = SecretHasher.display(sk)
            let now = Timestamp.now().microseconds
            try await connection.query(
                """
                INSERT INTO api_key (public_key, project_id, secret_salt, secret_hash, display_secret, note, created_at,
                    tenant, read_only)
                VALUES (\(pk), \(projectID), \(salt), \(hash), \(display), \(note), \(now), \(scope.tenant), \(scope.readOnly))
                ON CONFLICT (public_key) DO UPDATE SET project_id = excluded.project_id,
                    secret_salt = excluded.secret_salt, secret_hash = excluded.secret_hash,
                    display_secret = excluded.display_secret, note = excluded.note, created_at = excluded.created_at,
                    revoked_at = NULL, tenant = excluded.tenant, read_only = excluded.read_only
                """, logger: logger)
            return CreatedKey(publicKey: pk, secretKey: sk, projectID: projectID)
        }
    }

    public func createGeneratedKey(projectID: String, note: String?, scope: KeyScope) async throws -> CreatedKey {
        let pair = SecretHasher.generatedPair()
        guard
            let key = try await createKey(
                projectID: projectID, publicKey: pair.publicKey, secretKey: pair.secretKey, note: note, scope: scope)
        else { throw KeyError.keyNotFound(pair.publicKey) }
        return key
    }

    public func listKeys(projectID: String) async throws -> [APIKeyInfo] {
        var out: [APIKeyInfo] = []
        for try await (pk, project, display, note, created, revoked, tenant, readOnly) in try await client.query(
            """
            SELECT public_key, project_id, display_secret, note, created_at, revoked_at, tenant, read_only FROM api_key
            WHERE project_id = \(projectID) ORDER BY created_at, public_key
            """, logger: logger
        ).decode((String, String, String, String?, Int64, Int64?, String?, Bool).self) {
            out.append(
                APIKeyInfo(
                    publicKey: pk, projectID: project, displaySecret: display, note: note,
                    scope: KeyScope(tenant: tenant, readOnly: readOnly), createdAt: Timestamp(microseconds: created),
                    revokedAt: revoked.map(Timestamp.init(microseconds:))))
        }
        return out
    }

    public func revokeKey(publicKey: String, inProject projectID: String) async throws -> Bool {
        let now = Timestamp.now().microseconds
        for try await _ in try await client.query(
            """
            UPDATE api_key SET revoked_at = \(now)
            WHERE public_key = \(publicKey) AND project_id = \(projectID) AND revoked_at IS NULL RETURNING 1
            """, logger: logger)
        {
            return true
        }
        return false
    }

    public func authenticatedKey(publicKey: String, secretKey: String) async throws -> (
        project: Project, scope: KeyScope
    )? {
        var found: (salt: String, hash: String, tenant: String?, readOnly: Bool, project: ProjectColumns)?
        for try await (salt, hash, tenant, readOnly, id, name, org, orgName, created) in try await client.query(
            """
            SELECT k.secret_salt, k.secret_hash, k.tenant, k.read_only, \(unescaped: Self.projectColumns)
            FROM api_key k JOIN project p ON p.id = k.project_id
            WHERE k.public_key = \(publicKey) AND k.revoked_at IS NULL
            """, logger: logger
        ).decode((String, String, String?, Bool, String, String, String, String, Int64).self) {
            found = (salt, hash, tenant, readOnly, (id, name, org, orgName, created))
        }
        // An unknown public key is checked against a decoy: both refusals take the same work.
        let matches = SecretHasher.matches(
            secret: secretKey, salt: found?.salt ?? SecretHasher.decoy.salt,
            hash: found?.hash ?? SecretHasher.decoy.hash)
        guard let found, matches else { return nil }
        return (Self.project(found.project), KeyScope(tenant: found.tenant, readOnly: found.readOnly))
    }

    public func openSession(publicKey: String, secretKey: String) async throws -> (
        token: String, project: Project, scope: KeyScope
    )? {
        guard let key = try await authenticatedKey(publicKey: publicKey, secretKey: secretKey) else { return nil }
        let token = SecretHasher.sessionToken()
        let now = Timestamp.now().microseconds
        let expires = now + SessionPolicy.lifetimeMicros
        let hash = SecretHasher.sessionHash(token)
        try await client.query("DELETE FROM ui_session WHERE expires_at < \(now)", logger: logger)
        try await client.query(
            """
            INSERT INTO ui_session (token_hash, public_key, created_at, expires_at)
            VALUES (\(hash), \(publicKey), \(now), \(expires))
            """, logger: logger)
        return (token, key.project, key.scope)
    }

    public func session(token: String) async throws -> (project: Project, scope: KeyScope)? {
        guard token.count == 64 else { return nil }
        let hash = SecretHasher.sessionHash(token)
        let now = Timestamp.now().microseconds
        for try await (tenant, readOnly, id, name, org, orgName, created) in try await client.query(
            """
            SELECT k.tenant, k.read_only, \(unescaped: Self.projectColumns) FROM ui_session s
            JOIN api_key k ON k.public_key = s.public_key JOIN project p ON p.id = k.project_id
            WHERE s.token_hash = \(hash) AND s.expires_at > \(now) AND k.revoked_at IS NULL
            """, logger: logger
        ).decode((String?, Bool, String, String, String, String, Int64).self) {
            return (Self.project((id, name, org, orgName, created)), KeyScope(tenant: tenant, readOnly: readOnly))
        }
        return nil
    }

    public func closeSession(token: String) async throws {
        let hash = SecretHasher.sessionHash(token)
        try await client.query("DELETE FROM ui_session WHERE token_hash = \(hash)", logger: logger)
    }
}
