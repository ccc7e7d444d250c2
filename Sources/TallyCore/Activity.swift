/// Who spends and where conversations run long: the Users and Sessions views' queries and rows.

/// Users with traces in a range, with their spend; sorted, paged.
public struct UserListQuery: Sendable, Hashable {
    public enum Sort: String, Sendable, CaseIterable {
        case cost, traces, tokens, errorRate, firstSeen, lastSeen, userId
    }

    public static let maxLimit = 500

    /// Trace timestamp ≥ from and < to. Whole UTC days are read from the user rollup, partial days from the traces.
    public var from: Timestamp?
    public var to: Timestamp?
    public var tenants: [String] = []
    public var environments: [String] = []
    public var sort: Sort = .cost
    public var ascending = false
    public var limit = 50
    public var offset = 0

    public init() {}
}

public struct UserRow: Sendable, Hashable {
    public var userID: String
    public var traces: Int64
    /// Traces with an ERROR observation.
    public var errors: Int64
    public var tokens: Int64
    public var costNanos: Int64
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp
    /// The user's tenant when all their traces in the range name the same one (nil: none, or several).
    public var tenant: String?
    /// True when their traces name more than one tenant (a trace without one counts as one).
    public var severalTenants: Bool

    public init(
        userID: String, traces: Int64, errors: Int64, tokens: Int64, costNanos: Int64, firstSeen: Timestamp,
        lastSeen: Timestamp, tenant: String?, severalTenants: Bool
    ) {
        self.userID = userID
        self.traces = traces
        self.errors = errors
        self.tokens = tokens
        self.costNanos = costNanos
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.tenant = tenant
        self.severalTenants = severalTenants
    }

    public var errorRate: Double { traces == 0 ? 0 : Double(errors) / Double(traces) }
}

/// Sessions, newest first (by their first trace), optionally those of a tenant or user.
public struct SessionListQuery: Sendable, Hashable {
    public static let maxLimit = 200

    /// The session's first trace (its start) ≥ from and < to.
    public var from: Timestamp?
    public var to: Timestamp?
    public var tenants: [String] = []
    public var userID: String?
    public var environments: [String] = []
    public var limit = 50
    public var offset = 0

    public init() {}
}

/// One session's totals over all its traces.
public struct SessionRow: Sendable, Hashable {
    public var sessionID: String
    public var traces: Int64
    public var errors: Int64
    public var tokens: Int64
    public var costNanos: Int64
    public var start: Timestamp
    public var end: Timestamp
    /// The one user (tenant) of its traces, nil when none or several.
    public var userID: String?
    public var tenant: String?
    public var userCount: Int64

    public init(
        sessionID: String, traces: Int64, errors: Int64, tokens: Int64, costNanos: Int64, start: Timestamp,
        end: Timestamp, userID: String?, tenant: String?, userCount: Int64
    ) {
        self.sessionID = sessionID
        self.traces = traces
        self.errors = errors
        self.tokens = tokens
        self.costNanos = costNanos
        self.start = start
        self.end = end
        self.userID = userID
        self.tenant = tenant
        self.userCount = userCount
    }
}
