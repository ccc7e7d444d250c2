import Foundation

/// The merge rules (COMPAT §2.8) that fold an upsert into the stored entity. Pure functions: the store reads the
/// current row, calls these, and writes the result, so every protocol gets identical semantics.
///
/// - Immutable once a create has set them: trace `timestamp`/`environment`; observation `traceID`/`startTime`/
///   `environment`. A placeholder (made by an observation or an update arriving first) takes them from the first create.
/// - Scalars: a later non-nil value wins; nil never erases.
/// - `input`/`output`: the last non-empty value (not null, "" or {}) wins.
/// - `metadata`: deep-merged object; `tags`: sorted union.
/// - `usage`/`cost`: replaced only by a non-empty value, so an update without them never wipes them.
/// - "Later" is by event time, not arrival: an event older than the newest one already merged (`eventTime`) only
///   fills fields the entity lacks, and its metadata keys never replace newer ones. So a stale re-send (the v2 SDK
///   re-sends whole batches) cannot revert newer data.
/// Applying the same events again, in any order, yields the same entity (SDKs re-send whole batches).
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
        let m = MergePolicy(stale: t.eventTime.map { eventTime < $0 } ?? false)
        if t.isPlaceholder {
            if u.isPartial {
                if let v = u.timestamp, v < t.timestamp { t.timestamp = v }
            } else {
                if let v = u.timestamp { t.timestamp = v }
                t.isPlaceholder = false
            }
            if let env = u.environment { t.environment = env }
        }
        m.scalar(&t.name, u.name)
        m.scalar(&t.userID, u.userID)
        m.scalar(&t.sessionID, u.sessionID)
        m.scalar(&t.release, u.release)
        m.scalar(&t.version, u.version)
        m.scalar(&t.externalID, u.externalID)
        if let v = u.isPublic, !m.stale { t.isPublic = v }
        m.content(&t.input, u.input)
        m.content(&t.output, u.output)
        if let v = u.metadata { t.metadata = m.metadata(t.metadata, v) }
        if let tags = u.tags { t.tags = Array(Set(t.tags).union(tags)).sorted() }
        // Its own names win; without them the trace keeps what it took from its observations (`adopt`).
        let own = t.ownAttribution(rules)
        t.tenant = own.tenant ?? existing?.tenant
        t.feature = own.feature ?? existing?.feature
        t.eventTime = max(t.eventTime ?? eventTime, eventTime)
        return t
    }
}

/// Who a trace belongs to (README "Tenants and features"). A trace's tenant is the one its own metadata or tags name;
/// a trace that names none takes the one named by its earliest observation (by start time, then id) whose own
/// metadata names one. Feature likewise, on its own. Every observation of a trace carries the trace's tenant and
/// feature once the trace has them (`Observation.attribute`), so per-trace and per-observation analytics agree.
extension Trace {
    /// The tenant and feature the trace's own metadata and tags name.
    public func ownAttribution(_ rules: AttributionRules) -> (tenant: String?, feature: String?) {
        (rules.tenant(metadata: metadata, tags: tags), rules.feature(metadata: metadata))
    }

    /// Applies an observation that names `named` (its `ownAttribution`) to the trace. A field the trace's own
    /// metadata leaves open and that no observation has filled yet is taken (`adopted`). `contested`: a field the
    /// trace took from another observation differs from `named`, so which observation is earliest must be decided
    /// (`settle`) with all of them at hand.
    public mutating func adopt(
        _ named: (tenant: String?, feature: String?), rules: AttributionRules
    ) -> (adopted: Bool, contested: Bool) {
        let own = ownAttribution(rules)
        var adopted = false
        var contested = false
        func take(_ field: inout String?, own: String?, named: String?) {
            guard own == nil, let named else { return }
            if field == nil {
                field = named
                adopted = true
            } else if field != named {
                contested = true
            }
        }
        take(&tenant, own: own.tenant, named: named.tenant)
        take(&feature, own: own.feature, named: named.feature)
        return (adopted, contested)
    }

