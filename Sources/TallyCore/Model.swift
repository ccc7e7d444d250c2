/// The kinds of observation Langfuse knows; stored and returned upper-case.
public enum ObservationType: String, Sendable, CaseIterable, Codable {
    case span = "SPAN"
    case generation = "GENERATION"
    case event = "EVENT"
    case agent = "AGENT"
    case tool = "TOOL"
    case chain = "CHAIN"
    case retriever = "RETRIEVER"
    case evaluator = "EVALUATOR"
    case embedding = "EMBEDDING"
    case guardrail = "GUARDRAIL"

    /// Observation kinds that call a model and so carry model, usage, cost and a prompt link.
    public var isGenerationLike: Bool {
        switch self {
        case .generation, .embedding: return true
        default: return false
        }
    }
}

public enum ObservationLevel: String, Sendable, CaseIterable, Codable {
    case debug = "DEBUG"
    case `default` = "DEFAULT"
    case warning = "WARNING"
    case error = "ERROR"
}

public enum ScoreDataType: String, Sendable, CaseIterable, Codable {
    case numeric = "NUMERIC"
    case boolean = "BOOLEAN"
    case categorical = "CATEGORICAL"
    case text = "TEXT"
    case correction = "CORRECTION"
}

public enum ScoreSource: String, Sendable, CaseIterable, Codable {
    case api = "API"
    case eval = "EVAL"
    case annotation = "ANNOTATION"
}

/// Units used per usage key (`input`, `output`, `total`, `cache_read_input_tokens`, ...): non-negative integers.
public typealias UsageDetails = [String: Int64]

/// Cost per usage key in USD, as the client gave it or as priced (`input`, `output`, `total`, ...).
public typealias CostDetails = [String: Double]

/// A project: the unit of isolation. Every key, trace, observation and score belongs to exactly one.
/// What a key may reach inside its project. A project key (`full`) reads and writes everything; a read-only key
/// reads everything; a tenant key reads only its tenant's analytics, exports and traces (and is read-only).
public struct KeyScope: Sendable, Hashable {
    /// The one tenant this key may read; nil: every tenant.
    public var tenant: String?
    public var readOnly: Bool

    public init(tenant: String? = nil, readOnly: Bool = false) {
        self.tenant = tenant
        self.readOnly = readOnly || tenant != nil
    }

    public static let full = KeyScope()

    /// `{"tenantId"?, "readOnly"?, "note"?}` (a request to create a key); refusals name the field.
    public static func parse(_ body: JSONValue) throws -> KeyScope {
        let r = FieldReader(try FieldReader.body(body, allowed: ["tenantId", "readOnly", "note"]), path: "body")
        let tenant = try r.string("tenantId", maxLength: 1_000)
        if tenant == "" { throw IngestionError.invalid("body.tenantId: must not be empty") }
        let readOnly = try r.bool("readOnly")
        if tenant != nil, readOnly == false {
            throw IngestionError.invalid("body.readOnly: a tenant key is always read-only")
        }
        _ = try r.string("note", maxLength: 500)
        return KeyScope(tenant: tenant, readOnly: readOnly ?? false)
    }
}

public struct Project: Sendable, Hashable {
    public var id: String
    public var name: String
    public var organizationID: String
    public var organizationName: String
    public var createdAt: Timestamp

    public init(id: String, name: String, organizationID: String, organizationName: String, createdAt: Timestamp) {
        self.id = id
        self.name = name
        self.organizationID = organizationID
        self.organizationName = organizationName
        self.createdAt = createdAt
    }
}

/// A trace as stored: the merge of every `trace-create` for its id (and of placeholders made by its observations).
public struct Trace: Sendable, Hashable {
    public var id: String
    public var timestamp: Timestamp
    public var name: String?
    public var userID: String?
    public var sessionID: String?
    public var release: String?
    public var version: String?
    public var environment: String
    public var input: JSONValue?
    public var output: JSONValue?
    /// Always a JSON object (non-object metadata is wrapped under the key `metadata`).
    public var metadata: [String: JSONValue]
    /// Sorted, de-duplicated.
    public var tags: [String]
    public var isPublic: Bool
    public var bookmarked: Bool
    public var externalID: String?
    /// Tenant and feature derived from metadata and tags by `AttributionRules` after every merge.
    public var tenant: String?
    public var feature: String?
    /// True while only observations (no `trace-create`) have named this trace: its immutable fields are provisional.
    public var isPlaceholder: Bool
    /// The envelope time of the newest trace event merged in (nil until one is): older events only fill gaps.
    public var eventTime: Timestamp?
    /// When the store first wrote and last changed the row (nil before it is stored).
    public var createdAt: Timestamp?
    public var updatedAt: Timestamp?

