import PostgresNIO
import TallyCore
import TallySQL
import TallySecrets
import TallyStoreAPI

/// Values bound into a statement the store builds from parts (multi-row VALUES lists, column-list updates). Every
/// value is a parameter; `jsonb` is bound as text and cast in the SQL.
enum PGValue {
    case text(String?)
    case int(Int64?)
    case double(Double?)
    case bool(Bool)
    case jsonb(String?)
}

/// A statement's bound parameters and their `$n` placeholders, built value by value.
struct PGBinds {
    private(set) var bindings = PostgresBindings()
    private(set) var count = 0

    /// Binds `value`; returns its placeholder (`$n`, with a cast where the column needs one).
    mutating func add(_ value: PGValue) -> String {
        count += 1
        switch value {
        case .text(let v): bindings.append(v)
        case .int(let v): bindings.append(v)
        case .double(let v): bindings.append(v)
        case .bool(let v): bindings.append(v)
        case .jsonb(let v):
            bindings.append(v)
            return "$\(count)::jsonb"
        }
        return "$\(count)"
    }

    /// `($a, $b, …)` of one row.
    mutating func row(_ values: [PGValue]) -> String {
        "(" + values.map { add($0) }.joined(separator: ", ") + ")"
    }

    func query(_ sql: String) -> PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: bindings) }
}

extension PostgresQuery {
    /// `sql` (text without values) followed by `rest` with its values: a fixed SELECT and a caller's conditions.
    static func prefixed(_ sql: String, _ rest: PostgresQuery) -> PostgresQuery {
        PostgresQuery(unsafeSQL: sql + rest.sql, binds: rest.binds)
    }
}

extension PostgresBindings {
    fileprivate mutating func append<T: PostgresDynamicTypeEncodable>(_ value: T?) {
        if let value { append(value, context: .default) } else { appendNull() }
    }
}

extension PostgresRandomAccessRow {
    /// The column `name` decoded as `T` (an optional for a nullable column).
    func value<T: PostgresDecodable>(_ name: String, as: T.Type = T.self) throws -> T {
        try self[name].decode(T.self)
    }
}

/// The column lists the store reads and writes. jsonb columns are read as text (`::text`) and parsed as the SQLite
/// store parses its JSON text.
enum PGColumns {
    static let traceWritten = [
        "project_id", "id", "timestamp", "name", "user_id", "session_id", "release", "version", "environment", "input",
        "output", "metadata", "tags", "public", "bookmarked", "external_id", "tenant", "feature", "is_placeholder",
        "created_at", "updated_at", "event_time",
    ]

    /// Every trace column, as `alias.column` (jsonb as text), totals included.
    static func trace(_ alias: String) -> String {
        (traceWritten + [
            "observation_count", "input_tokens", "output_tokens", "total_tokens", "total_cost_nanos",
            "duration_micros", "max_level",
        ]).map { ["metadata", "tags"].contains($0) ? "\(alias).\($0)::text AS \($0)" : "\(alias).\($0)" }
            .joined(separator: ", ")
    }

    static let observationWritten = [
        "project_id", "id", "trace_id", "parent_observation_id", "type", "name", "start_time", "end_time",
        "completion_start_time", "model", "response_model", "model_parameters", "input", "output", "metadata",
        "level", "status_message", "version", "environment", "prompt_name", "prompt_version", "usage_details",
        "provided_cost_details", "cost_details", "input_tokens", "output_tokens", "total_tokens", "input_cost_nanos",
        "output_cost_nanos", "total_cost_nanos", "tenant", "feature", "is_placeholder", "created_at", "updated_at",
        "cost_source", "priced_model_id", "pricing_tier", "unit_prices", "event_time", "savings_nanos", "shared",
        "input_hash",
    ]

    static let observationJSON: Set<String> = [
        "metadata", "usage_details", "provided_cost_details", "cost_details", "unit_prices",
    ]

    /// Every observation column, as `alias.column` (jsonb as text).
    static func observation(_ alias: String) -> String {
        observationWritten.map { observationJSON.contains($0) ? "\(alias).\($0)::text AS \($0)" : "\(alias).\($0)" }
            .joined(separator: ", ")
    }

    static let score = """
        project_id, id, name, value, string_value, data_type, source, trace_id, observation_id, session_id,
        dataset_run_id, comment, metadata, config_id, queue_id, environment, timestamp, created_at, updated_at,
        event_time
        """

