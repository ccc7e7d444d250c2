import Crypto
import Foundation
import GRDB
import TallyCore
import TallySecrets
import TallyStoreAPI

extension TallyDatabase {
    /// Creates the project if no project has `id`; an existing project keeps its name.
    @discardableResult
    public func ensureProject(id: String, name: String) throws -> Project {
        try writer.write { db in
            try db.execute(
                sql: "INSERT INTO project (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING",
                arguments: [id, name, Timestamp.now().microseconds])
            try Self.seedAlertRules(db)
            return try Self.fetchProject(db, id: id)!
        }
    }

    public func project(id: String) throws -> Project? {
        try writer.read { db in try Self.fetchProject(db, id: id) }
    }

    public func projects() throws -> [Project] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM project ORDER BY created_at").map(Self.project(row:))
        }
    }

    static func fetchProject(_ db: Database, id: String) throws -> Project? {
        try Row.fetchOne(db, sql: "SELECT * FROM project WHERE id = ?", arguments: [id]).map(project(row:))
    }

    static func project(row: Row) -> Project {
        Project(
            id: row["id"], name: row["name"], organizationID: row["organization_id"],
            organizationName: row["organization_name"], createdAt: Timestamp(microseconds: row["created_at"]))
    }

    /// Creates a key for `projectID`. Given keys are stored verbatim (Langfuse's headless bootstrap); otherwise
    /// `pk-lf-<uuid>` / `sk-lf-<uuid>` are generated. If `publicKey` already exists on this project nothing changes
    /// (the secret is not rotated) and nil is returned; on another project it is moved here with the new secret.
    @discardableResult
    public func createKey(
        projectID: String, publicKey: String? = nil, secretKey: String? = nil, note: String? = nil,
        scope: KeyScope = .full
    ) throws -> CreatedKey? {
        let generated = Self.generatedPair()
        let pk = publicKey ?? generated.publicKey
        let sk = secretKey ?? generated.secretKey
        return try writer.write { db in
            try Self.insertKey(db, projectID: projectID, publicKey: pk, secretKey: sk, note: note, scope: scope)
        }
    }

    /// A new generated key pair for `projectID` with `scope` (the project keys' API).
    public func createGeneratedKey(projectID: String, note: String?, scope: KeyScope) async throws -> CreatedKey {
        let (pk, sk) = Self.generatedPair()
        return try await writer.write { db in
            guard
                let key = try Self.insertKey(
                    db, projectID: projectID, publicKey: pk, secretKey: sk, note: note, scope: scope)
            else { throw KeyError.keyNotFound(pk) }
            return key
        }
    }

    /// The keys of `projectID`, oldest first (never the secrets).
    public func listKeys(projectID: String) async throws -> [APIKeyInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM api_key WHERE project_id = ? ORDER BY created_at", arguments: [projectID]
            ).map(Self.keyInfo)
        }
    }

    /// Revokes a key of `projectID` at once; false if the project has no such live key.
    public func revokeKey(publicKey: String, inProject projectID: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE api_key SET revoked_at = ? WHERE public_key = ? AND project_id = ? AND revoked_at IS NULL",
                arguments: [Timestamp.now().microseconds, publicKey, projectID])
            return db.changesCount > 0
        }
    }

    /// A fresh `pk-lf-<uuid>` / `sk-lf-<uuid>` pair.
    static func generatedPair() -> (publicKey: String, secretKey: String) { SecretHasher.generatedPair() }

    static func insertKey(
        _ db: Database, projectID: String, publicKey pk: String, secretKey sk: String, note: String?, scope: KeyScope
    ) throws -> CreatedKey? {
        guard try Self.fetchProject(db, id: projectID) != nil else { throw KeyError.projectNotFound(projectID) }
        if let owner = try String.fetchOne(
            db, sql: "SELECT project_id FROM api_key WHERE public_key = ? AND revoked_at IS NULL", arguments: [pk])
        {
            if owner == projectID { return nil }
        }
        let salt = SecretHasher.salt()
        try db.execute(
            sql: """
                INSERT INTO api_key (public_key, project_id, secret_salt, secret_hash, display_secret, note, created_at,
                    tenant, read_only)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(public_key) DO UPDATE SET project_id = excluded.project_id,
                    secret_salt = excluded.secret_salt, secret_hash = excluded.secret_hash,
                    display_secret = excluded.display_secret, note = excluded.note,
                    created_at = excluded.created_at, revoked_at = NULL, tenant = excluded.tenant,
                    read_only = excluded.read_only
                """,
            arguments: [
                pk, projectID, salt, SecretHasher.hash(secret: sk, salt: salt), SecretHasher.display(sk), note,
                Timestamp.now().microseconds, scope.tenant, scope.readOnly,
            ])
        return CreatedKey(publicKey: pk, secretKey: sk, projectID: projectID)
    }

    static func keyInfo(_ row: Row) -> APIKeyInfo {
        APIKeyInfo(
            publicKey: row["public_key"], projectID: row["project_id"], displaySecret: row["display_secret"],
            note: row["note"], scope: Self.scope(row), createdAt: Timestamp(microseconds: row["created_at"]),
            revokedAt: (row["revoked_at"] as Int64?).map(Timestamp.init(microseconds:)))
    }

    public func keys(projectID: String? = nil) throws -> [APIKeyInfo] {
        try writer.read { db in
            let rows: [Row]
            if let projectID {
                rows = try Row.fetchAll(
                    db, sql: "SELECT * FROM api_key WHERE project_id = ? ORDER BY created_at", arguments: [projectID])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM api_key ORDER BY project_id, created_at")
            }
            return rows.map(Self.keyInfo)
        }
    }

    /// Revokes a key at once: the next request with it gets 401.
    public func revokeKey(publicKey: String) throws {
        try writer.write { db in
            try db.execute(
                sql: "UPDATE api_key SET revoked_at = ? WHERE public_key = ? AND revoked_at IS NULL",
                arguments: [Timestamp.now().microseconds, publicKey])
            if db.changesCount == 0 { throw KeyError.keyNotFound(publicKey) }
        }
    }

    /// The project of a valid (public, secret) pair, or nil. The secret is compared in constant time.
    public func authenticate(publicKey: String, secretKey: String) async throws -> Project? {
        try await authenticatedKey(publicKey: publicKey, secretKey: secretKey)?.project
    }

    /// The project and reach of a valid (public, secret) pair, or nil. The secret is compared in constant time.
    public func authenticatedKey(publicKey: String, secretKey: String) async throws -> (
        project: Project, scope: KeyScope
    )? {
        try await writer.read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT k.secret_salt, k.secret_hash, k.tenant, k.read_only, p.* FROM api_key k
                    JOIN project p ON p.id = k.project_id WHERE k.public_key = ? AND k.revoked_at IS NULL
                    """, arguments: [publicKey])
            // An unknown public key is checked against a decoy, so both refusals do the same work and take the
            // same time: the answer's timing does not tell which public keys exist.
            let salt: String = row?["secret_salt"] ?? SecretHasher.decoy.salt
            let hash: String = row?["secret_hash"] ?? SecretHasher.decoy.hash
            let matches = SecretHasher.matches(secret: secretKey, salt: salt, hash: hash)
            guard let row, matches else { return nil }
            return (Self.project(row: row), Self.scope(row))
        }
    }

    /// A key row's reach (its `tenant` and `read_only` columns).
    static func scope(_ row: Row) -> KeyScope {
        KeyScope(tenant: row["tenant"], readOnly: row["read_only"] ?? false)
    }

    /// The project of a valid public key alone (Langfuse's Bearer access, scores only). Read-only and tenant keys
    /// have no such access: their public key alone is nothing.
    public func project(publicKey: String) async throws -> Project? {
        try await writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT p.* FROM api_key k JOIN project p ON p.id = k.project_id
                    WHERE k.public_key = ? AND k.revoked_at IS NULL AND k.read_only = 0 AND k.tenant IS NULL
                    """, arguments: [publicKey]
            ).map(Self.project(row:))
        }
    }
}
