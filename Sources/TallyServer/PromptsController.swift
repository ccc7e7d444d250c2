import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// Langfuse's prompt management, `/api/public/v2/prompts` (COMPAT §4.8): what the SDKs' `get_prompt`,
/// `create_prompt` and `update_prompt` call. A name may hold `/` (folders); in a path it is percent-encoded.
struct PromptsController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("v2/prompts", use: list)
        group.post("v2/prompts", use: create)
        // A name may arrive with its slashes encoded (`support%2Fanswer`, the 3.x and 5.x SDKs) or raw
        // (`support/answer`, the 2.x SDK), so the name is the rest of the path, as in Langfuse's catch-all route.
        group.get("v2/prompts/**", use: get)
        group.delete("v2/prompts/**", use: delete)
        group.patch("v2/prompts/**", use: addLabels)
    }

    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = PromptListQuery()
        q.page = try r.page()
        q.name = r.string("name")
        q.label = r.string("label")
        q.tag = r.string("tag")
        q.fromUpdatedAt = try r.timestamp("fromUpdatedAt")
        q.toUpdatedAt = try r.timestamp("toUpdatedAt")
        return DTO.list(try await database.prompts(projectID: project.id, query: q)) { p in
            [
                "name": .string(p.name), "type": .string(p.type.rawValue),
                "versions": .array(p.versions.map { .int(Int64($0)) }), "labels": .array(p.labels.map { .string($0) }),
                "tags": .array(p.tags.map { .string($0) }), "lastUpdatedAt": DTO.time(p.lastUpdatedAt),
                "lastConfig": p.lastConfig,
            ]
        }
    }

    @Sendable func create(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let body = try await bodyReader.json(request)
        let new = try PromptInput.create(body)
        // References must name existing text prompts when the version is created (as in Langfuse).
        for reference in try PromptComposer.references(new.prompt) {
            guard
                let target = try await database.prompt(projectID: project.id, name: reference.name, reference.selector)
            else { throw APIError.invalid("prompt: the referenced prompt \(reference.name.prefix(80)) does not exist") }
            guard case .string = target.prompt else {
                throw APIError.invalid(
                    "prompt: \(reference.name.prefix(80)) is a chat prompt; only text prompts can be referenced")
            }
        }
        let prompt = try await database.createPrompt(projectID: project.id, new)
        return JSONResponse.make(Self.dto(prompt), status: .created)
    }

    /// `version` or `label` (default `production`); both at once is a 400, as with Langfuse.
    @Sendable func get(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let name = try Self.name(context)
        let r = try QueryReader(request)
        let selector = try Self.selector(r) ?? .label(PromptInput.production)
        guard let prompt = try await database.prompt(projectID: project.id, name: name, selector) else {
            throw APIError.notFound("Prompt not found: \(name.prefix(200)) (\(Self.describe(selector)))")
        }
        // `resolve=false` answers the stored text with its reference tags.
        guard try r.bool("resolve") ?? true else { return JSONResponse.make(Self.dto(prompt)) }
        let (resolved, graph) = try await PromptComposer.resolve(prompt) { name, selector in
            try await database.prompt(projectID: project.id, name: name, selector)
        }
        var answer = prompt
        answer.prompt = resolved
        return JSONResponse.make(Self.dto(answer, resolutionGraph: graph))
    }

    /// Without `version` or `label` every version of the name goes. 204 when something was deleted.
    @Sendable func delete(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let name = try Self.name(context)
        let selector = try Self.selector(try QueryReader(request))
        guard try await database.deletePrompt(projectID: project.id, name: name, selector) > 0 else {
            throw APIError.notFound("Prompt not found: \(name.prefix(200))")
        }
        return Response(status: .noContent)
    }

    /// Body `{"newLabels": [...]}`: the labels join the version's own, leaving every other version.
    @Sendable func addLabels(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        // `<name>/versions/<version>`: the last two segments name the version.
        let segments = context.parameters.getCatchAll()
        guard segments.count >= 3, segments[segments.count - 2] == "versions" else {
            throw APIError.notFound("PATCH /api/public/v2/prompts/<name>/versions/<version> updates labels")
        }
        let name = try Self.name(segments.dropLast(2))
        guard let version = Int(segments[segments.count - 1]), version >= 1 else {
            throw APIError.invalid("version: a positive integer")
        }
        let body = try await bodyReader.json(request)
        guard let o = body.objectValue, let newLabels = o["newLabels"] else {
            throw APIError.invalid("expected {\"newLabels\": [labels]}")
        }
        let labels = try PromptInput.labels(newLabels, field: "newLabels")
        guard
            let prompt = try await database.addPromptLabels(
                projectID: project.id, name: name, version: version, labels: labels)
        else { throw APIError.notFound("Prompt not found: \(name.prefix(200)) version \(version)") }
        return JSONResponse.make(Self.dto(prompt))
    }

    /// The prompt name of the path: the segments after `/v2/prompts/`, percent-decoded, joined by `/`.
    static func name(_ context: TallyRequestContext) throws -> String {
        try name(context.parameters.getCatchAll()[...])
    }

    static func name(_ segments: ArraySlice<Substring>) throws -> String {
        let decoded = segments.map { $0.removingPercentEncoding }
        guard !decoded.isEmpty, !decoded.contains(nil) else {
            throw APIError.invalid("name: not a valid percent-encoded name")
        }
        let name = decoded.compactMap { $0 }.joined(separator: "/")
        try PromptInput.checkName(name)
        return name
    }

    static func selector(_ r: QueryReader) throws -> PromptSelector? {
        let version = try r.int("version", in: 1...Int(Int32.max))
        let label = r.string("label")
        switch (version, label) {
        case (let v?, nil): return .version(v)
        case (nil, let l?): return .label(l)
        case (nil, nil): return nil
        case (.some, .some): throw APIError.invalid("give version or label, not both")
        }
    }

    static func describe(_ selector: PromptSelector) -> String {
        switch selector {
        case .version(let v): "version \(v)"
        case .label(let l): "label \(l.prefix(40))"
        }
    }

    static func dto(_ p: Prompt, resolutionGraph: JSONValue? = nil) -> JSONValue {
        [
            "name": .string(p.name), "version": .int(Int64(p.version)), "type": .string(p.type.rawValue),
            "prompt": p.prompt, "config": p.config, "labels": .array(p.labels.map { .string($0) }),
            "tags": .array(p.tags.map { .string($0) }), "commitMessage": DTO.str(p.commitMessage),
            "resolutionGraph": resolutionGraph ?? .null, "createdAt": DTO.time(p.createdAt),
            "updatedAt": DTO.time(p.updatedAt),
        ]
    }
}
