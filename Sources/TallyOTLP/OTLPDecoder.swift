import Foundation
import SwiftProtobuf
import TallyCore

/// The two OTLP/HTTP codecs.
public enum OTLPCodec: Sendable {
    case protobuf
    case json

    /// The codec for a `Content-Type`, or nil (→ 415).
    public init?(contentType: String?) {
        let type = (contentType ?? "").lowercased()
        if type.contains("application/x-protobuf") || type.contains("application/protobuf") {
            self = .protobuf
        } else if type.contains("application/json") {
            self = .json
        } else {
            return nil
        }
    }

    public var contentType: String {
        switch self {
        case .protobuf: return "application/x-protobuf"
        case .json: return "application/json"
        }
    }
}

/// A permanent decoding failure (→ 400), with a message naming what was wrong.
public struct OTLPDecodeError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Decodes an `ExportTraceServiceRequest` in either codec and flattens it into `SpanView`s.
public enum OTLPDecoder {
    public static func decode(_ body: Data, codec: OTLPCodec) throws -> OTLPExportTraceServiceRequest {
        switch codec {
        case .protobuf:
            do {
                return try OTLPExportTraceServiceRequest(serializedBytes: body)
            } catch {
                throw OTLPDecodeError("Failed to parse OTel Protobuf Trace: \(error)")
            }
        case .json:
            return try decodeJSON(body)
        }
    }

    /// OTLP/JSON differs from the protobuf JSON mapping in one way that matters: trace and span ids are hex,
    /// not base64. The document is checked for shape (a logs or metrics export posted here is named as such),
    /// ids are rewritten to base64, and SwiftProtobuf's JSON decoder does the rest (int64 as strings, enums as
    /// integers or names, unknown fields ignored).
    static func decodeJSON(_ body: Data) throws -> OTLPExportTraceServiceRequest {
        let root: JSONValue
        do {
            root = try JSONValue.parse(body)
        } catch {
            throw OTLPDecodeError("Failed to parse OTel JSON Trace: \(error)")
        }
        guard case .object(var top) = root else {
            throw OTLPDecodeError("Invalid OTLP trace export: expected an object")
        }
        if top["resourceSpans"] == nil {
            for (key, signal) in [("resourceLogs", "logs"), ("resourceMetrics", "metrics")] where top[key] != nil {
                throw OTLPDecodeError(
                    "Invalid OTLP trace export: this is an OTLP \(signal) export; send it to /v1/\(signal)")
            }
            return OTLPExportTraceServiceRequest()
        }
        guard case .array(var resourceSpans)? = top["resourceSpans"] else {
            throw OTLPDecodeError("Invalid OTLP trace export: resourceSpans must be an array")
        }
        for r in resourceSpans.indices {
            guard case .object(var rs) = resourceSpans[r] else {
                throw OTLPDecodeError("Invalid OTLP trace export: resourceSpans[\(r)] must be an object")
            }
            guard case .array(var scopeSpans)? = rs["scopeSpans"] ?? .array([]) else {
                throw OTLPDecodeError("Invalid OTLP trace export: resourceSpans[\(r)].scopeSpans must be an array")
            }
            for s in scopeSpans.indices {
                guard case .object(var ss) = scopeSpans[s], case .array(var spans)? = ss["spans"] ?? .array([]) else {
                    throw OTLPDecodeError("Invalid OTLP trace export: scopeSpans[\(s)].spans must be an array")
                }
                for i in spans.indices {
                    guard case .object(var span) = spans[i] else {
                        throw OTLPDecodeError("Invalid OTLP trace export: spans[\(i)] must be an object")
                    }
                    for key in ["attributes", "events", "links"] {
                        if let v = span[key], v.arrayValue == nil, !v.isNull {
                            throw OTLPDecodeError("Invalid OTLP trace export: spans[\(i)].\(key) must be an array")
                        }
                    }
                    for key in ["traceId", "spanId", "parentSpanId"] {
                        if case .string(let hex)? = span[key] { span[key] = .string(hexToBase64(hex)) }
                    }
                    if case .array(var links)? = span["links"] {
                        for l in links.indices {
                            guard case .object(var link) = links[l] else { continue }
                            for key in ["traceId", "spanId"] {
                                if case .string(let hex)? = link[key] { link[key] = .string(hexToBase64(hex)) }
                            }
                            links[l] = .object(link)
                        }
                        span["links"] = .array(links)
                    }
                    spans[i] = .object(span)
                }
                ss["spans"] = .array(spans)
                scopeSpans[s] = .object(ss)
            }
            rs["scopeSpans"] = .array(scopeSpans)
            resourceSpans[r] = .object(rs)
        }
        top["resourceSpans"] = .array(resourceSpans)
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        do {
            return try OTLPExportTraceServiceRequest(jsonString: JSONValue.object(top).serialized(), options: options)
        } catch {
            throw OTLPDecodeError("Failed to parse OTel JSON Trace: \(error)")
        }
    }

