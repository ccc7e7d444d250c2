import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// `GET/PUT /api/tally/v1/settings/retention`: how many days of traces the project keeps. `{"days": N}` with
/// N ≥ 1 keeps N days, 0 keeps everything, null follows the server's `--retention-days`.
struct RetentionController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader
    let defaultDays: Int?

    struct Body: Decodable {
        var days: Int?
    }

    func addRoutes(to tally: RouterGroup<TallyRequestContext>) {
        tally.get("settings/retention", use: get)
        tally.put("settings/retention", use: put)
    }

    @Sendable func get(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        return response(own: try await database.retentionDays(projectID: project.id))
    }

    @Sendable func put(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: try await bodyReader.read(request))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.invalid("expected {\"days\": a whole number of days (0 keeps everything) or null}")
        }
        if let days = body.days, !(0...36_500).contains(days) {
            throw APIError.invalid("days: expected 0…36500 (0 keeps everything) or null")
        }
        try await database.setRetentionDays(projectID: project.id, body.days)
        return response(own: body.days)
    }

    func response(own: Int?) -> Response {
        let effective = own ?? defaultDays ?? 0
        return JSONResponse.make([
            "days": own.map { .int(Int64($0)) } ?? .null,
            "defaultDays": defaultDays.map { .int(Int64($0)) } ?? .null,
            "effectiveDays": .int(Int64(effective)), "keepsEverything": .bool(effective == 0),
        ])
    }
}
