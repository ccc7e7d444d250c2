import Foundation

/// LangSmith's run ingestion (the `langsmith` SDK's `/runs/multipart`, `/runs/batch`, `/runs`, `PATCH /runs/{id}`)
/// mapped onto traces and observations. Pure: bodies in, `IngestionEvent`s out, for the one write path.
///
/// A run becomes the observation with the run's id, in the trace `trace_id` (else the first id of `dotted_order`,
/// else the trace of its parent, else its own id). `run_type` sets the type: llm → GENERATION, chain → CHAIN, tool →
/// TOOL, retriever → RETRIEVER, embedding → EMBEDDING, anything else SPAN. A root run (no parent) also names its
/// trace: name, input, output, tags, user (`metadata.user_id`), session (`metadata.session_id`, `thread_id` or
/// `conversation_id`), release (`metadata.revision_id`). Every run's metadata (tenant and feature included) and
/// tags reach the trace, so a trace whose root comes later is still attributed. An `error` makes the observation
/// level ERROR with the error's first line as status message. A `post` and its `patch` (or a merged post) are
/// upserts by run id, in any order; `null` means "not given".
public enum LangSmithRuns {
    public enum Op: String, Sendable { case post, patch }

    /// One run operation as the SDK sent it: the run object with its separate fields put back in.
    public struct Operation: Sendable {
        public var op: Op
        public var run: [String: JSONValue]
        public var id: String
    }

    /// Most operations one request may carry (the SDK sends at most 100 per batch).
    public static let maxOperations = 10_000

    // MARK: Bodies

    /// `{"post": [run…], "patch": [run…]}` of `/runs/batch`.
    public static func batch(_ json: JSONValue) throws(IngestionError) -> [Operation] {
        guard let o = json.objectValue else { throw .invalid("body: expected {\"post\": [runs], \"patch\": [runs]}") }
        var out: [Operation] = []
        for op in [Op.post, .patch] {
            guard let list = o[op.rawValue], !list.isNull else { continue }
            guard let runs = list.arrayValue else { throw .invalid("\(op.rawValue): expected an array of runs") }
            for (i, run) in runs.enumerated() {
                out.append(try operation(op, run, field: "\(op.rawValue)[\(i)]"))
            }
        }
        guard out.count <= maxOperations else { throw .invalid("\(out.count) runs; at most \(maxOperations)") }
        return out
    }

    /// One run object (`POST /runs`, `PATCH /runs/{id}` with `id` from the path when the body has none).
    public static func operation(_ op: Op, _ json: JSONValue, field: String = "body", id: String? = nil)
        throws(IngestionError) -> Operation
    {
        guard var run = json.objectValue else { throw .invalid("\(field): expected a run object") }
        if let id, run["id"]?.stringValue == nil { run["id"] = .string(id) }
        guard let runID = run["id"]?.stringValue else { throw .invalid("\(field).id: a run id is required") }
        if let problem = EntityID.problem(runID) { throw .invalid("\(field).id: \(problem)") }
        return Operation(op: op, run: run, id: runID)
    }

    /// Parts `<op>.<run_id>` (the run) and `<op>.<run_id>.<field>` (one field of it) of `/runs/multipart`, put
    /// together in order of first appearance. Feedback and attachment parts are skipped.
    public static func multipart(_ parts: [(name: String, body: Data)]) throws(IngestionError) -> [Operation] {
        var order: [String] = []
        var runs: [String: (op: Op, id: String, run: [String: JSONValue])] = [:]
        for part in parts {
            let pieces = part.name.split(separator: ".", maxSplits: 2).map(String.init)
            guard pieces.count >= 2, let op = Op(rawValue: pieces[0]) else { continue }
            let id = pieces[1]
            if let problem = EntityID.problem(id) { throw .invalid("part \(part.name.prefix(80)): \(problem)") }
            let value: JSONValue
            do {
                value = try JSONValue.parse(part.body)
            } catch {
                throw .invalid("part \(part.name.prefix(80)): not valid JSON")
            }
            let key = "\(op.rawValue).\(id)"
            if runs[key] == nil {
                order.append(key)
                runs[key] = (op, id, ["id": .string(id)])
            }
            if pieces.count == 3 {
                runs[key]!.run[pieces[2]] = value
            } else {
                guard let object = value.objectValue else {
                    throw .invalid("part \(part.name.prefix(80)): a run object")
                }
                runs[key]!.run.merge(object) { _, new in new }
                runs[key]!.run["id"] = .string(id)
            }
        }
        guard order.count <= maxOperations else { throw .invalid("\(order.count) runs; at most \(maxOperations)") }
        return order.compactMap { runs[$0] }.map { Operation(op: $0.op, run: $0.run, id: $0.id) }
    }

