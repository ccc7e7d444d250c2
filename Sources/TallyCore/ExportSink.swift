import Foundation

/// A billing system Tally pushes usage events to.
public enum ExportSinkType: String, Sendable, CaseIterable {
    /// Lago: `POST {url}/api/v1/events/batch`, `{"events": [...]}`, bearer key.
    case lago
    /// OpenMeter: `POST {url}/api/v1/events`, a CloudEvents 1.0 batch (`application/cloudevents-batch+json`).
    case openmeter
}

/// What a sink does with a call whose billable values changed after its receiver took them (a late usage update, a
/// recompute, an error reported later). Neither Lago nor OpenMeter replaces an event it already has (both drop an id
/// they have seen), so sending the same id again would change nothing.
public enum ExportCorrections: String, Sendable, CaseIterable {
    /// Keep the receiver as it is and list the call under the sink's `corrections` until its values return.
    case list
    /// Send the difference as a new event (`<observation id>:r<revision>`, negative figures allowed); a call whose
    /// tenant, model, feature or time changed gets a reversal of the old event and a new one. The receiver's sums
    /// then equal Tally's.
    case delta
}

/// One sink's settings, with defaults filled in (stored as `json`; the API key is kept apart).
public struct ExportSinkConfig: Sendable, Equatable {
    public var type: ExportSinkType
    public var url: String
    /// Lago's billable metric code.
    public var code = "llm_usage"
    /// The CloudEvents `type` for OpenMeter.
    public var eventType = "llm.usage"
    /// Tenant id → the receiver's id for it (Lago's `external_subscription_id`, OpenMeter's `subject`); a tenant not
    /// in the map is sent as itself.
    public var subjectMap: [String: String] = [:]
    /// The subject for calls without a tenant; nil: they are not sent (and are listed as `unattributed`).
    public var unattributedSubject: String?
    /// Seconds between pushes.
    public var intervalSeconds = 60
    /// A change is pushed once it is this many seconds old, so a call whose usage arrives in a later update (Langfuse
    /// SDKs send a generation's start and end apart) is usually sent once, complete.
    public var settleSeconds = 30
    /// Events per request (Lago takes at most 100).
    public var batchSize = 100
    /// Seconds one request may take.
    public var timeoutSeconds = 10
    /// Bill calls that ended in ERROR too.
    public var includeErrors = false
    /// What a call that read a cache is billed (`cost_usd`); `cache_savings_usd` is sent either way.
    public var cacheBilling = CacheBilling.actual
    public var corrections = ExportCorrections.list

    public init(type: ExportSinkType, url: String) {
        self.type = type
        self.url = url
    }

    public static let maxBatchSize = 100
    public static let maxSubjects = 10_000

    /// `{"type", "url", "apiKey"?, "code"?, "eventType"?, "subjectMap"?, "unattributedSubject"?, "intervalSeconds"?,
    /// "settleSeconds"?, "batchSize"?, "timeoutSeconds"?, "includeErrors"?, "corrections"?, "from"?}` → the config,
    /// the API key and `from` (push the calls already stored that started at or after it). Refusals are
    /// `IngestionError.invalid` naming the field.
    public static func parse(_ body: JSONValue) throws -> (config: ExportSinkConfig, apiKey: String?, from: Timestamp?)
    {
        let r = FieldReader(
            try FieldReader.body(
                body,
                allowed: [
                    "type", "url", "apiKey", "code", "eventType", "subjectMap", "unattributedSubject",
                    "intervalSeconds",
                    "settleSeconds", "batchSize", "timeoutSeconds", "includeErrors", "cacheBilling", "corrections",
                    "from",
                ]), path: "body")
        guard let type = try r.enumValue("type", ExportSinkType.self) else {
            throw IngestionError.invalid("body.type: required (lago or openmeter)")
        }
        guard let url = try r.httpURL("url") else { throw IngestionError.invalid("body.url: required") }
        var c = ExportSinkConfig(type: type, url: url.hasSuffix("/") ? String(url.dropLast()) : url)
        try c.read(r)
        return (c, try r.string("apiKey", maxLength: 1_000), try r.timestamp("from"))
    }

