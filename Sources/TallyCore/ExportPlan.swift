import Foundation

/// A model call as a sink bills it: the stored observation's billing fields (tokens in units, money in nano-USD).
/// A shared call (`TenantShares`) is billed as one call per tenant share, with the share's tenant and figures.
public struct BillableCall: Sendable, Equatable {
    /// The id the sink bills it by (events, ledger, issues): the observation id, or `<observation id>#<tenant>` for
    /// one tenant's share of a shared call.
    public var id: String
    public var observationID: String
    public var traceID: String
    public var type: String
    public var environment: String
    public var tenant: String?
    public var feature: String?
    public var model: String?
    public var isError = false
    public var isPlaceholder = false
    public var startTime: Timestamp
    public var figures = UsageFigures()
    /// Set on a billing id the receiver holds figures for that no longer stands for anything (a call that became
    /// shared, or a tenant no longer in its shares): what it holds is corrected to nothing.
    public var withdrawn = false

    public init(
        observationID: String, traceID: String, type: String, environment: String, startTime: Timestamp,
        shareTenant: String? = nil
    ) {
        self.id = shareTenant.map { Self.shareID(observationID, tenant: $0) } ?? observationID
        self.observationID = observationID
        self.traceID = traceID
        self.type = type
        self.environment = environment
        self.startTime = startTime
    }

    /// The billing id of `tenant`'s share of a shared call.
    public static func shareID(_ observationID: String, tenant: String) -> String { "\(observationID)#\(tenant)" }
}

/// The figures one receiver holds for one call (or, in an event, the figures it adds: a correction's may be
/// negative). `subject`, `model`, `feature` and `timestamp` place the figures; the rest are summed by the receiver.
public struct BilledValues: Sendable, Equatable {
    public var subject: String
    public var model: String
    public var feature: String
    /// µs since the epoch (events carry it as seconds or RFC 3339).
    public var timestamp: Int64
    public var figures: UsageFigures

    public init(subject: String, model: String, feature: String, timestamp: Int64, figures: UsageFigures) {
        self.subject = subject
        self.model = model
        self.feature = feature
        self.timestamp = timestamp
        self.figures = figures
    }

    /// Whether both place their figures in the same series and period.
    func sameSeries(_ other: BilledValues) -> Bool {
        subject == other.subject && model == other.model && feature == other.feature && timestamp == other.timestamp
    }

    /// The same place with other figures.
    func with(_ figures: UsageFigures) -> BilledValues {
        var v = self
        v.figures = figures
        return v
    }

    public var json: JSONValue {
        [
            "subject": .string(subject), "model": .string(model), "feature": .string(feature),
            "timestamp": .string(Timestamp(microseconds: timestamp).iso8601),
            "inputTokens": .int(figures.inputTokens), "outputTokens": .int(figures.outputTokens),
            "cacheReadTokens": .int(figures.cacheReadTokens), "cacheWriteTokens": .int(figures.cacheWriteTokens),
            "reasoningTokens": .int(figures.reasoningTokens),
            "costUsd": .string(Money.decimal(nanos: figures.costNanos)),
            "cacheSavingsUsd": .string(Money.decimal(nanos: figures.cacheSavingsNanos)),
        ]
    }
}

/// What a sink's receiver holds for a call: `values` after `revision` sends (revision 0: never sent; values nil:
/// nothing, e.g. after a reversal).
public struct LedgerEntry: Sendable, Equatable {
    public var revision: Int
    public var values: BilledValues?

    public init(revision: Int, values: BilledValues?) {
        self.revision = revision
        self.values = values
    }
}

/// One usage event. `id` is stable: the first send of a call is its observation id; a correction is
/// `<observation id>:r<revision>` (and `…:reversal` for the reversal of an event placed elsewhere), so a re-send
/// after a crash or timeout carries the same id and the receiver drops the duplicate.
public struct ExportEvent: Sendable, Equatable {
    public var id: String
    public var call: BillableCall
    public var values: BilledValues
    /// Set on corrections: the revision this event makes.
    public var revision: Int?
}

