import Foundation
/// Page-based pagination as Langfuse's public API does it: `page` ≥ 1, `limit` 1–100.
public struct PageRequest: Sendable, Hashable {
    public static let maxLimit = 100
    public var page: Int
    public var limit: Int

    public init(page: Int = 1, limit: Int = 50) {
        self.page = page
        self.limit = limit
    }

    public var offset: Int { (page - 1) * limit }
}

/// One page of results and the total across all pages.
public struct Paged<Item: Sendable>: Sendable {
    public var items: [Item]
    public var totalItems: Int
    public var page: PageRequest

    public init(items: [Item], totalItems: Int, page: PageRequest) {
        self.items = items
        self.totalItems = totalItems
        self.page = page
    }

    public var totalPages: Int { totalItems == 0 ? 0 : (totalItems + page.limit - 1) / page.limit }
}

public enum SortDirection: String, Sendable { case asc, desc }

/// Filters of `GET /api/public/traces` (COMPAT §4.2).
public struct TraceQuery: Sendable, Hashable {
    public enum OrderField: String, Sendable, CaseIterable {
        case id, timestamp, name, userId, release, version, `public`, bookmarked, sessionId
    }

    public var page = PageRequest()
    public var userID: String?
    public var name: String?
    public var sessionID: String?
    /// Trace timestamp ≥ from and < to.
    public var from: Timestamp?
    public var to: Timestamp?
    public var orderField: OrderField = .timestamp
    public var orderDirection: SortDirection = .desc
    /// Every tag must be present.
    public var tags: [String] = []
    public var version: String?
    public var release: String?
    /// Any of these environments.
    public var environments: [String] = []
    public var tenant: String?

    public init() {}
}

/// A trace with the figures the list and detail endpoints report.
public struct TraceSummary: Sendable {
    public var trace: Trace
    public var observationIDs: [String]
    public var scoreIDs: [String]
    /// Seconds from the earliest observation start to the latest end (0 without observations).
    public var latency: Double
    /// USD summed over the trace's observations (exact: summed as nano-USD integers).
    public var totalCost: Double

    public init(trace: Trace, observationIDs: [String], scoreIDs: [String], latency: Double, totalCost: Double) {
        self.trace = trace
        self.observationIDs = observationIDs
        self.scoreIDs = scoreIDs
        self.latency = latency
        self.totalCost = totalCost
    }
}

/// Filters of `GET /api/public/observations` (COMPAT §4.3).
public struct ObservationQuery: Sendable, Hashable {
    public var page = PageRequest()
    public var name: String?
    public var userID: String?
    public var type: ObservationType?
    public var traceID: String?
    public var level: ObservationLevel?
    public var parentObservationID: String?
    public var environments: [String] = []
    public var fromStartTime: Timestamp?
    public var toStartTime: Timestamp?
    public var version: String?
    /// `GET /v2/observations` only: the trace's session; root observations only (true) or children only (false);
    /// Langfuse's `filter` conditions (the metrics query's shape) on the columns of `ObservationWithTrace`.
    public var sessionID: String?
    public var isRoot: Bool?
    public var filters: [MetricsQuery.Filter] = []

    public init() {}
}

/// An observation with the fields of its trace that `GET /v2/observations` answers next to it.
public struct ObservationWithTrace: Sendable, Hashable {
    public var observation: Observation
    public var traceName: String?
    public var userID: String?
    public var sessionID: String?
    public var release: String?
    public var tags: [String]
    public var bookmarked: Bool
    public var isPublic: Bool

    public init(
        observation: Observation, traceName: String?, userID: String?, sessionID: String?, release: String?,
        tags: [String], bookmarked: Bool, isPublic: Bool
    ) {
        self.observation = observation
        self.traceName = traceName
        self.userID = userID
        self.sessionID = sessionID
        self.release = release
        self.tags = tags
        self.bookmarked = bookmarked
        self.isPublic = isPublic
    }
}

/// Filters of `GET /api/public/sessions`.
public struct SessionQuery: Sendable, Hashable {
    public var page = PageRequest()
    public var from: Timestamp?
    public var to: Timestamp?
    public var environments: [String] = []

    public init() {}
}

public struct Session: Sendable, Hashable {
    public var id: String
    public var createdAt: Timestamp
    public var environment: String

    public init(id: String, createdAt: Timestamp, environment: String) {
        self.id = id
        self.createdAt = createdAt
        self.environment = environment
    }
}