    // MARK: Runs → events

    /// The trace a run belongs to when the run says: `trace_id`, else the first id of `dotted_order`; nil when
    /// only its parent can tell (or it is a root: then its own id).
    public static func statedTraceID(_ run: [String: JSONValue]) -> String? {
        if let id = string(run["trace_id"]) { return id }
        if let dotted = string(run["dotted_order"]), let first = dotted.split(separator: ".").first,
            first.count > 22
        {
            // `YYYYMMDDTHHMMSSffffffZ` (22 characters) then the run id.
            return String(first.dropFirst(22))
        }
        return nil
    }

    public static func parentID(_ run: [String: JSONValue]) -> String? { string(run["parent_run_id"]) }

    /// The events of one operation. `traceID` is the run's trace (see `statedTraceID`; the caller resolves runs
    /// known only by their parent). Throws for a value out of range (usage, cost), naming it.
    public static func events(_ o: Operation, traceID: String, receivedAt: Timestamp) throws -> [IngestionEvent] {
        let run = o.run
        let extra = run["extra"]?.objectValue ?? [:]
        var metadata = extra["metadata"]?.objectValue ?? [:]
        let usageObject = (run["outputs"]?.objectValue?["usage_metadata"] ?? metadata["usage_metadata"])?.objectValue
        // The SDK copies its own settings into every run's metadata; they say nothing about the call.
        for key in metadata.keys where key.hasPrefix("LANGSMITH_") || key.hasPrefix("LANGCHAIN_") {
            metadata[key] = nil
        }
        metadata["usage_metadata"] = nil
        let start = time(run["start_time"])
        let end = time(run["end_time"])
        let eventTime = (o.op == .patch ? end : start) ?? end ?? start ?? receivedAt
        let parent = parentID(run)

        var obs = ObservationUpsert(
            id: o.id, type: type(string(run["run_type"])), isUpdate: run["run_type"] == nil || run["run_type"] == .null)
        obs.traceID = traceID
        obs.parentObservationID = parent
        obs.name = string(run["name"])
        obs.startTime = start
        obs.endTime = end
        obs.input = given(run["inputs"])
        obs.output = given(run["outputs"])
        if !metadata.isEmpty { obs.metadata = .object(metadata) }
        if let error = string(run["error"]) {
            obs.level = .error
            obs.statusMessage = String((error.split(separator: "\n").first.map(String.init) ?? error).prefix(2_000))
        }
        for event in run["events"]?.arrayValue ?? [] {
            if event.objectValue?["name"] == "new_token", let t = time(event.objectValue?["time"]) {
                obs.completionStartTime = min(obs.completionStartTime ?? t, t)
            }
        }
        // A PATCH /runs/{id} names no run type: what it carries is read as an llm's would be (a tool never has
        // usage of its own; its inherited `ls_model_name` is ignored because its type is known).
        if obs.type == .generation || obs.type == .embedding || obs.isUpdate {
            let invocation = extra["invocation_params"]?.objectValue ?? [:]
            obs.model =
                string(metadata["ls_model_name"]) ?? string(invocation["model"])
                ?? string(invocation["model_name"])
            let outputs = run["outputs"]?.objectValue ?? [:]
            obs.responseModel = string(outputs["model"]) ?? string(outputs["llm_output"]?.objectValue?["model_name"])
            if obs.responseModel == obs.model { obs.responseModel = nil }
            var parameters = metadata["ls_invocation_params"]?.objectValue ?? [:]
            if let t = metadata["ls_temperature"], !t.isNull { parameters["temperature"] = t }
            if let m = metadata["ls_max_tokens"], !m.isNull { parameters["max_tokens"] = m }
            if !parameters.isEmpty { obs.modelParameters = .object(parameters) }
            let tokenUsage = outputs["llm_output"]?.objectValue?["token_usage"]
            (obs.usage, obs.cost) = try usage(usageObject, openAI: tokenUsage)
        }
        var events = [
            IngestionEvent(eventID: "ls-\(o.op.rawValue)-\(o.id)", timestamp: eventTime, body: .observation(obs))
        ]

        var trace = TraceUpsert(id: traceID)
        trace.isPartial = parent != nil || traceID != o.id
        if !trace.isPartial {
            trace.name = obs.name
            trace.timestamp = start
            trace.input = obs.input
            trace.output = obs.output
        }
        if let tags = run["tags"]?.arrayValue?.compactMap(\.stringValue), !tags.isEmpty { trace.tags = tags }
        trace.userID = string(metadata["user_id"])
        trace.sessionID =
            string(metadata["session_id"]) ?? string(metadata["thread_id"])
            ?? string(metadata["conversation_id"])
        trace.release = string(metadata["revision_id"])
        let traceMetadata = metadata.filter { !$0.key.hasPrefix("ls_") && $0.key != "revision_id" }
        if !traceMetadata.isEmpty { trace.metadata = .object(traceMetadata) }
        let named =
            !trace.isPartial || trace.tags != nil || trace.metadata != nil || trace.userID != nil
            || trace.sessionID != nil
        if named {
            if trace.isPartial { trace.timestamp = start ?? end }
            events.insert(
                IngestionEvent(eventID: "ls-trace-\(o.op.rawValue)-\(o.id)", timestamp: eventTime, body: .trace(trace)),
                at: 0)
        }
        return events
    }

