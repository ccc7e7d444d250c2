/// The merge rules (COMPAT §2.8) that fold an upsert into the stored entity. Pure functions: the store reads the
/// current row, calls these, and writes the result, so every protocol gets identical semantics.
///
/// - Immutable once a create has set them: trace `timestamp`/`environment`; observation `traceID`/`startTime`/
///   `environment`. A placeholder (made by an observation or an update arriving first) takes them from the first create.
/// - Scalars: a later non-nil value wins; nil never erases.
/// - `input`/`output`: the last non-empty value (not null, "" or {}) wins.
/// - `metadata`: deep-merged object; `tags`: sorted union.
/// - `usage`/`cost`: replaced only by a non-empty value, so an update without them never wipes them.
/// Applying the same events again yields the same entity (SDKs re-send whole batches).
extension Trace {
    public static func placeholder(id: String, timestamp: Timestamp, environment: String) -> Trace {
        Trace(id: id, timestamp: timestamp, environment: environment, isPlaceholder: true)
    }

    /// `existing` is the stored trace, or nil for an id never seen before.
    public static func merge(
        _ existing: Trace?, _ u: TraceUpsert, eventTime: Timestamp, rules: AttributionRules
    ) -> Trace {
        var t =
            existing ?? .placeholder(id: u.id, timestamp: u.timestamp ?? eventTime, environment: Environment.default)
        if t.isPlaceholder {
            if u.isPartial {
                if let v = u.timestamp, v < t.timestamp { t.timestamp = v }
            } else {
                if let v = u.timestamp { t.timestamp = v }
                t.isPlaceholder = false
            }
            if let env = u.environment { t.environment = env }
        }
        if let v = u.name { t.name = v }
        if let v = u.userID { t.userID = v }
        if let v = u.sessionID { t.sessionID = v }
        if let v = u.release { t.release = v }
        if let v = u.version { t.version = v }
        if let v = u.externalID { t.externalID = v }
        if let v = u.isPublic { t.isPublic = v }
        if let v = u.input, !v.isEmptyForMerge { t.input = v }
        if let v = u.output, !v.isEmptyForMerge { t.output = v }
        if let m = u.metadata { t.metadata = Self.mergeMetadata(t.metadata, m) }
        if let tags = u.tags { t.tags = Array(Set(t.tags).union(tags)).sorted() }
        t.tenant = rules.tenant(metadata: t.metadata, tags: t.tags)
        t.feature = rules.feature(metadata: t.metadata)
        return t
    }

    static func mergeMetadata(_ base: [String: JSONValue], _ incoming: JSONValue) -> [String: JSONValue] {
        let overlay: [String: JSONValue]
        switch incoming {
        case .null: return base
        case .object(let o): overlay = o
        default: overlay = ["metadata": incoming]
        }
        return JSONValue.object(base).deepMerged(with: .object(overlay)).objectValue ?? base
    }
}

extension Observation {
    /// `existing` is the stored observation, or nil for an id never seen before. `newTraceID` names the trace
    /// of a new observation whose event carried no `traceId`.
    public static func merge(
        _ existing: Observation?, _ u: ObservationUpsert, eventTime: Timestamp, newTraceID: () -> String
    ) -> Observation {
        var o =
            existing
            ?? Observation(
                id: u.id, traceID: u.traceID ?? newTraceID(), type: u.type, startTime: u.startTime ?? eventTime,
                isPlaceholder: true)
        if o.isPlaceholder {
            if let v = u.startTime { o.startTime = v }
            if let v = u.traceID { o.traceID = v }
            if let v = u.environment { o.environment = v }
            o.type = u.type
            o.isPlaceholder = u.isUpdate
        } else if !u.isUpdate {
            o.type = u.type
        }
        if let v = u.parentObservationID { o.parentObservationID = v }
        if let v = u.name { o.name = v }
        if let v = u.endTime { o.endTime = v }
        if let v = u.completionStartTime { o.completionStartTime = v }
        if let v = u.model { o.model = v }
        if let v = u.responseModel { o.responseModel = v }
        if let v = u.modelParameters, !v.isEmptyForMerge { o.modelParameters = v }
        if let v = u.input, !v.isEmptyForMerge { o.input = v }
        if let v = u.output, !v.isEmptyForMerge { o.output = v }
        if let m = u.metadata { o.metadata = Trace.mergeMetadata(o.metadata, m) }
        if let v = u.level { o.level = v }
        if let v = u.statusMessage { o.statusMessage = v }
        if let v = u.version { o.version = v }
        if let name = u.promptName, let version = u.promptVersion {
            o.promptName = name
            o.promptVersion = version
        }
        if let v = u.usage, !v.isEmpty { o.usage = v }
        if let v = u.cost, !v.isEmpty { o.providedCost = v }
        if let end = o.endTime, end < o.startTime { o.endTime = o.startTime }
        return o
    }

    /// Tenant and feature: the trace's when it has them, else the observation's own metadata.
    public mutating func attribute(trace: Trace?, rules: AttributionRules) {
        tenant = trace?.tenant ?? rules.tenant(metadata: metadata, tags: [])
        feature = trace?.feature ?? rules.feature(metadata: metadata)
    }
}
