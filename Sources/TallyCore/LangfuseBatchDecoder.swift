import Foundation

/// Limits applied while decoding ingestion requests.
public struct IngestionLimits: Sendable, Hashable {
    /// Events accepted in one batch; a larger batch is refused whole (400).
    public var maxEventsPerBatch: Int
    /// Bytes of serialised JSON kept per large field (input, output, metadata, model parameters); longer values
    /// are cut to this size and stored as a string ending in a truncation note.
    public var maxFieldBytes: Int

    public init(maxEventsPerBatch: Int = 5_000, maxFieldBytes: Int = 1_048_576) {
        self.maxEventsPerBatch = maxEventsPerBatch
        self.maxFieldBytes = maxFieldBytes
    }
}

/// The outcome of decoding one request: the events that passed validation and one error per event that did not.
public struct DecodedBatch: Sendable {
    public var events: [IngestionEvent]
    public var errors: [(eventID: String, error: IngestionError)]

    public init(events: [IngestionEvent] = [], errors: [(eventID: String, error: IngestionError)] = []) {
        self.events = events
        self.errors = errors
    }
}

/// Decodes `POST /api/public/ingestion` bodies: the envelope first (a failure refuses the whole request), then
/// each event on its own, so one bad event costs one error entry and never its neighbours.
public struct LangfuseBatchDecoder: Sendable {
    public var limits: IngestionLimits

    public init(limits: IngestionLimits = IngestionLimits()) { self.limits = limits }

    /// Observation event types and the observation type each one stores.
    static let observationTypes: [String: (ObservationType, isUpdate: Bool)] = [
        "span-create": (.span, false), "span-update": (.span, true),
        "generation-create": (.generation, false), "generation-update": (.generation, true),
        "event-create": (.event, false),
        "agent-create": (.agent, false), "tool-create": (.tool, false), "chain-create": (.chain, false),
        "retriever-create": (.retriever, false), "evaluator-create": (.evaluator, false),
        "embedding-create": (.embedding, false), "guardrail-create": (.guardrail, false),
    ]

    /// Every event type Langfuse defines (COMPAT §2.3).
    public static let knownTypes: Set<String> = Set(observationTypes.keys).union([
        "trace-create", "score-create", "sdk-log", "observation-create", "observation-update",
        "dataset-run-item-create",
    ])

    /// Throws `IngestionError` (400) when the envelope itself is unusable.
    public func decode(_ body: Data) throws -> DecodedBatch {
        let root: JSONValue
        do {
            root = try JSONValue.parse(body)
        } catch let e as JSONValueError {
            throw IngestionError.invalid(e.description)
        }
        guard case .object(let envelope) = root else {
            throw IngestionError.invalid("the body must be an object with a \"batch\" array")
        }
        guard case .array(let batch)? = envelope["batch"] else {
            throw IngestionError.invalid("batch: required, an array of events")
        }
        guard batch.count <= limits.maxEventsPerBatch else {
            throw IngestionError.invalid(
                "batch: \(batch.count) events; at most \(limits.maxEventsPerBatch) are accepted per request")
        }
        var out = DecodedBatch()
        out.events.reserveCapacity(batch.count)
        for item in batch {
            do {
                out.events.append(try decodeEvent(item))
            } catch let e as IngestionError {
                out.errors.append((Self.eventID(of: item) ?? "unknown", e))
            } catch {
                out.errors.append((Self.eventID(of: item) ?? "unknown", .invalid("\(error)")))
            }
        }
        return out
    }

    static func eventID(of item: JSONValue) -> String? {
        item.objectValue?["id"]?.stringValue
    }

    func decodeEvent(_ item: JSONValue) throws -> IngestionEvent {
        guard case .object(let event) = item else {
            throw IngestionError.invalid("each event must be an object, got \(FieldReader.describe(item))")
        }
        let r = FieldReader(event, path: "event")
        let eventID = try r.requiredID("id")
        guard let timestamp = try r.timestamp("timestamp") else {
            throw IngestionError.invalid("event.timestamp: required")
        }
        guard let type = try r.string("type") else { throw IngestionError.invalid("event.type: required") }
        guard Self.knownTypes.contains(type) else {
            throw IngestionError.invalid("event.type: unknown event type \"\(type.prefix(60))\"")
        }
        if type == "sdk-log" { return IngestionEvent(eventID: eventID, timestamp: timestamp, body: .log) }
        guard let body = try r.object("body") else { throw IngestionError.invalid("event.body: required, an object") }
        var truncated = Truncator(limit: limits.maxFieldBytes)
        let b = FieldReader(body, path: "body")
        let decoded: IngestionEvent.Body
        switch type {
        case "trace-create":
            decoded = .trace(try decodeTrace(b, &truncated))
        case "score-create":
            decoded = .score(try ScoreDecoder.decode(b, defaultTimestamp: timestamp, truncator: &truncated))
        case "observation-create", "observation-update":
            guard let t = try b.string("type"), let kind = ObservationType(rawValue: t),
                [.generation, .span, .event].contains(kind)
            else { throw IngestionError.invalid("body.type: expected one of GENERATION|SPAN|EVENT") }
            decoded = .observation(try decodeObservation(b, kind, isUpdate: type == "observation-update", &truncated))
        case "dataset-run-item-create":
            throw IngestionError.invalid("dataset-run-item-create is internal to Langfuse and not accepted")
        default:
            guard let (kind, isUpdate) = Self.observationTypes[type] else {
                throw IngestionError.invalid("event.type: unknown event type \"\(type)\"")
            }
            decoded = .observation(try decodeObservation(b, kind, isUpdate: isUpdate, &truncated))
        }
        return IngestionEvent(eventID: eventID, timestamp: timestamp, body: decoded, truncatedFields: truncated.fields)
    }

