import Hummingbird
import TallyCore

/// Wire shapes of the Langfuse public read API (COMPAT §4), built as JSON values. Times are ISO-8601 with
/// milliseconds, latencies in seconds, costs in USD.
enum DTO {
    static func time(_ t: Timestamp?) -> JSONValue { t.map { .string($0.iso8601) } ?? .null }
    static func str(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
    static func num(_ d: Double?) -> JSONValue { d.map { .double($0) } ?? .null }
    static func int(_ i: Int?) -> JSONValue { i.map { .int(Int64($0)) } ?? .null }

    static func meta<T>(_ page: Paged<T>) -> JSONValue {
        [
            "page": .int(Int64(page.page.page)), "limit": .int(Int64(page.page.limit)),
            "totalItems": .int(Int64(page.totalItems)), "totalPages": .int(Int64(page.totalPages)),
        ]
    }

    /// `{"data": [...], "meta": {page, limit, totalItems, totalPages}}`.
    static func list<T>(_ page: Paged<T>, _ item: (T) -> JSONValue) -> Response {
        JSONResponse.make(["data": .array(page.items.map(item)), "meta": meta(page)])
    }

    static func project(_ p: Project) -> JSONValue {
        [
            "id": .string(p.id), "name": .string(p.name), "metadata": [:],
            "organization": ["id": .string(p.organizationID), "name": .string(p.organizationName)],
        ]
    }

    static func trace(_ s: TraceSummary, projectID: String) -> JSONValue {
        let t = s.trace
        return [
            "id": .string(t.id), "externalId": str(t.externalID), "timestamp": time(t.timestamp), "name": str(t.name),
            "input": t.input ?? .null, "output": t.output ?? .null, "sessionId": str(t.sessionID),
            "release": str(t.release), "version": str(t.version), "userId": str(t.userID),
            "metadata": .object(t.metadata), "tags": .array(t.tags.map { .string($0) }), "public": .bool(t.isPublic),
            "bookmarked": .bool(t.bookmarked), "environment": .string(t.environment), "projectId": .string(projectID),
            "createdAt": time(t.createdAt ?? t.timestamp), "updatedAt": time(t.updatedAt ?? t.timestamp),
            "htmlPath": .string("/project/\(projectID)/traces/\(t.id)"), "latency": .double(s.latency),
            "totalCost": .double(s.totalCost), "observations": .array(s.observationIDs.map { .string($0) }),
            "scores": .array(s.scoreIDs.map { .string($0) }), "tenant": str(t.tenant), "feature": str(t.feature),
        ]
    }

    /// Model parameters as Langfuse answers them: an object whose values are scalars, a nested object or array
    /// as its JSON text (`{"stream_options": "{\"include_usage\":true}"}`); the SDKs' typed clients refuse
    /// anything else (langfuse 2.x: `Dict[str, str | int | bool | List[str]]`). Stored as the client sent it.
    static func modelParameters(_ value: JSONValue?) -> JSONValue {
        guard case .object(let parameters)? = value else { return value ?? .object([:]) }
        return .object(
            parameters.mapValues { v in
                switch v {
                case .object, .array: .string(v.serialized())
                default: v
                }
            })
    }

    static func observation(_ o: Observation, projectID: String) -> JSONValue {
        let totals = o.totals
        let usage = o.usage
        return [
            "id": .string(o.id), "traceId": .string(o.traceID), "type": .string(o.type.rawValue), "name": str(o.name),
            "startTime": time(o.startTime), "endTime": time(o.endTime),
            "completionStartTime": time(o.completionStartTime), "model": str(o.model),
            "responseModel": str(o.responseModel),
            "modelParameters": modelParameters(o.modelParameters), "input": o.input ?? .null,
            "output": o.output ?? .null, "metadata": .object(o.metadata), "version": str(o.version),
            "level": .string(o.level.rawValue), "statusMessage": str(o.statusMessage),
            "parentObservationId": str(o.parentObservationID), "environment": .string(o.environment),
            "promptId": .null, "promptName": str(o.promptName), "promptVersion": int(o.promptVersion),
            "usageDetails": .object(usage.mapValues { .int($0) }),
            "costDetails": .object(o.cost.mapValues { .double($0) }),
            "usage": [
                "unit": "TOKENS", "input": .int(usage["input"] ?? 0), "output": .int(usage["output"] ?? 0),
                "total": .int(usage["total"] ?? 0),
            ],
            "unit": "TOKENS", "promptTokens": .int(totals.inputTokens), "completionTokens": .int(totals.outputTokens),
            "totalTokens": .int(totals.totalTokens), "usagePricingTierName": str(o.pricingTier),
            "usagePricingTierId": str(o.pricingTier), "modelId": str(o.pricedModelID),
            "inputPrice": num(o.unitPrices["input"]), "outputPrice": num(o.unitPrices["output"]),
            "totalPrice": num(o.unitPrices["total"]), "costSource": str(o.costSource),
            "unitPrices": .object(o.unitPrices.mapValues { .double($0) }),
            "calculatedInputCost": num(totals.inputCost), "calculatedOutputCost": num(totals.outputCost),
            "calculatedTotalCost": num(totals.totalCost),
            "latency": o.endTime.map { .double(o.startTime.seconds(until: $0)) } ?? .null,
            "timeToFirstToken": o.completionStartTime.map { .double(o.startTime.seconds(until: $0)) } ?? .null,
            "projectId": .string(projectID), "createdAt": time(o.createdAt ?? o.startTime),
            "updatedAt": time(o.updatedAt ?? o.startTime), "tenant": str(o.tenant), "feature": str(o.feature),
        ]
    }

    static func score(_ s: Score, projectID: String) -> JSONValue {
        var out: [String: JSONValue] = [
            "id": .string(s.id), "projectId": .string(projectID), "traceId": str(s.traceID),
            "sessionId": str(s.sessionID), "observationId": str(s.observationID), "datasetRunId": str(s.datasetRunID),
            "name": .string(s.name), "source": .string(s.source.rawValue), "timestamp": time(s.timestamp),
            "createdAt": time(s.createdAt ?? s.timestamp), "updatedAt": time(s.updatedAt ?? s.timestamp),
            "authorUserId": .null, "comment": str(s.comment), "metadata": s.metadata ?? .object([:]),
            "configId": str(s.configID), "queueId": str(s.queueID), "environment": .string(s.environment),
            "dataType": .string(s.dataType.rawValue), "value": .double(s.value ?? 0),
        ]
        if let string = s.stringValue { out["stringValue"] = .string(string) }
        return .object(out)
    }

    static func score(_ s: ScoreWithTrace, projectID: String) -> JSONValue {
        guard case .object(var out) = score(s.score, projectID: projectID) else { return .null }
        if let tags = s.traceTags {
            out["trace"] = [
                "userId": str(s.traceUserID), "tags": .array(tags.map { .string($0) }),
                "environment": str(s.traceEnvironment), "sessionId": str(s.traceSessionID),
            ]
        } else {
            out["trace"] = .null
        }
        return .object(out)
    }

    static func session(_ s: Session, projectID: String) -> JSONValue {
        [
            "id": .string(s.id), "createdAt": time(s.createdAt), "projectId": .string(projectID),
            "environment": .string(s.environment),
        ]
    }
}
