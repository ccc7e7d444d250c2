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
            "cacheSavings": o.savingsNanos.map { .double(Money.usd(nanos: $0)) } ?? .null,
        ]
    }

    /// A USD-per-unit price as a decimal string (`"0.00000015"`), exact to the pico-USD the price table holds.
    static func decimalPrice(_ usd: Double?) -> JSONValue {
        guard let usd, usd.isFinite, usd >= 0, usd < 1e6 else { return .null }
        return .string(Money.decimal(picos: Money.picos(usd: usd)))
    }

    /// Input or output as `GET /v2/observations` answers it: raw text (a string as it is, anything else as its
    /// JSON text), as Langfuse's v4 lists do.
    static func rawText(_ value: JSONValue?) -> JSONValue {
        switch value {
        case nil, .null?: .null
        case .string(let s)?: .string(s)
        case let v?: .string(v.serialized())
        }
    }

    /// Metadata as `GET /v2/observations` answers it: a value whose text exceeds 200 characters is cut to its
    /// first 200 (as a string) unless its key is in `expand`.
    static func listMetadata(_ metadata: [String: JSONValue], expand: Set<String>) -> JSONValue {
        .object(
            Dictionary(
                uniqueKeysWithValues: metadata.map { key, value in
                    guard !expand.contains(key) else { return (key, value) }
                    let text: String
                    if case .string(let s) = value { text = s } else { text = value.serialized() }
                    guard text.count > 200 else { return (key, value) }
                    return (key, .string(String(text.prefix(200))))
                }))
    }

    /// One item of `GET /v2/observations` with the field groups asked for (COMPAT §4.3). The values are those of
    /// the v1 item; `modelId` and the prices (decimal strings) are always present, null unless `model` is asked.
    static func observationV2(
        _ ow: ObservationWithTrace, projectID: String, groups: Set<CursorListController.FieldGroup>,
        expandMetadata: Set<String>
    ) -> JSONValue {
        let o = ow.observation
        guard case .object(let full) = observation(o, projectID: projectID) else { return .null }
        var out: [String: JSONValue] = [
            "modelId": .null, "inputPrice": .null, "outputPrice": .null, "totalPrice": .null,
        ]
        func copy(_ keys: String...) { for k in keys { out[k] = full[k] ?? .null } }
        for group in groups {
            switch group {
            case .core: copy("id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type")
            case .basic:
                copy("name", "level", "statusMessage", "version", "environment", "tenant", "feature")
                out["bookmarked"] = .bool(ow.bookmarked)
                out["public"] = .bool(ow.isPublic)
                out["userId"] = str(ow.userID)
                out["sessionId"] = str(ow.sessionID)
                out["isRootObservation"] = .bool(o.parentObservationID == nil)
            case .time: copy("completionStartTime", "createdAt", "updatedAt")
            case .io:
                out["input"] = rawText(o.input)
                out["output"] = rawText(o.output)
            case .metadata: out["metadata"] = listMetadata(o.metadata, expand: expandMetadata)
            case .model:
                copy("model", "responseModel", "modelParameters", "modelId")
                out["providedModelName"] = str(o.model)
                out["internalModelId"] = str(o.pricedModelID)
                out["inputPrice"] = decimalPrice(o.unitPrices["input"])
                out["outputPrice"] = decimalPrice(o.unitPrices["output"])
                out["totalPrice"] = decimalPrice(o.unitPrices["total"])
            case .usage:
                copy("usageDetails", "costDetails", "usagePricingTierName", "costSource")
                out["totalCost"] = full["calculatedTotalCost"] ?? .null
            case .prompt: copy("promptId", "promptName", "promptVersion")
            case .metrics: copy("latency", "timeToFirstToken")
            case .traceContext:
                out["traceName"] = str(ow.traceName)
                out["tags"] = .array(ow.tags.map { .string($0) })
                out["release"] = str(ow.release)
            }
        }
        return .object(out)
    }

    /// One item of `GET /v3/scores`: `value` typed by data type, and the subject it scores.
    static func scoreV3(_ s: Score, projectID: String) -> JSONValue {
        let value: JSONValue
        switch s.dataType {
        case .numeric: value = .double(s.value ?? 0)
        case .boolean: value = .bool((s.value ?? 0) != 0)
        case .categorical, .text, .correction: value = .string(s.stringValue ?? s.value.map { String($0) } ?? "")
        }
        let subject: JSONValue
        if let id = s.observationID {
            subject = ["kind": "observation", "id": .string(id), "traceId": str(s.traceID)]
        } else if let id = s.traceID {
            subject = ["kind": "trace", "id": .string(id)]
        } else if let id = s.sessionID {
            subject = ["kind": "session", "id": .string(id)]
        } else if let id = s.datasetRunID {
            subject = ["kind": "experiment", "id": .string(id)]
        } else {
            subject = .null
        }
        return [
            "id": .string(s.id), "projectId": .string(projectID), "name": .string(s.name),
            "source": .string(s.source.rawValue), "timestamp": time(s.timestamp),
            "environment": .string(s.environment), "createdAt": time(s.createdAt ?? s.timestamp),
            "updatedAt": time(s.updatedAt ?? s.timestamp), "comment": str(s.comment), "configId": str(s.configID),
            "metadata": s.metadata ?? .object([:]), "authorUserId": .null, "queueId": str(s.queueID),
            "dataType": .string(s.dataType.rawValue), "value": value, "subject": subject,
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