    /// The stored settings (no API key).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "type": .string(type.rawValue), "url": .string(url),
            "subjectMap": .object(subjectMap.mapValues(JSONValue.string)),
            "intervalSeconds": .int(Int64(intervalSeconds)), "settleSeconds": .int(Int64(settleSeconds)),
            "batchSize": .int(Int64(batchSize)), "timeoutSeconds": .int(Int64(timeoutSeconds)),
            "includeErrors": .bool(includeErrors), "cacheBilling": .string(cacheBilling.rawValue),
            "corrections": .string(corrections.rawValue),
            "unattributedSubject": unattributedSubject.map(JSONValue.string) ?? .null,
        ]
        switch type {
        case .lago: o["code"] = .string(code)
        case .openmeter: o["eventType"] = .string(eventType)
        }
        return .object(o)
    }

    /// The settings `json` wrote (nil if they do not read back).
    public init?(json: JSONValue) {
        guard case .object(let o) = json, let type = o["type"]?.stringValue.flatMap(ExportSinkType.init),
            let url = o["url"]?.stringValue
        else { return nil }
        self.init(type: type, url: url)
        guard (try? read(FieldReader(o, path: "config"))) != nil else { return nil }
    }

    private mutating func read(_ r: FieldReader) throws {
        if let code = try r.string("code", maxLength: 200) { self.code = try Self.nonEmpty(code, "code") }
        if let t = try r.string("eventType", maxLength: 200) { eventType = try Self.nonEmpty(t, "eventType") }
        if let map = try r.object("subjectMap") {
            guard map.count <= Self.maxSubjects else {
                throw IngestionError.invalid("body.subjectMap: at most \(Self.maxSubjects) tenants")
            }
            subjectMap = try map.mapValues { v in
                guard case .string(let s) = v, !s.isEmpty, s.count <= 1_000 else {
                    throw IngestionError.invalid("body.subjectMap: values must be non-empty strings")
                }
                return s
            }
        }
        if let s = try r.string("unattributedSubject", maxLength: 1_000) {
            unattributedSubject = try Self.nonEmpty(s, "unattributedSubject")
        }
        intervalSeconds = try Self.bounded(r, "intervalSeconds", 1...86_400) ?? intervalSeconds
        settleSeconds = try Self.bounded(r, "settleSeconds", 0...3_600) ?? settleSeconds
        batchSize = try Self.bounded(r, "batchSize", 1...Self.maxBatchSize) ?? batchSize
        timeoutSeconds = try Self.bounded(r, "timeoutSeconds", 1...120) ?? timeoutSeconds
        includeErrors = try r.bool("includeErrors") ?? includeErrors
        cacheBilling = try r.enumValue("cacheBilling", CacheBilling.self) ?? cacheBilling
        corrections = try r.enumValue("corrections", ExportCorrections.self) ?? corrections
    }

    private static func bounded(_ r: FieldReader, _ key: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let v = try r.int(key) else { return nil }
        guard range.contains(v) else {
            throw IngestionError.invalid("\(r.path).\(key): expected \(range.lowerBound) to \(range.upperBound)")
        }
        return v
    }

    private static func nonEmpty(_ s: String, _ key: String) throws -> String {
        guard !s.isEmpty else { throw IngestionError.invalid("body.\(key): must not be empty") }
        return s
    }

    /// A sink's name: 1 to 64 ASCII letters, digits, `.`, `_` or `-`; nil if `name` is not one.
    public static func validName(_ name: String) -> String? {
        let allowed = name.unicodeScalars.allSatisfy { s in
            s.isASCII && (CharacterSet.alphanumerics.contains(s) || "._-".unicodeScalars.contains(s))
        }
        return allowed && (1...64).contains(name.count) ? name : nil
    }

    /// The receiver's id for `tenant` (nil: the call has no tenant and the sink no subject for such calls).
    public func subject(tenant: String?) -> String? {
        guard let tenant, !tenant.isEmpty else { return unattributedSubject }
        return subjectMap[tenant] ?? tenant
    }
}
