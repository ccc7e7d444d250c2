import Foundation

/// The billing export (`GET /api/tally/v1/exports/usage`): model calls (GENERATION and EMBEDDING observations)
/// summed per group and time bucket, with the figures a billing system meters. Money stays integer nano-USD until it
/// is written, as an exact decimal string.
public struct UsageExportQuery: Sendable, Hashable {
    public var filter = AnalyticsFilter()
    /// Up to `BreakdownQuery.maxDimensions` of the breakdown's dimensions.
    public var dimensions: [AnalyticsDimension] = []
    public var bucket: TimeBucket?
    /// Billing rule: calls that ended in ERROR are billed only when true. Either way they are also reported apart
    /// (`errorCalls`, `errorCostNanos`).
    public var includeErrors = false
    /// What a call that read a cache is billed: what it cost, or its list price (cost + `cacheSavingsNanos`).
    public var cacheBilling = CacheBilling.actual

    public init() {}
}

/// One group of the export: its billable calls and their `UsageFigures` (whose fields read through,
/// `row.costNanos`), which follow `includeErrors`.
@dynamicMemberLookup
public struct UsageRow: Sendable, Hashable {
    /// The group's dimension values, in the query's order (nil: none named).
    public var keys: [String?]
    /// The bucket's name (`2026-11-30`, `2026-11`, …), nil without a bucket.
    public var bucket: String?
    public var calls: Int64 = 0
    public var figures = UsageFigures()
    public var errorCalls: Int64 = 0
    public var errorCostNanos: Int64 = 0

    public init(keys: [String?], bucket: String?) {
        self.keys = keys
        self.bucket = bucket
    }

    public subscript(dynamicMember path: WritableKeyPath<UsageFigures, Int64>) -> Int64 {
        get { figures[keyPath: path] }
        set { figures[keyPath: path] = newValue }
    }
}

/// What a tenant is charged for a call that read a cache: `actual` (what it cost: the cache's saving is passed on) or
/// `list` (its list price, as if every cache-read token were fresh input: the saving is kept).
public enum CacheBilling: String, Sendable, CaseIterable {
    case actual, list
}

public enum UsageExportFormat: String, Sendable, CaseIterable {
    case json, csv, jsonl

    public var contentType: String {
        switch self {
        case .json: "application/json; charset=utf-8"
        case .csv: "text/csv; charset=utf-8"
        case .jsonl: "application/x-ndjson; charset=utf-8"
        }
    }
}

extension UsageRow {
    /// The row as JSON fields: the dimensions by name, `bucket` when bucketed, counts as numbers, money as strings.
    public func object(_ query: UsageExportQuery) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for (d, key) in zip(query.dimensions, keys) { out[d.name] = key.map { .string($0) } ?? .null }
        if query.bucket != nil { out["bucket"] = bucket.map { .string($0) } ?? .null }
        for (name, value) in Self.columns { out[name] = value(self) }
        return out
    }

    /// The measure columns in export order.
    static let columns: [(String, @Sendable (UsageRow) -> JSONValue)] = [
        ("calls", { .int($0.calls) }), ("inputTokens", { .int($0.inputTokens) }),
        ("outputTokens", { .int($0.outputTokens) }), ("cacheReadTokens", { .int($0.cacheReadTokens) }),
        ("cacheWriteTokens", { .int($0.cacheWriteTokens) }), ("reasoningTokens", { .int($0.reasoningTokens) }),
        ("costUsd", { .string(Money.decimal(nanos: $0.costNanos)) }),
        ("cacheSavingsUsd", { .string(Money.decimal(nanos: $0.cacheSavingsNanos)) }),
        ("errorCalls", { .int($0.errorCalls) }),
        ("errorCostUsd", { .string(Money.decimal(nanos: $0.errorCostNanos)) }),
    ]

    /// The header names of a CSV export of `query`.
    public static func csvHeader(_ query: UsageExportQuery) -> [String] {
        query.dimensions.map(\.name) + (query.bucket == nil ? [] : ["bucket"]) + columns.map(\.0)
    }

    /// The row's CSV cells, in `csvHeader` order.
    public func csvCells(_ query: UsageExportQuery) -> [String] {
        keys.map { $0 ?? "" } + (query.bucket == nil ? [] : [bucket ?? ""])
            + Self.columns.map { name, value in
                switch value(self) {
                case .int(let v): String(v)
                case .string(let s): s
                default: ""
                }
            }
    }
}

/// RFC 4180 CSV: CRLF line ends, fields with a comma, quote or line break quoted (quotes doubled). A field that a
/// spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) is prefixed with an apostrophe, unless
/// it is a number: tenant ids and model names come from clients.
public enum CSV {
    public static func line(_ fields: [String]) -> String {
        fields.map(cell).joined(separator: ",") + "\r\n"
    }

    static func cell(_ raw: String) -> String {
        var value = raw
        if let first = value.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first), Double(value) == nil {
            value = "'" + value
        }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