/// Filters of `GET /api/public/scores` and `/v2/scores` (COMPAT §4.5).
public struct ScoreQuery: Sendable, Hashable {
    public enum Comparison: String, Sendable, CaseIterable {
        case lt = "<", gt = ">", lte = "<=", gte = ">=", ne = "!=", eq = "="
    }

    public var page = PageRequest()
    public var userID: String?
    /// Each list matches any of its values (v1 and v2 give at most one name, data type, source, config and queue;
    /// v3 comma lists).
    public var names: [String] = []
    public var dataTypes: [ScoreDataType] = []
    public var sources: [ScoreSource] = []
    public var configIDs: [String] = []
    public var queueIDs: [String] = []
    public var traceTags: [String] = []
    public var environments: [String] = []
    public var from: Timestamp?
    public var to: Timestamp?
    public var value: Double?
    public var comparison: Comparison = .eq
    public var scoreIDs: [String] = []
    public var traceIDs: [String] = []
    public var observationIDs: [String] = []
    public var sessionIDs: [String] = []
    public var datasetRunIDs: [String] = []
    /// `GET /v3/scores` only: `valueMin`/`valueMax` bound numeric values (inclusive); `valueText` matches a
    /// numeric value equal to it or a string value; `authorUserIDs` match nothing (Tally stores no author).
    public var authorUserIDs: [String] = []
    public var valueMin: Double?
    public var valueMax: Double?
    public var valueText: String?

    public init() {}
}

/// A score with the fields of its trace that the score list reports.
public struct ScoreWithTrace: Sendable, Hashable {
    public var score: Score
    public var traceUserID: String?
    public var traceTags: [String]?
    public var traceEnvironment: String?
    public var traceSessionID: String?

    public init(
        score: Score, traceUserID: String?, traceTags: [String]?, traceEnvironment: String?, traceSessionID: String?
    ) {
        self.score = score
        self.traceUserID = traceUserID
        self.traceTags = traceTags
        self.traceEnvironment = traceEnvironment
        self.traceSessionID = traceSessionID
    }
}

/// The UI's trace list: every filter of the trace table plus observation-level ones (prompt, model, level) and
/// free text on the name. Pages by offset or by keyset cursor (`after`: every page costs what the first one does)
/// without a total count (`hasMore` instead), so a filter change costs one page of work, not a count of every match.
public struct TraceListQuery: Sendable, Hashable {
    public enum Sort: String, Sendable, CaseIterable {
        case timestamp, name, totalCost, latency, totalTokens
    }

    public var from: Timestamp?
    public var to: Timestamp?
    public var tenant: String?
    public var feature: String?
    /// Every tag must be present.
    public var tags: [String] = []
    public var promptName: String?
    public var promptVersion: Int?
    /// Requested or response model of some observation.
    public var model: String?
    public var userID: String?
    public var sessionID: String?
    public var environments: [String] = []
    /// Some observation has this level.
    public var level: ObservationLevel?
    /// Case-insensitive substring of the trace name.
    public var nameContains: String?
    public var sort: Sort = .timestamp
    public var ascending = false
    public var offset = 0
    public var limit = 50
    /// Keyset paging: the page after this position of the same query and sort (offset is then 0).
    public var after: ListCursor?

    public init() {}
}

/// A position in a sorted list (traces, observations, scores): the sort key of the last row shown and its id.
/// Opaque to clients: `token` is base64url of a small JSON array; `init(token:)` is nil for anything it did not make.
public struct ListCursor: Sendable, Hashable {
    /// µs for time sorts, nano-USD, µs or tokens for the totals sorts, the name (or "") for name.
    public var key: JSONValue
    public var id: String

    public init(key: JSONValue, id: String) {
        self.key = key
        self.id = id
    }

    public var token: String {
        Data(JSONValue.array([key, .string(id)]).serialized().utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard token.utf8.count <= 2_048, let data = Data(base64Encoded: base64),
            case .array(let parts)? = try? JSONValue.parse(data), parts.count == 2, case .string(let id) = parts[1]
        else { return nil }
        switch parts[0] {
        case .int, .string: key = parts[0]
        default: return nil
        }
        self.id = id
    }
}

/// One model call as the call log writes it: the stored observation, its trace's user, and whether the write that
/// named it changed an observation stored before (a re-send or an update).
public struct ModelCall: Sendable, Hashable {
    public var observation: Observation
    public var userID: String?
    public var update: Bool

    public init(observation: Observation, userID: String?, update: Bool) {
        self.observation = observation
        self.userID = userID
        self.update = update
    }
}
