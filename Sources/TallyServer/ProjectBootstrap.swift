import Foundation
import TallyCore
import TallyStoreAPI

/// Headless bootstrap as Langfuse does it (COMPAT §1.5), without the organisation requirement:
/// `LANGFUSE_INIT_PROJECT_ID` (+ `_NAME`) upserts a project; `LANGFUSE_INIT_PROJECT_PUBLIC_KEY` +
/// `_SECRET_KEY` create that exact key pair (an existing pair on the project is left alone, secret not rotated).
/// With nothing configured and an empty database, a `default` project with a generated key pair is created.
public enum ProjectBootstrap {
    public struct Outcome: Sendable {
        /// The project the startup banner names.
        public var project: Project
        /// A key pair created now (its secret can be shown once), if any.
        public var createdKey: CreatedKey?
        /// The project's public keys (secrets are never recoverable).
        public var publicKeys: [String]
    }

    public enum BootstrapError: Error, CustomStringConvertible {
        case incompleteKeys
        public var description: String {
            "LANGFUSE_INIT_PROJECT_PUBLIC_KEY and LANGFUSE_INIT_PROJECT_SECRET_KEY must be set together, with LANGFUSE_INIT_PROJECT_ID"
        }
    }

    /// Works on any store (`ProjectStore`): a PostgreSQL store bootstraps alike, and collectors starting together
    /// end with one project and one provisioned key (the store's upserts decide).
    public static func run(database: any ProjectStore, environment: [String: String]) async throws -> Outcome {
        let env = environment.filter { !$0.value.isEmpty }
        let project: Project
        var created: CreatedKey?
        if let id = env["LANGFUSE_INIT_PROJECT_ID"] {
            project = try await database.ensureProject(
                id: id, name: env["LANGFUSE_INIT_PROJECT_NAME"] ?? "Provisioned Project")
            let pk = env["LANGFUSE_INIT_PROJECT_PUBLIC_KEY"]
            let sk = env["LANGFUSE_INIT_PROJECT_SECRET_KEY"]
            guard (pk == nil) == (sk == nil) else { throw BootstrapError.incompleteKeys }
            if let pk, let sk {
                created = try await database.createKey(
                    projectID: id, publicKey: pk, secretKey: sk, note: "Provisioned API Key", scope: .full)
            }
        } else if env["LANGFUSE_INIT_PROJECT_PUBLIC_KEY"] != nil || env["LANGFUSE_INIT_PROJECT_SECRET_KEY"] != nil {
            throw BootstrapError.incompleteKeys
        } else if let first = try await database.projects().first {
            project = first
        } else {
            project = try await database.ensureProject(id: "default", name: "Default Project")
            created = try await database.createKey(
                projectID: project.id, publicKey: nil, secretKey: nil, note: "created at first start", scope: .full)
        }
        if created == nil, try await database.listKeys(projectID: project.id).allSatisfy({ $0.revokedAt != nil }) {
            created = try await database.createKey(
                projectID: project.id, publicKey: nil, secretKey: nil,
                note: "created because the project had no valid key", scope: .full)
        }
        let keys = try await database.listKeys(projectID: project.id).filter { $0.revokedAt == nil }.map(\.publicKey)
        return Outcome(project: project, createdKey: created, publicKeys: keys)
    }
}
