import Foundation
import Hummingbird
import TallyCore

/// Every error a handler can return, mapped to its status and Langfuse-shaped JSON body in one place.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var body: JSONValue
    public var headers: HTTPFields = [:]
    /// What went wrong underneath (database text included), for the request log only; never sent.
    public var diagnostic: String?

    public init(status: HTTPResponse.Status, body: JSONValue) {
        self.status = status
        self.body = body
    }

    /// One event's failure as a whole response (the single-score route).
    public init(_ e: IngestionError) {
        var body: [String: JSONValue] = ["message": .string(e.message)]
        if let detail = e.error { body["error"] = .string(detail) }
        self.init(status: .init(code: e.httpStatus), body: .object(body))
        if e.isRetryable { headers[.retryAfter] = "1" }
        diagnostic = e.diagnostic
    }

    public static func unauthorized(_ message: String) -> APIError {
        APIError(status: .unauthorized, body: ["message": .string(message)])
    }

    public static func forbidden(_ message: String) -> APIError {
        APIError(status: .forbidden, body: ["message": .string(message)])
    }

    /// A request that can never succeed as sent (`{"message":"Invalid request data","error":…}`).
    public static func invalid(_ detail: String) -> APIError {
        APIError(status: .badRequest, body: ["message": "Invalid request data", "error": .string(detail)])
    }

    public static func notFound(_ message: String) -> APIError {
        APIError(status: .notFound, body: ["message": .string(message), "error": "LangfuseNotFoundError"])
    }

    public static func tooLarge(_ limit: Int) -> APIError {
        APIError(
            status: .contentTooLarge,
            body: ["message": .string("Request body exceeds the limit of \(limit) bytes"), "error": "PayloadTooLarge"])
    }

    /// Retryable: the store could not commit (SDKs retry 5xx).
    public static func unavailable(_ detail: String) -> APIError {
        APIError(status: .serviceUnavailable, body: ["message": "Service Unavailable", "error": .string(detail)])
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(body, status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

extension IngestionError {
    /// The one mapping from an event's failure kind to its HTTP status (Langfuse's per-event statuses).
    var httpStatus: Int {
        switch kind {
        case .invalid: return 400
        case .accessDenied: return 401
        case .retryable: return 503
        }
    }
}

enum JSONResponse {
    static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized())))
    }
}