    /// Settles tenant and feature from `observations`, the trace's observations' own attributions ordered by start
    /// time then id; returns whether either changed.
    public mutating func settle(
        from observations: some Sequence<(tenant: String?, feature: String?)>, rules: AttributionRules
    ) -> Bool {
        let own = ownAttribution(rules)
        var earliest: (tenant: String?, feature: String?) = (nil, nil)
        for named in observations {
            earliest = (earliest.tenant ?? named.tenant, earliest.feature ?? named.feature)
            if earliest.tenant != nil, earliest.feature != nil { break }
        }
        let settled = (own.tenant ?? earliest.tenant, own.feature ?? earliest.feature)
        defer { (tenant, feature) = settled }
        return settled != (tenant, feature)
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
        let m = MergePolicy(stale: o.eventTime.map { eventTime < $0 } ?? false)
        if o.isPlaceholder {
            if let v = u.startTime { o.startTime = v }
            if let v = u.traceID { o.traceID = v }
            if let v = u.environment { o.environment = v }
            o.type = u.type
            o.isPlaceholder = u.isUpdate
        } else if !u.isUpdate, !m.stale {
            o.type = u.type
        }
        m.scalar(&o.parentObservationID, u.parentObservationID)
        m.scalar(&o.name, u.name)
        m.scalar(&o.endTime, u.endTime)
        m.scalar(&o.completionStartTime, u.completionStartTime)
        m.scalar(&o.model, u.model)
        m.scalar(&o.responseModel, u.responseModel)
        m.content(&o.modelParameters, u.modelParameters)
        m.content(&o.input, u.input)
        m.content(&o.output, u.output)
        if let v = u.metadata { o.metadata = m.metadata(o.metadata, v) }
        if let v = u.level, !m.stale || o.level == .default { o.level = v }
        m.scalar(&o.statusMessage, u.statusMessage)
        m.scalar(&o.version, u.version)
        if let name = u.promptName, let version = u.promptVersion, !m.stale || o.promptName == nil {
            o.promptName = name
            o.promptVersion = version
        }
        if let v = u.usage, !v.isEmpty, !m.stale || o.usage.isEmpty { o.usage = v }
        if let v = u.cost, !v.isEmpty, !m.stale || o.providedCost.isEmpty { o.providedCost = v }
        if let end = o.endTime, end < o.startTime { o.endTime = o.startTime }
        o.eventTime = max(o.eventTime ?? eventTime, eventTime)
        return o
    }

    /// Tenant and feature: the trace's when it has them, else the observation's own metadata.
    public mutating func attribute(trace: Trace?, rules: AttributionRules) {
        attribute(trace: trace, own: ownAttribution(rules))
    }

    /// The tenant and feature the observation's own metadata names.
    public func ownAttribution(_ rules: AttributionRules) -> (tenant: String?, feature: String?) {
        (rules.tenant(metadata: metadata, tags: []), rules.feature(metadata: metadata))
    }

    /// Tenant and feature: the trace's when it has them, else `own` (`ownAttribution`, worked out earlier).
    public mutating func attribute(trace: Trace?, own: (tenant: String?, feature: String?)) {
        tenant = trace?.tenant ?? own.tenant
        feature = trace?.feature ?? own.feature
    }
}

/// How one event's values are laid over an entity: normally a given value wins; for a stale event (older than
/// the newest merged) only where the entity has nothing yet.
struct MergePolicy {
    let stale: Bool

    func scalar<T>(_ field: inout T?, _ value: T?) {
        guard let value, !stale || field == nil else { return }
        field = value
    }

    /// `input`, `output`, model parameters: empty values (null, "", {}) never replace anything.
    func content(_ field: inout JSONValue?, _ value: JSONValue?) {
        guard let value, !value.isEmptyForMerge else { return }
        guard !stale || field.map(\.isEmptyForMerge) ?? true else { return }
        field = value
    }

    /// Deep merge; a non-object value is kept under the key `metadata`. For a stale event the stored keys win.
    func metadata(_ base: [String: JSONValue], _ incoming: JSONValue) -> [String: JSONValue] {
        let overlay: [String: JSONValue]
        switch incoming {
        case .null: return base
        case .object(let o): overlay = o
        default: overlay = ["metadata": incoming]
        }
        let merged =
            stale
            ? JSONValue.object(overlay).deepMerged(with: .object(base))
            : JSONValue.object(base).deepMerged(with: .object(overlay))
        return merged.objectValue ?? base
    }
}

extension Observation {
    /// What a store writes for an observation event: `upsert` merged into `existing` (nil: a new id), priced with
    /// `prices` and range-checked (`checkLimits`, tenant shares). Throws `IngestionError` (invalid) when the event
    /// must be refused; nothing is changed then.
    public static func stored(
        merging upsert: ObservationUpsert, into existing: Observation?, eventTime: Timestamp, prices: PriceTable,
        priceBy: PriceBy
    ) throws(IngestionError) -> Observation {
        var merged = merge(existing, upsert, eventTime: eventTime, newTraceID: { UUID().uuidString.lowercased() })
        do {
            try merged.applyPricing(prices, priceBy: priceBy)
        } catch {
            throw .invalid(error.description)
        }
        try merged.checkLimits()
        _ = try TenantShares(metadata: merged.metadata)
        return merged
    }

    /// The tenant shares the observation is stored with (empty: not a shared call). Metadata that names shares
    /// wrongly is refused when the event arrives (`stored(merging:...)`); a row stored before that check counts as
    /// unshared.
    public func storedShares(totals: Totals) -> [TenantShares.Share] {
        guard let shares = try? TenantShares(metadata: metadata) else { return [] }
        return shares.shares(of: self, totals: totals)
    }
}

extension ObservationLevel {
    /// Severity as a trace's `max_level` stores it: DEBUG 0, DEFAULT 1, WARNING 2, ERROR 3.
    public var rank: Int64 {
        switch self {
        case .debug: 0
        case .default: 1
        case .warning: 2
        case .error: 3
        }
    }
}
