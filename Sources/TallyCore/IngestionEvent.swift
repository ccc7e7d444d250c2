/// One normalised ingestion event: what every protocol (Langfuse batch, scores API, OTLP) is decoded into
/// before the single write path stores it. Every field but the id is optional: an upsert names only what changed.
public struct IngestionEvent: Sendable, Hashable {
    public enum Body: Sendable, Hashable {
        case trace(TraceUpsert)
        case observation(ObservationUpsert)
        case score(Score)
        /// Accepted and dropped (`sdk-log`).
        case log

        /// The case name: "trace", "observation", "score" or "log".
        public var typeName: String {
            switch self {
            case .trace: "trace"
            case .observation: "observation"
            case .score: "score"
            case .log: "log"
            }
        }
    }

    /// The envelope id, echoed in per-event results.
    public var eventID: String
    /// The envelope timestamp: orders events of one entity and stands in for missing body times.
    public var timestamp: Timestamp
    public var body: Body
    /// Names of fields cut to the field-size limit while decoding.
    public var truncatedFields: [String]

    public init(eventID: String, timestamp: Timestamp, body: Body, truncatedFields: [String] = []) {
        self.eventID = eventID
        self.timestamp = timestamp
        self.body = body
        self.truncatedFields = truncatedFields
    }

    /// The model names an observation event carries (requested and response), for price lookups.
    public var modelNames: [String] {
        guard case .observation(let o) = body else { return [] }
        return [o.model, o.responseModel].compactMap { $0 }
    }

    /// Updates are applied after creates within one request (Langfuse's ordering).
    public var isUpdate: Bool {
        if case .observation(let o) = body { return o.isUpdate }
        return false
    }

    /// Indices of `events` in the order they are applied: creates first, then updates, each group by event
    /// timestamp; the original order breaks ties.
    public static func applicationOrder(_ events: [IngestionEvent]) -> [Int] {
        events.indices.sorted { a, b in
            let ea = events[a]
            let eb = events[b]
            if ea.isUpdate != eb.isUpdate { return !ea.isUpdate }
            if ea.timestamp != eb.timestamp { return ea.timestamp < eb.timestamp }
            return a < b
        }
    }
}

/// The fields of a `trace-create` (which is an upsert: `trace.update()` sends it with only the changed fields).
public struct TraceUpsert: Sendable, Hashable {
    public var id: String
    public var timestamp: Timestamp?
    public var name: String?
    public var userID: String?
    public var sessionID: String?
    public var release: String?
    public var version: String?
    /// Already normalised (see `Environment.normalise`); nil when the event did not name one.
    public var environment: String?
    public var input: JSONValue?
    public var output: JSONValue?
    public var metadata: JSONValue?
    public var tags: [String]?
    public var isPublic: Bool?
    public var externalID: String?
    /// True for trace fields carried by a non-root span (OTLP): they never end a placeholder, so the root span's
    /// start time still becomes the trace timestamp; until it comes, the earliest timestamp seen is kept.
    public var isPartial = false

    public init(id: String) { self.id = id }
}

/// The fields of any observation event (`span-*`, `generation-*`, `event-create`, `agent-create`, ...).
public struct ObservationUpsert: Sendable, Hashable {
    public var id: String
    public var type: ObservationType
    /// True for `*-update` events: they never change the type of an existing observation.
    public var isUpdate: Bool
    public var traceID: String?
    public var parentObservationID: String?
    public var name: String?
    public var startTime: Timestamp?
    public var endTime: Timestamp?
    public var completionStartTime: Timestamp?
    /// The model the caller asked for (`gen_ai.request.model`, the Langfuse `model` field).
    public var model: String?
    /// The model that actually answered, when the client reports it (`gen_ai.response.model`).
    public var responseModel: String?
    public var modelParameters: JSONValue?
    public var input: JSONValue?
    public var output: JSONValue?
    public var metadata: JSONValue?
    public var level: ObservationLevel?
    public var statusMessage: String?
    public var version: String?
    public var environment: String?
    public var promptName: String?
    public var promptVersion: Int?
    /// Normalised usage (legacy `usage` with `usageDetails` laid over it); nil or empty when none was given.
    public var usage: UsageDetails?
    /// Client-given cost in USD; nil or empty when none was given.
    public var cost: CostDetails?

    public init(id: String, type: ObservationType, isUpdate: Bool) {
        self.id = id
        self.type = type
        self.isUpdate = isUpdate
    }
}
