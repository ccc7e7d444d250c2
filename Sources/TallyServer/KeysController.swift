import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// A project's API keys under `/api/tally/v1/keys` (project keys only: a read-only key cannot write, a tenant key
/// cannot reach these routes at all). `POST {"tenantId"?, "readOnly"?, "note"?}` creates a pair and answers the
/// secret once; `GET` lists the keys without secrets; `DELETE …/{publicKey}` revokes one of this project's keys.
struct KeysController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader

    func addRoutes(to tally: RouterGroup<TallyRequestContext>) {
        tally.get("keys", use: list)
        tally.post("keys", use: create)
        tally.delete("keys/:publicKey", use: revoke)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let keys = try await database.listKeys(projectID: project.id)
        return JSONResponse.make(["data": .array(keys.map(Self.json))])
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let body = try await bodyReader.json(request)
        let scope = try KeyScope.parse(body)
        let note = body.objectValue?["note"]?.stringValue.map { String($0.prefix(500)) }
        let key = try await database.createGeneratedKey(projectID: project.id, note: note, scope: scope)
        return JSONResponse.make(
            [
                "publicKey": .string(key.publicKey), "secretKey": .string(key.secretKey),
                "projectId": .string(project.id),
                "tenantId": scope.tenant.map(JSONValue.string) ?? .null, "readOnly": .bool(scope.readOnly),
                "note": note.map(JSONValue.string) ?? .null,
            ], status: .created)
    }

    @Sendable func revoke(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let publicKey = try context.pathID("publicKey")
        guard try await database.revokeKey(publicKey: publicKey, inProject: project.id) else {
            throw APIError.notFound("Key \(publicKey) not found in this project")
        }
        return JSONResponse.make(["message": "Key revoked"])
    }

    static func json(_ k: APIKeyInfo) -> JSONValue {
        [
            "publicKey": .string(k.publicKey), "displaySecretKey": .string(k.displaySecret),
            "note": k.note.map(JSONValue.string) ?? .null, "tenantId": k.scope.tenant.map(JSONValue.string) ?? .null,
            "readOnly": .bool(k.scope.readOnly), "createdAt": .string(k.createdAt.iso8601),
            "revokedAt": k.revokedAt.map { .string($0.iso8601) } ?? .null,
        ]
    }
}
