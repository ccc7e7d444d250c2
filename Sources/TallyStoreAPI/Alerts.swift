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