/// A call's events, sent in one request, and the ledger entry that holds once the receiver took them.
public struct ExportPush: Sendable, Equatable {
    public var call: BillableCall
    public var events: [ExportEvent]
    public var ledger: LedgerEntry
}

public enum ExportIssueKind: String, Sendable, CaseIterable {
    case correction, rejected, unattributed
}

/// Records (`detail` set) or clears (nil) one issue of one call.
public struct ExportIssueChange: Sendable, Equatable {
    public var observationID: String
    public var traceID: String
    public var kind: ExportIssueKind
    /// The figure the issue is about, nano-USD: a correction's difference, an unattributed or rejected call's cost.
    public var costNanos: Int64
    public var detail: JSONValue?

    public init(observationID: String, traceID: String, kind: ExportIssueKind, costNanos: Int64, detail: JSONValue?) {
        self.observationID = observationID
        self.traceID = traceID
        self.kind = kind
        self.costNanos = costNanos
        self.detail = detail
    }
}

public struct ExportPlan: Sendable, Equatable {
    public var pushes: [ExportPush] = []
    /// For calls that are not pushed (a pushed call's issues are cleared when its push is taken).
    public var issues: [ExportIssueChange] = []
}

/// Decides what a sink sends for calls that changed, from their current values and what its receiver holds.
public enum ExportPlanner {
    public static func plan(
        _ calls: [BillableCall], ledger: [String: LedgerEntry], config: ExportSinkConfig
    ) -> ExportPlan {
        var plan = ExportPlan()
        for call in calls {
            let billable =
                ["GENERATION", "EMBEDDING"].contains(call.type) && !call.isPlaceholder
                && (config.includeErrors || !call.isError) && !call.withdrawn
            let subject = config.subject(tenant: call.tenant)
            let target = billable ? subject.map { values(call, subject: $0, cacheBilling: config.cacheBilling) } : nil
            let entry = ledger[call.id] ?? LedgerEntry(revision: 0, values: nil)
            func issue(_ kind: ExportIssueKind, cost: Int64 = 0, _ detail: JSONValue?) {
                plan.issues.append(
                    ExportIssueChange(
                        observationID: call.id, traceID: call.traceID, kind: kind, costNanos: cost,
                        detail: detail))
            }
            let unattributed = billable && subject == nil
            if target == entry.values {
                issue(.correction, nil)
                issue(
                    .unattributed, cost: call.figures.costNanos, unattributed ? .some(unattributedDetail(call)) : .none)
                continue
            }
            if entry.revision == 0, let target {
                plan.pushes.append(
                    ExportPush(
                        call: call, events: [ExportEvent(id: call.id, call: call, values: target)],
                        ledger: LedgerEntry(revision: 1, values: target)))
                continue
            }
            issue(.unattributed, cost: call.figures.costNanos, unattributed ? .some(unattributedDetail(call)) : .none)
            switch config.corrections {
            case .list:
                let pushedCost = entry.values?.figures.costNanos ?? 0
                issue(
                    .correction, cost: (target?.figures.costNanos ?? 0).subtractingSaturating(pushedCost),
                    [
                        "revision": .int(Int64(entry.revision)), "pushed": entry.values?.json ?? .null,
                        "current": target?.json ?? .null,
                    ])
            case .delta:
                let revision = entry.revision + 1
                let id = "\(call.id):r\(revision)"
                var events: [ExportEvent] = []
                if let old = entry.values, let target, old.sameSeries(target) {
                    events.append(
                        ExportEvent(
                            id: id, call: call, values: target.with(target.figures.minus(old.figures)),
                            revision: revision))
                } else {
                    if let old = entry.values {
                        events.append(
                            ExportEvent(
                                id: id + ":reversal", call: call, values: old.with(old.figures.negated),
                                revision: revision))
                    }
                    if let target { events.append(ExportEvent(id: id, call: call, values: target, revision: revision)) }
                }
                plan.pushes.append(
                    ExportPush(call: call, events: events, ledger: LedgerEntry(revision: revision, values: target)))
            }
        }
        return plan
    }