    static func type(_ runType: String?) -> ObservationType {
        switch runType {
        case "llm": .generation
        case "chain": .chain
        case "tool": .tool
        case "retriever": .retriever
        case "embedding": .embedding
        default: .span
        }
    }

    /// LangChain's `usage_metadata` (`input_tokens` counts cache reads, cache writes and audio; `output_tokens`
    /// counts reasoning and audio) as Langfuse keys with those parts taken out; else OpenAI's `token_usage`.
    /// Client costs (`input_cost`, `output_cost`, `total_cost`) are kept as given.
    static func usage(_ u: [String: JSONValue]?, openAI: JSONValue?) throws -> (UsageDetails?, CostDetails?) {
        guard let u else {
            guard let openAI, !openAI.isNull else { return (nil, nil) }
            let r = try UsageNormaliser.normalise(usage: nil, usageDetails: openAI, costDetails: nil)
            return (r.usage, r.cost)
        }
        func units(_ value: JSONValue?, _ path: String) throws -> Int64 {
            try UsageNormaliser.units(value, "usage_metadata.\(path)") ?? 0
        }
        let inDetails = u["input_token_details"]?.objectValue ?? [:]
        let outDetails = u["output_token_details"]?.objectValue ?? [:]
        let cacheRead = try units(inDetails["cache_read"], "input_token_details.cache_read")
        let cacheCreation = try units(inDetails["cache_creation"], "input_token_details.cache_creation")
        let inAudio = try units(inDetails["audio"], "input_token_details.audio")
        let reasoning = try units(outDetails["reasoning"], "output_token_details.reasoning")
        let outAudio = try units(outDetails["audio"], "output_token_details.audio")
        var out: UsageDetails = [:]
        if let input = try UsageNormaliser.units(u["input_tokens"], "usage_metadata.input_tokens") {
            out["input"] = max(0, input - cacheRead - cacheCreation - inAudio)
        }
        if let output = try UsageNormaliser.units(u["output_tokens"], "usage_metadata.output_tokens") {
            out["output"] = max(0, output - reasoning - outAudio)
        }
        if let total = try UsageNormaliser.units(u["total_tokens"], "usage_metadata.total_tokens") {
            out["total"] = total
        }
        for (key, value) in [
            ("input_cached_tokens", cacheRead), ("input_cache_creation", cacheCreation),
            ("input_audio_tokens", inAudio),
            ("output_reasoning_tokens", reasoning), ("output_audio_tokens", outAudio),
        ] where value > 0 {
            out[key] = value
        }
        var costs: [String: JSONValue] = [:]
        for (from, to) in [("input_cost", "input"), ("output_cost", "output"), ("total_cost", "total")] {
            if let v = u[from], !v.isNull { costs[to] = v }
        }
        let cost =
            costs.isEmpty
            ? nil : try UsageNormaliser.normalise(usage: nil, usageDetails: nil, costDetails: .object(costs)).cost
        return (out.isEmpty ? nil : out, cost)
    }

