import Foundation
import Hummingbird
import TallyCore
import TallyOTLP

/// An OTLP/HTTP error body: a `google.rpc.Status` (`code`, `message`) in the request's codec, as the OTLP
/// specification asks, with the HTTP status unchanged (400 permanent, 413, 415, 503 retryable with Retry-After).
enum OTLPStatus {
    /// The gRPC code that matches an HTTP status.
    static func grpcCode(_ status: HTTPResponse.Status) -> Int {
        switch status.code {
        case 400: return 3  // INVALID_ARGUMENT
        case 401: return 16  // UNAUTHENTICATED
        case 403: return 7  // PERMISSION_DENIED
        case 413: return 8  // RESOURCE_EXHAUSTED
        case 415: return 12  // UNIMPLEMENTED
        case 429: return 8
        case 503: return 14  // UNAVAILABLE
        default: return 13  // INTERNAL
        }
    }

    static func response(_ error: APIError, codec: OTLPCodec?) -> Response {
        let message =
            error.body.objectValue.flatMap { o in (o["error"] ?? o["message"])?.stringValue } ?? "request refused"
        let code = grpcCode(error.status)
        let body: Data
        let contentType: String
        switch codec {
        case .protobuf?:
            body = protobuf(code: code, message: message)
            contentType = OTLPCodec.protobuf.contentType
        default:
            body = Data(JSONValue.object(["code": .int(Int64(code)), "message": .string(message)]).serialized().utf8)
            contentType = OTLPCodec.json.contentType
        }
        var headers = error.headers
        headers[.contentType] = contentType
        return Response(status: error.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(data: body)))
    }

    /// `google.rpc.Status{code = 1 (int32), message = 2 (string)}` in protobuf wire format.
    static func protobuf(code: Int, message: String) -> Data {
        var out = Data()
        func varint(_ value: UInt64) {
            var v = value
            while v >= 0x80 {
                out.append(UInt8(v & 0x7F) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }
        out.append(0x08)
        varint(UInt64(code))
        let text = Data(message.utf8)
        out.append(0x12)
        varint(UInt64(text.count))
        out.append(text)
        return out
    }
}