    public init(id: String, timestamp: Timestamp, environment: String = "default", isPlaceholder: Bool) {
        self.id = id
        self.timestamp = timestamp
        self.environment = environment
        self.metadata = [:]
        self.tags = []
        self.isPublic = false
        self.bookmarked = false
        self.isPlaceholder = isPlaceholder
    }
}

/// An observation (span, generation, event, ...) as stored.
public struct Observation: Sendable, Hashable {
    public var id: String
    public var traceID: String
    public var type: ObservationType
    public var parentObservationID: String?
    public var name: String?
    public var startTime: Timestamp
    public var endTime: Timestamp?
    public var completionStartTime: Timestamp?
    /// The requested model (billed by default); `responseModel` is the one that answered, when reported.
    public var model: String?
    public var responseModel: String?
    public var modelParameters: JSONValue?
    public var input: JSONValue?
    public var output: JSONValue?
    public var metadata: [String: JSONValue]
    public var level: ObservationLevel
    public var statusMessage: String?
    public var version: String?
    public var environment: String
    public var promptName: String?
    public var promptVersion: Int?
    /// Usage as the client gave it, normalised to Langfuse keys.
    public var usage: UsageDetails
    /// Cost as the client gave it (USD). Empty when the client gave none.
    public var providedCost: CostDetails
    /// Cost inferred from usage and the price table (USD), when the client gave none.
    public var inferredCost: CostDetails = [:]
    /// The model and tier that priced `inferredCost`, and the unit prices applied (USD per unit by usage key).
    public var pricedModelID: String?
    public var pricingTier: String?
    public var unitPrices: [String: Double] = [:]
    /// What a cache saved this call, nano-USD (see `CostEngine.cacheSavings`); nil: no cache, or no list price.
    public var savingsNanos: Int64?
    /// Carried from the trace (or the observation's own metadata when the trace has none).
    public var tenant: String?
    public var feature: String?
    /// True while only `*-update` events have named this observation.
    public var isPlaceholder: Bool
    /// The envelope time of the newest event merged in: older events only fill gaps.
    public var eventTime: Timestamp?
    public var createdAt: Timestamp?
    public var updatedAt: Timestamp?

    public init(id: String, traceID: String, type: ObservationType, startTime: Timestamp, isPlaceholder: Bool) {
        self.id = id
        self.traceID = traceID
        self.type = type
        self.startTime = startTime
        self.metadata = [:]
        self.level = .default
        self.environment = "default"
        self.usage = [:]
        self.providedCost = [:]
        self.isPlaceholder = isPlaceholder
    }
}

/// A score on a trace, an observation, a session or a dataset run.
public struct Score: Sendable, Hashable {
    public var id: String
    public var name: String
    /// Numeric value: the number for NUMERIC, 0/1 for BOOLEAN, nil for string-valued types.
    public var value: Double?
    /// The string for CATEGORICAL/TEXT/CORRECTION, "True"/"False" for BOOLEAN.
    public var stringValue: String?
    public var dataType: ScoreDataType
    public var source: ScoreSource
    public var traceID: String?
    public var observationID: String?
    public var sessionID: String?
    public var datasetRunID: String?
    public var comment: String?
    public var metadata: JSONValue?
    public var configID: String?
    public var queueID: String?
    public var environment: String
    public var timestamp: Timestamp
    /// The envelope time of the event that wrote this version: an older re-send does not replace it.
    public var eventTime: Timestamp?
    public var createdAt: Timestamp?
    public var updatedAt: Timestamp?

    public init(
        id: String, name: String, value: Double?, stringValue: String?, dataType: ScoreDataType,
        source: ScoreSource = .api, environment: String = "default", timestamp: Timestamp
    ) {
        self.id = id
        self.name = name
        self.value = value
        self.stringValue = stringValue
        self.dataType = dataType
        self.source = source
        self.environment = environment
        self.timestamp = timestamp
    }
}
