import TallyCore

/// A stored channel (the secret is never read back out through the API).
public struct AlertChannel: Sendable, Equatable {
    public var id: String
    public var name: String
    public var type: String
    public var url: String
    public var hasSecret: Bool

    public init(id: String, name: String, type: String, url: String, hasSecret: Bool) {
        self.id = id
        self.name = name
        self.type = type
        self.url = url
        self.hasSecret = hasSecret
    }
}

/// One firing of a rule for one subject, with its deliveries.
public struct AlertFiring: Sendable {
    public struct Delivery: Sendable {
        public var channel: String
        public var event: String
        public var status: String
        public var attempts: Int
        public var lastStatus: Int?
        public var lastError: String?
        public var deliveredAt: Timestamp?

        public init(
            channel: String, event: String, status: String, attempts: Int, lastStatus: Int? = nil,
            lastError: String? = nil, deliveredAt: Timestamp? = nil
        ) {
            self.channel = channel
            self.event = event
            self.status = status
            self.attempts = attempts
            self.lastStatus = lastStatus
            self.lastError = lastError
            self.deliveredAt = deliveredAt
        }
    }
    public var id: String
    public var ruleID: String
    public var ruleName: String
    public var ruleType: String
    public var subject: JSONValue
    public var value: Double
    public var threshold: Double
    public var message: String
    public var firedAt: Timestamp
    public var resolvedAt: Timestamp?
    public var deliveries: [Delivery]

    public init(
        id: String, ruleID: String, ruleName: String, ruleType: String, subject: JSONValue, value: Double,
        threshold: Double, message: String, firedAt: Timestamp, resolvedAt: Timestamp? = nil, deliveries: [Delivery]
    ) {
        self.id = id
        self.ruleID = ruleID
        self.ruleName = ruleName
        self.ruleType = ruleType
        self.subject = subject
        self.value = value
        self.threshold = threshold
        self.message = message
        self.firedAt = firedAt
        self.resolvedAt = resolvedAt
        self.deliveries = deliveries
    }
}

/// A webhook due to be sent.
public struct PendingDelivery: Sendable {
    public var id: Int64
    public var url: String
    public var type: String
    public var secret: String?
    public var body: String
    public var attempts: Int
    public var givesUpAt: Timestamp

    public init(
        id: Int64, url: String, type: String, secret: String? = nil, body: String, attempts: Int, givesUpAt: Timestamp
    ) {
        self.id = id
        self.url = url
        self.type = type
        self.secret = secret
        self.body = body
        self.attempts = attempts
        self.givesUpAt = givesUpAt
    }
}

/// Alert webhook bodies.
public enum AlertPayload {
    /// The exact body sent: for webhooks the alert JSON (signed as is), for Slack `{"text"}`.
    public static func body(
        rule: AlertRule, firingID: String, channelID: String, channelType: String, event: String, subject: JSONValue,
        value: Double, threshold: Double, message: String, firedAt: Timestamp, resolvedAt: Timestamp?,
        details: [String: JSONValue], baseURL: String
    ) -> String {
        if channelType == "slack" {
            let prefix = event == "alert.firing" ? "Tally alert" : "Resolved"
            return JSONValue.object(["text": .string("\(prefix): \(rule.name): \(message)")]).serialized()
        }
        var body: [String: JSONValue] = [
            "id": .string("\(firingID).\(channelID).\(event == "alert.firing" ? "firing" : "resolved")"),
            "type": .string(event),
            "rule": ["id": .string(rule.id), "name": .string(rule.name), "type": .string(rule.type.rawValue)],
            "subject": subject, "value": .double(value), "threshold": .double(threshold), "message": .string(message),
            "firedAt": .string(firedAt.iso8601), "url": .string("\(baseURL)/#/alerts?firing=\(firingID)"),
        ]
        if let resolvedAt { body["resolvedAt"] = .string(resolvedAt.iso8601) }
        if !details.isEmpty {
            // In-app links (`#/…`) become absolute.
            body["details"] = .object(
                details.mapValues { v in
                    if case .string(let s) = v, s.hasPrefix("#/") { return .string("\(baseURL)/\(s)") }
                    return v
                })
        }
        return JSONValue.object(body).serialized()
    }
}

/// The alert outbox's timings.
public enum AlertDelivery {
    /// How long a delivery is retried (24 h).
    public static let lifetimeMicros: Int64 = 24 * 3_600_000_000
    /// How long a collector that took a due delivery has to send it and record the attempt before another may
    /// (5 min: a pass of 200 deliveries, 8 at a time, each at most 10 s, fits).
    public static let leaseMicros: Int64 = 300_000_000
}

extension AlertRule {
    /// A rule from its stored columns (JSON as text); nil for a type or params this version does not know.
    public static func stored(
        id: String, name: String, type: String, params: String, channels: String, actions: String, enabled: Bool
    ) -> AlertRule? {
        guard let type = AlertRuleType(rawValue: type), let params = StoredJSON.jsonValue(params)?.objectValue
        else { return nil }
        let channels = StoredJSON.strings(channels)
        let actions = (StoredJSON.jsonValue(actions)?.arrayValue ?? []).compactMap {
            try? AlertInput.action($0, path: "actions")
        }
        return AlertRule(
            id: id, name: name, type: type, params: params, channels: channels, actions: actions, enabled: enabled)
    }

    /// The rules every project starts with: the five cost alerts with their default parameters, enabled, without a
    /// channel (they show in the UI and `GET /alerts` until a channel is added).
    public static let seeds: [(id: String, name: String, type: AlertRuleType)] = [
        ("seed-tenant-spike", "Tenant spend spike", .tenantSpike),
        ("seed-feature-regression", "Feature token regression", .featureRegression),
        ("seed-error-burn", "Error burn", .errorBurn),
        ("seed-budget-threshold", "Budget thresholds", .budgetThreshold),
        ("seed-embed-surge", "Embedding surge", .embedSurge),
    ]
}
