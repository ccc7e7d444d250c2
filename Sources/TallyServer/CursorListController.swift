import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// Langfuse's cursor-paged lists (COMPAT §4.3, §4.5): `GET /api/public/v2/observations` (the v4+ SDKs' only way to
/// read observations) and `GET /api/public/v3/scores`. Newest first; `meta.cursor` is present while more items
/// follow and is passed back as `cursor`. A page costs what the first one does (keyset, no count).
struct CursorListController: Sendable {
    let database: any TallyStorage

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("v2/observations", use: observations)
        group.get("v3/scores", use: scores)
    }

    /// Field groups of `GET /v2/observations`; `core` and `basic` when `fields` is absent.
    enum FieldGroup: String, CaseIterable {
        case core, basic, time, io, metadata, model, usage, prompt, metrics
        case traceContext = "trace_context"
    }

    @Sendable func observations(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        let groups = try Self.groups(r)
        if try r.bool("parseIoAsJson") == true {
            throw APIError.invalid("parseIoAsJson is not supported: input and output are answered as raw JSON text")
        }
        var q = ObservationQuery()
        q.name = r.string("name")
        q.userID = r.string("userId")
        q.sessionID = r.string("sessionId")
        q.type = try r.enumValue("type", ObservationType.self)
        q.traceID = r.string("traceId")
        q.level = try r.enumValue("level", ObservationLevel.self)
        // Present but empty means "no parent", so it is read raw rather than through `string`.
        q.parentObservationID = r.parameters.get("parentObservationId")
        q.isRoot = try r.bool("isRootObservation")
        q.environments = try r.list("environment")
        q.fromStartTime = try r.timestamp("fromStartTime")
        q.toStartTime = try r.timestamp("toStartTime")
        q.version = r.string("version")
        q.filters = try Self.filters(r)
        let limit = try r.int("limit", in: 0...1_000) ?? 50
        let cursor = try Self.cursor(r)
        let expand = Set(try r.list("expandMetadata"))
        let rows =
            limit == 0
            ? []
            : try await database.observationsAfter(projectID: project.id, query: q, cursor: cursor, limit: limit + 1)
        let page = rows.prefix(limit)
        let next = rows.count > limit ? page.last.map(\.observation).map(Self.cursor(after:)) : nil
        return JSONResponse.make([
            "data": .array(
                page.map { DTO.observationV2($0, projectID: project.id, groups: groups, expandMetadata: expand) }),
            "meta": .object(next.map { ["cursor": .string($0.token)] } ?? [:]),
        ])
    }

    @Sendable func scores(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        let limit = try r.int("limit", in: 1...PageRequest.maxLimit) ?? 50
        var q = ScoreQuery()
        q.scoreIDs = try r.list("id")
        q.names = try r.list("name")
        q.sources = try r.enumList("source", ScoreSource.self)
        q.dataTypes = try r.enumList("dataType", ScoreDataType.self)
        q.environments = try r.list("environment")
        q.configIDs = try r.list("configId")
        q.queueIDs = try r.list("queueId")
        q.authorUserIDs = try r.list("authorUserId")
        q.traceIDs = try r.list("traceId")
        q.sessionIDs = try r.list("sessionId")
        q.observationIDs = try r.list("observationId")
        q.datasetRunIDs = try r.list("experimentId")
        q.valueText = r.string("value")
        q.valueMin = try r.double("valueMin")
        q.valueMax = try r.double("valueMax")
        q.from = try r.timestamp("fromTimestamp")
        q.to = try r.timestamp("toTimestamp")
        let rows = try await database.scoresAfter(
            projectID: project.id, query: q, cursor: try Self.cursor(r), limit: limit + 1)
        let page = rows.prefix(limit)
        var meta: [String: JSONValue] = ["limit": .int(Int64(limit))]
        if rows.count > limit, let last = page.last {
            meta["cursor"] = .string(ListCursor(key: .int(last.timestamp.microseconds), id: last.id).token)
        }
        return JSONResponse.make([
            "data": .array(page.map { DTO.scoreV3($0, projectID: project.id) }), "meta": .object(meta),
        ])
    }

    static func groups(_ r: QueryReader) throws -> Set<FieldGroup> {
        let names = try r.list("fields")
        guard !names.isEmpty else { return [.core, .basic] }
        return Set(
            try names.map { name in
                guard let group = FieldGroup(rawValue: name) else {
                    throw APIError.invalid(
                        "fields: \"\(name.prefix(40))\" is not a field group; use "
                            + FieldGroup.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return group
            } + [.core])
    }

    static func cursor(after o: Observation) -> ListCursor {
        ListCursor(key: .int(o.startTime.microseconds), id: o.id)
    }

    static func cursor(_ r: QueryReader) throws -> ListCursor? {
        guard let token = r.string("cursor") else { return nil }
        guard let cursor = ListCursor(token: token), case .int = cursor.key else {
            throw APIError.invalid("cursor: not a cursor this list returned (meta.cursor)")
        }
        return cursor
    }

    /// `filter`: a JSON array of `{column, operator, value, type, key?}` conditions, as the metrics query's.
    static func filters(_ r: QueryReader) throws -> [MetricsQuery.Filter] {
        guard let text = r.string("filter") else { return [] }
        guard let json = try? JSONValue.parse(Data(text.utf8)) else {
            throw APIError.invalid("filter: expected a JSON array of {column, operator, value, type} conditions")
        }
        do {
            return try MetricsQuery.Filter.list(json, field: "filter")
        } catch {
            throw APIError.invalid(error.description)
        }
    }
}
