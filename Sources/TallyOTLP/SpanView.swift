import Foundation
import TallyCore

/// One OTLP span flattened for the mapping rules: attributes as JSON values by key, its resource and scope,
/// events, status, hex ids and microsecond times. Rules read only this, never the protobuf types.
public struct SpanView: Sendable {
    public struct Event: Sendable {
        public var name: String
        public var time: Timestamp?
        public var attributes: [String: JSONValue]
    }

    public var traceID: String
    public var spanID: String
    /// nil for a root span (no parent, or a parent of all zero bytes).
    public var parentSpanID: String?
    public var name: String
    public var kind: Int
    public var startTime: Timestamp
    public var endTime: Timestamp?
    public var attributes: [String: JSONValue]
    public var resource: [String: JSONValue]
    public var scopeName: String
    public var scopeVersion: String
    public var events: [Event]
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    public var statusCode: Int
    public var statusMessage: String?

    public init(
        traceID: String, spanID: String, parentSpanID: String?, name: String, kind: Int = 1,
        startTime: Timestamp, endTime: Timestamp?, attributes: [String: JSONValue],
        resource: [String: JSONValue] = [:], scopeName: String = "", scopeVersion: String = "",
        events: [Event] = [], statusCode: Int = 0, statusMessage: String? = nil
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.kind = kind
        self.startTime = startTime
        self.endTime = endTime
        self.attributes = attributes
        self.resource = resource
        self.scopeName = scopeName
        self.scopeVersion = scopeVersion
        self.events = events
        self.statusCode = statusCode
        self.statusMessage = statusMessage
    }

    // MARK: Typed attribute access

    /// A non-empty string attribute (numbers and bools are given as their text).
    public func string(_ key: String) -> String? {
        switch attributes[key] {
        case .string(let s)? where !s.isEmpty: return s
        case .int(let i)?: return String(i)
        case .double(let d)?: return String(d)
        case .bool(let b)?: return String(b)
        default: return nil
        }
    }

    public func resourceString(_ key: String) -> String? {
        if case .string(let s)? = resource[key], !s.isEmpty { return s }
        return nil
    }

    /// The span's value for `key`, else the resource's.
    public func spanOrResource(_ key: String) -> String? { string(key) ?? resourceString(key) }

    public func int(_ key: String) -> Int64? {
        switch attributes[key] {
        case .int(let i)?: return i
        case .double(let d)? where d == d.rounded() && abs(d) < 9e18: return Int64(d)
        case .string(let s)?: return Int64(s)
        default: return nil
        }
    }

    public func double(_ key: String) -> Double? {
        switch attributes[key] {
        case .int(let i)?: return Double(i)
        case .double(let d)?: return d
        case .string(let s)?: return Double(s)
        default: return nil
        }
    }

    /// A string attribute holding JSON (`'"acme"'`, `'{"a":1}'`), decoded; a string that is not JSON is
    /// returned as itself (raw OTel users set `'acme'`); a non-string value is returned as is.
    public func decoded(_ key: String) -> JSONValue? {
        guard let value = attributes[key] else { return nil }
        return Self.decodeJSONString(value)
    }

    /// Bytes that can open a JSON text: { [ " - 0…9 t f n.
    static let jsonStarts = Set("{[\"-0123456789tfn".utf8)

    static func decodeJSONString(_ value: JSONValue) -> JSONValue {
        guard case .string(let s) = value else { return value }
        // The first byte after spaces and tabs must open a JSON value; the parser skips the whitespace itself.
        guard let first = s.utf8.first(where: { $0 != 0x20 && $0 != 0x09 }), jsonStarts.contains(first),
            let parsed = try? JSONValue.parse(s)
        else { return value }
        return parsed
    }

    /// A JSON object attribute (a JSON string holding an object, or a kvlist value).
    public func object(_ key: String) -> [String: JSONValue]? { decoded(key)?.objectValue }

    /// Attributes under `prefix` (`langfuse.trace.metadata.`), keyed by the rest of the key.
    public func attributes(withPrefix prefix: String) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for (key, value) in attributes where key.hasPrefix(prefix) && key.count > prefix.count {
            out[String(key.dropFirst(prefix.count))] = value
        }
        return out
    }

    public func hasAny(_ keys: [String]) -> Bool { keys.contains { attributes[$0] != nil } }

    public var isError: Bool { statusCode == 2 }
}