    static func string(_ v: JSONValue?) -> String? {
        guard case .string(let s)? = v, !s.isEmpty else { return nil }
        return s
    }

    static func time(_ v: JSONValue?) -> Timestamp? { string(v).flatMap(Timestamp.init(iso8601:)) }

    /// A value the run gives (null, and the `{}` a post carries before the run ends, are "not given").
    static func given(_ v: JSONValue?) -> JSONValue? {
        guard let v, !v.isNull else { return nil }
        if case .object(let o) = v, o.isEmpty { return nil }
        return v
    }
}

/// `multipart/form-data` bodies (RFC 7578) as LangSmith's SDK sends them: each part's name (from
/// `Content-Disposition`) and its bytes.
public enum MultipartForm {
    /// The boundary of a `multipart/form-data; boundary=…` content type.
    public static func boundary(contentType: String) -> String? {
        guard contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return value.isEmpty || value.count > 200 ? nil : value
            }
        }
        return nil
    }

    /// The parts of `body`; throws when the body is not a complete multipart body for `boundary`.
    public static func parts(_ body: Data, boundary: String) throws(IngestionError) -> [(name: String, body: Data)] {
        let delimiter = Data("--\(boundary)".utf8)
        let crlf = Data("\r\n".utf8)
        let headerEnd = Data("\r\n\r\n".utf8)
        guard let first = body.range(of: delimiter) else { throw .invalid("multipart body: no boundary line") }
        var out: [(String, Data)] = []
        var cursor = first.upperBound
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            if body[cursor...].starts(with: Data("--".utf8)) { return out }
            guard body[cursor...].starts(with: crlf) else { throw .invalid("multipart body: malformed boundary line") }
            let headersStart = cursor + 2
            guard let headersEnd = body.range(of: headerEnd, in: headersStart..<body.endIndex) else {
                throw .invalid("multipart body: a part without the blank line after its headers")
            }
            let headers = String(decoding: body[headersStart..<headersEnd.lowerBound], as: UTF8.self)
            guard let next = body.range(of: crlf + delimiter, in: headersEnd.upperBound..<body.endIndex) else {
                throw .invalid("multipart body: the last part is not closed by the boundary")
            }
            guard let name = partName(headers) else {
                throw .invalid("multipart body: a part without Content-Disposition: form-data; name=\"…\"")
            }
            out.append((name, body[headersEnd.upperBound..<next.lowerBound]))
            guard out.count <= LangSmithRuns.maxOperations * 8 else { throw .invalid("multipart body: too many parts") }
            cursor = next.upperBound
        }
    }

    static func partName(_ headers: String) -> String? {
        for line in headers.split(separator: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
            guard let range = line.range(of: "name=\"") else { return nil }
            let rest = line[range.upperBound...]
            guard let close = rest.firstIndex(of: "\"") else { return nil }
            return String(rest[..<close])
        }
        return nil
    }
}