    func decodeTrace(_ b: FieldReader, _ truncator: inout Truncator) throws -> TraceUpsert {
        var t = TraceUpsert(id: try b.requiredID("id"))
        t.timestamp = try b.timestamp("timestamp")
        t.name = try b.string("name", maxLength: 1000)
        t.externalID = try b.string("externalId")
        t.userID = try b.string("userId")
        t.sessionID = try b.id("sessionId")
        t.release = try b.string("release")
        t.version = try b.string("version")
        t.environment = b.has("environment") ? Environment.normalise(try b.string("environment")) : nil
        t.isPublic = try b.bool("public")
        t.tags = try b.stringArray("tags")
        t.input = truncator.cut(b.raw("input"), "input")
        t.output = truncator.cut(b.raw("output"), "output")
        t.metadata = truncator.cut(b.raw("metadata"), "metadata")
        return t
    }

    func decodeObservation(
        _ b: FieldReader, _ type: ObservationType, isUpdate: Bool, _ truncator: inout Truncator
    ) throws -> ObservationUpsert {
        var o = ObservationUpsert(id: try b.requiredID("id"), type: type, isUpdate: isUpdate)
        o.traceID = try b.id("traceId")
        o.parentObservationID = try b.id("parentObservationId")
        o.name = try b.string("name", maxLength: 1000)
        o.startTime = try b.timestamp("startTime")
        o.endTime = try b.timestamp("endTime")
        o.completionStartTime = try b.timestamp("completionStartTime")
        o.level = try b.enumValue("level", ObservationLevel.self)
        o.statusMessage = try b.string("statusMessage")
        o.version = try b.string("version")
        o.environment = b.has("environment") ? Environment.normalise(try b.string("environment")) : nil
        o.model = try b.string("model")
        if let params = b.raw("modelParameters") {
            guard case .object = params else { throw b.fail("modelParameters", "an object", params) }
            o.modelParameters = truncator.cut(params, "modelParameters")
        }
        let promptName = try b.string("promptName")
        let promptVersion = try b.int("promptVersion")
        guard (promptName == nil) == (promptVersion == nil) else {
            throw IngestionError.invalid("body.promptName and body.promptVersion must be given together")
        }
        o.promptName = promptName
        o.promptVersion = promptVersion
        let usage = try UsageNormaliser.normalise(
            usage: b.raw("usage"), usageDetails: b.raw("usageDetails"), costDetails: b.raw("costDetails"))
        o.usage = usage.usage
        o.cost = usage.cost
        o.input = truncator.cut(b.raw("input"), "input")
        o.output = truncator.cut(b.raw("output"), "output")
        o.metadata = truncator.cut(b.raw("metadata"), "metadata")
        return o
    }
}

/// Cuts oversized JSON fields to the field limit and records which fields it cut.
public struct Truncator: Sendable {
    public let limit: Int
    public private(set) var fields: [String] = []

    public init(limit: Int) { self.limit = limit }

    public mutating func cut(_ value: JSONValue?, _ field: String) -> JSONValue? {
        guard let value else { return nil }
        switch value {
        case .string(let s) where s.utf8.count > limit:
            fields.append(field)
            return .string(Self.prefix(s, limit) + Self.note(s.utf8.count))
        case .array, .object:
            guard value.approximateSize(stoppingAbove: limit) > limit else { return value }
            let text = value.serialized()
            guard text.utf8.count > limit else { return value }
            fields.append(field)
            return .string(Self.prefix(text, limit) + Self.note(text.utf8.count))
        default:
            return value
        }
    }

    static func note(_ bytes: Int) -> String { "…[truncated by Tally: \(bytes) bytes]" }

    /// The longest prefix of `s` of at most `bytes` UTF-8 bytes that ends on a character boundary.
    static func prefix(_ s: String, _ bytes: Int) -> String {
        let utf8 = Array(s.utf8)
        guard utf8.count > bytes else { return s }
        var end = bytes
        while end > 0, utf8[end] & 0xC0 == 0x80 { end -= 1 }  // do not split a multi-byte character
        return String(decoding: utf8[..<end], as: UTF8.self)
    }
}

extension JSONValue {
    /// A fast upper-bound estimate of the serialised size, stopping early once it exceeds `limit`.
    func approximateSize(stoppingAbove limit: Int) -> Int {
        var total = 0
        func visit(_ v: JSONValue) {
            guard total <= limit else { return }
            switch v {
            case .null, .bool: total += 5
            case .int, .double: total += 24
            case .string(let s): total += s.utf8.count * 2 + 2
            case .array(let a):
                total += 2
                for x in a { visit(x) }
            case .object(let o):
                total += 2
                for (k, x) in o {
                    total += k.utf8.count * 2 + 4
                    visit(x)
                }
            }
        }
        visit(self)
        return total
    }
}