    /// `traceWritten`'s values for `t`.
    static func values(_ t: Trace, projectID: String, now: Timestamp) -> [PGValue] {
        [
            .text(projectID), .text(t.id), .int(t.timestamp.microseconds), .text(t.name), .text(t.userID),
            .text(t.sessionID), .text(t.release), .text(t.version), .text(t.environment),
            .text(t.input?.serialized()), .text(t.output?.serialized()),
            .jsonb(JSONValue.object(t.metadata).serialized()),
            .jsonb(JSONValue.array(t.tags.map { .string($0) }).serialized()), .bool(t.isPublic), .bool(t.bookmarked),
            .text(t.externalID), .text(t.tenant), .text(t.feature), .bool(t.isPlaceholder),
            .int(t.createdAt?.microseconds ?? now.microseconds), .int(now.microseconds),
            .int(t.eventTime?.microseconds),
        ]
    }

    /// `observationWritten`'s values for `o` (`totals` are its `totals`).
    static func values(
        _ o: Observation, totals: Observation.Totals, shared: Bool, projectID: String, now: Timestamp
    ) -> [PGValue] {
        [
            .text(projectID), .text(o.id), .text(o.traceID), .text(o.parentObservationID), .text(o.type.rawValue),
            .text(o.name), .int(o.startTime.microseconds), .int(o.endTime?.microseconds),
            .int(o.completionStartTime?.microseconds), .text(o.model), .text(o.responseModel),
            .text(o.modelParameters?.serialized()), .text(o.input?.serialized()), .text(o.output?.serialized()),
            .jsonb(JSONValue.object(o.metadata).serialized()), .text(o.level.rawValue), .text(o.statusMessage),
            .text(o.version), .text(o.environment), .text(o.promptName), .int(o.promptVersion.map(Int64.init)),
            .jsonb(StoredJSON.usageJSON(o.usage)), .jsonb(StoredJSON.costJSON(o.providedCost)),
            .jsonb(StoredJSON.costJSON(o.cost)), .int(totals.inputTokens), .int(totals.outputTokens),
            .int(totals.totalTokens), .int(totals.inputCost.map(Money.nanos(usd:))),
            .int(totals.outputCost.map(Money.nanos(usd:))),
            .int(totals.totalCost.map(Money.nanos(usd:))), .text(o.tenant), .text(o.feature),
            .bool(o.isPlaceholder), .int(o.createdAt?.microseconds ?? now.microseconds), .int(now.microseconds),
            .text(o.costSource), .text(o.pricedModelID), .text(o.pricingTier),
            .jsonb(o.unitPrices.isEmpty ? nil : StoredJSON.costJSON(o.unitPrices)), .int(o.eventTime?.microseconds),
            .int(o.savingsNanos), .bool(shared), .int(o.inputHashParts.map(ContentHash.int64)),
        ]
    }

    /// The `observation_share` values of one share.
    static func values(_ s: TenantShares.Share, projectID: String, observationID: String) -> [PGValue] {
        [
            .text(projectID), .text(observationID), .text(s.tenant), .int(s.calls), .int(s.inputTokens),
            .int(s.outputTokens), .int(s.totalTokens), .int(s.cacheReadTokens), .int(s.cacheWriteTokens),
            .int(s.reasoningTokens), .int(s.inputCostNanos), .int(s.outputCostNanos), .int(s.totalCostNanos),
            .int(s.savingsNanos),
        ]
    }

    static func values(_ s: Score, projectID: String, now: Timestamp) -> [PGValue] {
        [
            .text(projectID), .text(s.id), .text(s.name), .double(s.value), .text(s.stringValue),
            .text(s.dataType.rawValue), .text(s.source.rawValue), .text(s.traceID), .text(s.observationID),
            .text(s.sessionID), .text(s.datasetRunID), .text(s.comment), .text(StoredJSON.json(s.metadata)),
            .text(s.configID), .text(s.queueID), .text(s.environment), .int(s.timestamp.microseconds),
            .int(now.microseconds), .int(now.microseconds), .int(s.eventTime?.microseconds),
        ]
    }
}

extension Trace {
    /// A row of `PGColumns.trace`.
    init(pg r: PostgresRandomAccessRow) throws {
        self.init(
            id: try r.value("id"), timestamp: Timestamp(microseconds: try r.value("timestamp")),
            environment: try r.value("environment"), isPlaceholder: try r.value("is_placeholder"))
        name = try r.value("name")
        userID = try r.value("user_id")
        sessionID = try r.value("session_id")
        release = try r.value("release")
        version = try r.value("version")
        input = StoredJSON.jsonValue(try r.value("input"))
        output = StoredJSON.jsonValue(try r.value("output"))
        metadata = StoredJSON.object(try r.value("metadata"))
        tags = StoredJSON.strings(try r.value("tags"))
        isPublic = try r.value("public")
        bookmarked = try r.value("bookmarked")
        externalID = try r.value("external_id")
        tenant = try r.value("tenant")
        feature = try r.value("feature")
        eventTime = StoredJSON.time(try r.value("event_time"))
        createdAt = StoredJSON.time(try r.value("created_at"))
        updatedAt = StoredJSON.time(try r.value("updated_at"))
    }
}

