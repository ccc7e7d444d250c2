import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// `/api/public/models` (COMPAT §4.7) and Tally's pricing settings and re-pricing under `/api/tally/v1`.
struct ModelsController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader

    func addRoutes(public group: RouterGroup<TallyRequestContext>, tally: RouterGroup<TallyRequestContext>) {
        group.get("models", use: list)
        group.get("models/:id", use: get)
        group.post("models", use: create)
        group.put("models/:id", use: upsert)
        group.delete("models/:id", use: delete)
        tally.get("settings/pricing", use: getSettings)
        tally.put("settings/pricing", use: putSettings)
        tally.post("costs/recompute", use: recompute)
    }

    /// Project models first, then the built-in list (`isLangfuseManaged: true`).
    func all(projectID: String) async throws -> [ModelPrice] {
        try await database.models(projectID: projectID) + BuiltinPrices.models
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let page = try QueryReader(request).page()
        let models = try await all(projectID: project.id)
        let items = Array(models.dropFirst(page.offset).prefix(page.limit))
        let shape = TierShape(request)
        return DTO.list(Paged(items: items, totalItems: models.count, page: page)) { Self.dto($0, shape) }
    }

    @Sendable func get(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("id")
        guard let model = try await all(projectID: project.id).first(where: { $0.id == id }) else {
            throw APIError.notFound("Model not found")
        }
        return JSONResponse.make(Self.dto(model, TierShape(request)))
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await save(request, context: context, id: nil)
    }

    /// `PUT /models/{id}`: creates or replaces the project model with that id (the langfuse 5.x SDK's `upsert`).
    /// A built-in model's id is refused: built-in prices are overridden by a project model of another id.
    @Sendable func upsert(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let id = try context.pathID("id")
        if BuiltinPrices.models.contains(where: { $0.id == id }) {
            throw APIError.invalid(
                "\(id) is a built-in model and cannot be modified; create a project model with another id that "
                    + "matches the same names to override its prices")
        }
        return try await save(request, context: context, id: id)
    }

    /// Stores the model of the request's body; `id` (from the path) wins over the body's.
    func save(_ request: Request, context: TallyRequestContext, id: String?) async throws -> Response {
        let project = try context.requireProject()
        let body = try await bodyReader.read(request)
        guard case .object(var o)? = try? JSONValue.parse(body) else {
            throw APIError.invalid("expected a JSON object")
        }
        if let id { o["id"] = .string(id) }
        let model: ModelPrice
        do {
            model = try ModelPrice(json: try Self.definition(from: o), projectID: project.id)
        } catch let e as PriceTableError {
            throw APIError.invalid(e.description)
        }
        return JSONResponse.make(
            Self.dto(try await database.saveModel(projectID: project.id, model), TierShape(request)))
    }

    @Sendable func delete(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("id")
        if try await database.deleteModel(projectID: project.id, id: id) {
            return JSONResponse.make(["message": "Model successfully deleted"])
        }
        if BuiltinPrices.models.contains(where: { $0.id == id }) {
            throw APIError.invalid(
                "built-in models cannot be deleted; create a project model matching the same names to override it, "
                    + "or switch built-in prices off with PUT /api/tally/v1/settings/pricing")
        }
        throw APIError.notFound("Model not found")
    }

    /// Accepts Langfuse's body (`modelName`, `matchPattern`, `startDate`, `unit`, flat `inputPrice`/`outputPrice`/
    /// `totalPrice` or `pricingTiers[]`) as well as Tally's own shape (`prices`, `tiers`).
    static func definition(from o: [String: JSONValue]) throws -> JSONValue {
        guard let name = o["modelName"]?.stringValue, !name.isEmpty else {
            throw APIError.invalid("modelName is required")
        }
        var out: [String: JSONValue] = [
            "id": o["id"] ?? .string(UUID().uuidString.lowercased()), "modelName": .string(name),
            "matchPattern": o["matchPattern"] ?? .null, "unit": o["unit"] ?? "TOKENS",
            "startDate": o["startDate"] ?? .null,
        ]
        if let prices = o["prices"] {
            out["prices"] = prices
            out["tiers"] = o["tiers"] ?? .array([])
            return .object(out)
        }
        if let tiers = o["pricingTiers"]?.arrayValue, !tiers.isEmpty {
            let defaults = tiers.filter { $0.objectValue?["isDefault"] == .bool(true) }
            guard defaults.count == 1 else {
                throw APIError.invalid("pricingTiers: exactly one tier must have isDefault: true")
            }
            out["prices"] = defaults[0].objectValue?["prices"] ?? .null
            out["tiers"] = .array(tiers.filter { $0.objectValue?["isDefault"] != .bool(true) })
            return .object(out)
        }
        var prices: [String: JSONValue] = [:]
        for (field, key) in [("inputPrice", "input"), ("outputPrice", "output"), ("totalPrice", "total")] {
            if let v = o[field], !v.isNull { prices[key] = v }
        }
        guard !prices.isEmpty else {
            throw APIError.invalid("give inputPrice/outputPrice, totalPrice, or pricingTiers")
        }
        guard prices["total"] == nil || (prices["input"] == nil && prices["output"] == nil) else {
            throw APIError.invalid("totalPrice cannot be combined with inputPrice or outputPrice")
        }
        out["prices"] = .object(prices)
        return .object(out)
    }

    /// How pricing tiers are answered. Langfuse's current Model schema (langfuse 4.x and 5.x SDKs) has two condition
    /// shapes: usage `{usageDetailPattern, operator, value, caseSensitive}` and attribute `{source, key, operator:
    /// "in", values}` (the `service_tier` tiers). The 2.x and 3.x SDKs' schema knows the usage shape only and
    /// refuses a whole page that holds another, so for a client that names itself one of them
    /// (`X-Langfuse-Sdk-Version` below 4) tiers with an attribute condition move from `pricingTiers` to
    /// `attributePricingTiers` (same shape), which those clients ignore. Every other client gets Langfuse's shape.
    struct TierShape {
        let attributeConditions: Bool

        init(_ request: Request) {
            let version = request.headers[.langfuseSDKVersion] ?? ""
            let major = Int(version.prefix { $0.isNumber })
            attributeConditions = major.map { $0 >= 4 } ?? true
        }
    }

    /// Langfuse's Model shape plus Tally's `prices` per key.
    static func dto(_ m: ModelPrice, _ shape: TierShape) -> JSONValue {
        func usd(_ key: PriceKey) -> JSONValue { m.prices[key].map { .double(Money.usd(picos: $0)) } ?? .null }
        let prices = JSONValue.object(
            Dictionary(
                uniqueKeysWithValues: m.prices.map { ($0.key.rawValue, ["price": .double(Money.usd(picos: $0.value))]) }
            ))
        var tiers: [JSONValue] = [
            [
                "id": .string("\(m.id)-default"), "name": "Standard", "isDefault": true, "priority": 0,
                "conditions": [],
                "prices": m.json.objectValue?["prices"] ?? [:],
            ]
        ]
        var attributeTiers: [JSONValue] = []
        for tier in m.tiers {
            let usageOnly = tier.conditions.allSatisfy { if case .usage = $0 { true } else { false } }
            let answer: JSONValue = [
                "id": .string("\(m.id)-\(tier.priority)"), "name": .string(tier.name), "isDefault": false,
                "priority": .int(Int64(tier.priority)), "conditions": .array(tier.conditions.map(\.json)),
                "prices": .object(
                    Dictionary(
                        uniqueKeysWithValues: tier.prices.map { ($0.key.rawValue, .double(Money.usd(picos: $0.value))) }
                    )),
            ]
            if usageOnly || shape.attributeConditions {
                tiers.append(answer)
            } else {
                attributeTiers.append(answer)
            }
        }
        var out: [String: JSONValue] = [
            "id": .string(m.id), "modelName": .string(m.modelName), "matchPattern": .string(m.matchPattern),
            "startDate": m.startDate.map { .string($0.iso8601) } ?? .null, "unit": .string(m.unit),
            "inputPrice": usd(.input), "outputPrice": usd(.output), "totalPrice": usd(.total), "tokenizerId": .null,
            "tokenizerConfig": .null, "isLangfuseManaged": .bool(m.isBuiltin),
            "createdAt": .string((m.createdAt ?? Timestamp(microseconds: 0)).iso8601), "prices": prices,
            "pricingTiers": .array(tiers), "source": m.source.map { .string($0) } ?? .null,
        ]
        if !attributeTiers.isEmpty { out["attributePricingTiers"] = .array(attributeTiers) }
        return .object(out)
    }

    @Sendable func getSettings(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let s = try await database.pricingSettings(projectID: project.id)
        return JSONResponse.make(["builtinPrices": .bool(s.builtinPrices), "priceBy": .string(s.priceBy.rawValue)])
    }

    /// Body `{builtinPrices?: bool, priceBy?: "requested"|"response"}`; unspecified fields keep their value.
    @Sendable func putSettings(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        guard case .object(let o)? = try? JSONValue.parse(try await bodyReader.read(request)) else {
            throw APIError.invalid("expected a JSON object")
        }
        var s = try await database.pricingSettings(projectID: project.id)
        if let v = o["builtinPrices"] {
            guard case .bool(let b) = v else { throw APIError.invalid("builtinPrices must be a boolean") }
            s.builtinPrices = b
        }
        if let v = o["priceBy"] {
            guard let p = v.stringValue.flatMap(PriceBy.init(rawValue:)) else {
                throw APIError.invalid("priceBy must be \"requested\" or \"response\"")
            }
            s.priceBy = p
        }
        try await database.setPricingSettings(projectID: project.id, s)
        return JSONResponse.make(["builtinPrices": .bool(s.builtinPrices), "priceBy": .string(s.priceBy.rawValue)])
    }

    /// Body `{fromTimestamp?, toTimestamp?}` (ISO-8601): re-prices stored observations without a client cost.
    @Sendable func recompute(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let body = try await bodyReader.read(request)
        let o = body.isEmpty ? [:] : (try? JSONValue.parse(body))?.objectValue
        guard let o else { throw APIError.invalid("expected a JSON object") }
        func time(_ key: String) throws -> Timestamp? {
            guard let v = o[key], !v.isNull else { return nil }
            guard let s = v.stringValue, let t = Timestamp(iso8601: s) else {
                throw APIError.invalid("\(key): expected ISO-8601")
            }
            return t
        }
        let updated = try await database.recomputeCosts(
            projectID: project.id, from: try time("fromTimestamp"), to: try time("toTimestamp"))
        return JSONResponse.make(["updated": .int(Int64(updated))])
    }
}