    static func values(_ c: BillableCall, subject: String, cacheBilling: CacheBilling) -> BilledValues {
        var figures = c.figures
        if cacheBilling == .list { figures.costNanos = figures.costNanos.addingSaturating(figures.cacheSavingsNanos) }
        return BilledValues(
            subject: subject, model: c.model ?? "", feature: c.feature ?? "", timestamp: c.startTime.microseconds,
            figures: figures)
    }

    static func unattributedDetail(_ c: BillableCall) -> JSONValue {
        [
            "model": .string(c.model ?? ""), "feature": .string(c.feature ?? ""),
            "startTime": .string(c.startTime.iso8601), "costUsd": .string(Money.decimal(nanos: c.figures.costNanos)),
        ]
    }
}

/// The HTTP request that carries a batch of events to a sink's receiver.
public struct ExportRequest: Sendable {
    public var url: String
    public var headers: [(String, String)]
    public var body: String

    /// Lago: `POST {url}/api/v1/events/batch` with `{"events": [{transaction_id, external_subscription_id, code,
    /// timestamp (unix seconds), properties}]}`. OpenMeter: `POST {url}/api/v1/events` with a JSON array of CloudEvents
    /// 1.0 (`source` = `tally/<project>`, `subject` = the receiver's id, `time` RFC 3339, `data`). Both with
    /// `Authorization: Bearer <key>` when the sink has one. Tokens are integers; `cost_usd` the exact decimal string.
    public init(_ events: [ExportEvent], config: ExportSinkConfig, apiKey: String?, projectID: String) {
        var headers: [(String, String)] = []
        if let apiKey { headers.append(("Authorization", "Bearer \(apiKey)")) }
        switch config.type {
        case .lago:
            url = config.url + "/api/v1/events/batch"
            headers.append(("Content-Type", "application/json"))
            body = JSONValue.object([
                "events": .array(
                    events.map { e in
                        [
                            "transaction_id": .string(e.id), "external_subscription_id": .string(e.values.subject),
                            "code": .string(config.code),
                            "timestamp": .int(Self.floorDiv(e.values.timestamp, 1_000_000)),
                            "properties": .object(Self.properties(e)),
                        ]
                    })
            ]).serialized()
        case .openmeter:
            url = config.url + "/api/v1/events"
            headers.append(("Content-Type", "application/cloudevents-batch+json"))
            body = JSONValue.array(
                events.map { e in
                    [
                        "specversion": "1.0", "id": .string(e.id), "source": .string("tally/\(projectID)"),
                        "type": .string(config.eventType), "subject": .string(e.values.subject),
                        "time": .string(Timestamp(microseconds: e.values.timestamp).iso8601),
                        "datacontenttype": "application/json", "data": .object(Self.properties(e)),
                    ]
                }
            ).serialized()
        }
        self.headers = headers
    }

    static func properties(_ e: ExportEvent) -> [String: JSONValue] {
        let v = e.values
        let f = v.figures
        var p: [String: JSONValue] = [
            "model": .string(v.model), "environment": .string(e.call.environment),
            "type": .string(e.call.type.lowercased()), "trace_id": .string(e.call.traceID),
            "observation_id": .string(e.call.observationID), "input_tokens": .int(f.inputTokens),
            "output_tokens": .int(f.outputTokens), "cache_read_tokens": .int(f.cacheReadTokens),
            "cache_write_tokens": .int(f.cacheWriteTokens), "reasoning_tokens": .int(f.reasoningTokens),
            "total_tokens": .int(f.totalTokens), "cost_usd": .string(Money.decimal(nanos: f.costNanos)),
            "cache_savings_usd": .string(Money.decimal(nanos: f.cacheSavingsNanos)),
        ]
        if !v.feature.isEmpty { p["feature"] = .string(v.feature) }
        if let tenant = e.call.tenant, !tenant.isEmpty, !e.id.hasSuffix(":reversal") {
            p["tenant_id"] = .string(tenant)
        }
        if let revision = e.revision {
            p["correction_of"] = .string(e.call.id)
            p["revision"] = .int(Int64(revision))
        }
        return p
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return a % b < 0 ? q - 1 : q
    }
}