extension TraceTotals {
    /// The totals columns of a `PGColumns.trace` row; nil for a trace without observations.
    init?(pg r: PostgresRandomAccessRow) throws {
        let count: Int = try r.value("observation_count")
        guard count > 0 else { return nil }
        let levels: [ObservationLevel] = [.debug, .default, .warning, .error]
        self.init(
            observations: count, spanMicros: try r.value("duration_micros"), inputTokens: try r.value("input_tokens"),
            outputTokens: try r.value("output_tokens"), totalTokens: try r.value("total_tokens"),
            totalCostNanos: try r.value("total_cost_nanos"),
            level: levels[min(3, max(0, try r.value("max_level", as: Int.self)))])
    }
}

extension Observation {
    /// A row of `PGColumns.observation`.
    init(pg r: PostgresRandomAccessRow) throws {
        self.init(
            id: try r.value("id"), traceID: try r.value("trace_id"),
            type: ObservationType(rawValue: try r.value("type")) ?? .span,
            startTime: Timestamp(microseconds: try r.value("start_time")),
            isPlaceholder: try r.value("is_placeholder"))
        parentObservationID = try r.value("parent_observation_id")
        name = try r.value("name")
        endTime = StoredJSON.time(try r.value("end_time"))
        completionStartTime = StoredJSON.time(try r.value("completion_start_time"))
        model = try r.value("model")
        responseModel = try r.value("response_model")
        modelParameters = StoredJSON.jsonValue(try r.value("model_parameters"))
        input = StoredJSON.jsonValue(try r.value("input"))
        output = StoredJSON.jsonValue(try r.value("output"))
        metadata = StoredJSON.object(try r.value("metadata"))
        level = ObservationLevel(rawValue: try r.value("level")) ?? .default
        statusMessage = try r.value("status_message")
        version = try r.value("version")
        environment = try r.value("environment")
        promptName = try r.value("prompt_name")
        promptVersion = try r.value("prompt_version", as: Int?.self)
        usage = StoredJSON.usage(try r.value("usage_details"))
        providedCost = StoredJSON.cost(try r.value("provided_cost_details"))
        if try r.value("cost_source", as: String?.self) == "inferred" {
            inferredCost = StoredJSON.cost(try r.value("cost_details"))
            pricedModelID = try r.value("priced_model_id")
            pricingTier = try r.value("pricing_tier")
            unitPrices = StoredJSON.cost(try r.value("unit_prices"))
        }
        savingsNanos = try r.value("savings_nanos")
        tenant = try r.value("tenant")
        feature = try r.value("feature")
        eventTime = StoredJSON.time(try r.value("event_time"))
        createdAt = StoredJSON.time(try r.value("created_at"))
        updatedAt = StoredJSON.time(try r.value("updated_at"))
    }
}

extension Score {
    /// A row of `PGColumns.score`.
    init(pg r: PostgresRandomAccessRow) throws {
        self.init(
            id: try r.value("id"), name: try r.value("name"), value: try r.value("value"),
            stringValue: try r.value("string_value"),
            dataType: ScoreDataType(rawValue: try r.value("data_type")) ?? .numeric,
            source: ScoreSource(rawValue: try r.value("source")) ?? .api, environment: try r.value("environment"),
            timestamp: Timestamp(microseconds: try r.value("timestamp")))
        traceID = try r.value("trace_id")
        observationID = try r.value("observation_id")
        sessionID = try r.value("session_id")
        datasetRunID = try r.value("dataset_run_id")
        comment = try r.value("comment")
        metadata = StoredJSON.jsonValue(try r.value("metadata"))
        configID = try r.value("config_id")
        queueID = try r.value("queue_id")
        createdAt = StoredJSON.time(try r.value("created_at"))
        updatedAt = StoredJSON.time(try r.value("updated_at"))
    }
}

extension TenantShares.Share {
    /// A row of `observation_share`.
    init(pg r: PostgresRandomAccessRow) throws {
        self.init(
            tenant: try r.value("tenant"), calls: try r.value("n"), inputTokens: try r.value("input_tokens"),
            outputTokens: try r.value("output_tokens"), totalTokens: try r.value("total_tokens"),
            cacheReadTokens: try r.value("cache_read_tokens"), cacheWriteTokens: try r.value("cache_write_tokens"),
            reasoningTokens: try r.value("reasoning_tokens"), inputCostNanos: try r.value("input_cost_nanos"),
            outputCostNanos: try r.value("output_cost_nanos"), totalCostNanos: try r.value("total_cost_nanos"),
            savingsNanos: try r.value("savings_nanos"))
    }
}