    /// Hex ids become base64 for the protobuf JSON decoder; a string that is not even-length hex is left alone
    /// (it then fails as base64 or yields an id of the wrong length, and the span is rejected).
    static func hexToBase64(_ hex: String) -> String {
        guard !hex.isEmpty, hex.count % 2 == 0, hex.allSatisfy(\.isHexDigit) else { return hex }
        var bytes = [UInt8]()
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return Data(bytes).base64EncodedString()
    }
}

/// Builds `SpanView`s out of a decoded request, rejecting spans whose ids are malformed.
public enum SpanViewBuilder {
    public struct Output: Sendable {
        public var spans: [SpanView] = []
        public var rejected = 0
        public var rejections: [String] = []
    }

    public static func views(of request: OTLPExportTraceServiceRequest, receivedAt: Timestamp) -> Output {
        var out = Output()
        for rs in request.resourceSpans {
            let resource = attributes(rs.resource.attributes)
            for ss in rs.scopeSpans {
                for span in ss.spans {
                    if span.traceID.isEmpty, span.spanID.isEmpty, !span.unknownFields.data.isEmpty {
                        out.rejected += 1
                        out.rejections.append(
                            "not a span (only unknown fields): an OTLP logs or metrics export sent to the traces URL?")
                        continue
                    }
                    guard span.traceID.count == 16, span.traceID.contains(where: { $0 != 0 }) else {
                        out.rejected += 1
                        out.rejections.append("span \(hex(span.spanID)): traceId must be 16 non-zero bytes")
                        continue
                    }
                    guard span.spanID.count == 8, span.spanID.contains(where: { $0 != 0 }) else {
                        out.rejected += 1
                        out.rejections.append("span in trace \(hex(span.traceID)): spanId must be 8 non-zero bytes")
                        continue
                    }
                    let parent = span.parentSpanID.count == 8 && span.parentSpanID.contains(where: { $0 != 0 })
                    let start = time(span.startTimeUnixNano)
                    let end = time(span.endTimeUnixNano)
                    out.spans.append(
                        SpanView(
                            traceID: hex(span.traceID), spanID: hex(span.spanID),
                            parentSpanID: parent ? hex(span.parentSpanID) : nil, name: span.name,
                            kind: span.kind.rawValue, startTime: start ?? end ?? receivedAt, endTime: end ?? start,
                            attributes: attributes(span.attributes), resource: resource, scopeName: ss.scope.name,
                            scopeVersion: ss.scope.version,
                            events: span.events.map {
                                SpanView.Event(
                                    name: $0.name, time: time($0.timeUnixNano), attributes: attributes($0.attributes))
                            },
                            statusCode: span.status.code.rawValue,
                            statusMessage: span.status.message.isEmpty ? nil : span.status.message))
                }
            }
        }
        return out
    }

    /// ns → µs; 0 means "not set".
    static func time(_ nanos: UInt64) -> Timestamp? {
        nanos == 0 ? nil : Timestamp(microseconds: Int64(nanos / 1_000))
    }

    static func hex(_ data: Data) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(data.count * 2)
        for b in data {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func attributes(_ list: [OTLPKeyValue]) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        out.reserveCapacity(list.count)
        for kv in list { out[kv.key] = value(kv.value) }
        return out
    }

    /// AnyValue → JSON: kvlists become objects, bytes become base64 strings.
    static func value(_ v: OTLPAnyValue) -> JSONValue {
        switch v.value {
        case .stringValue(let s)?: return .string(s)
        case .boolValue(let b)?: return .bool(b)
        case .intValue(let i)?: return .int(i)
        case .doubleValue(let d)?: return d.isFinite ? .double(d) : .string(String(d))
        case .arrayValue(let a)?: return .array(a.values.map(value))
        case .kvlistValue(let kv)?: return .object(attributes(kv.values))
        case .bytesValue(let d)?: return .string(d.base64EncodedString())
        case nil: return .null
        }
    }
}
