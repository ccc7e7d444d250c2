import Foundation
import Hummingbird
import TallyCore

/// Every error a handler can return, mapped to its status and Langfuse-shaped JSON body in one place.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var body: JSONValue
    public var headers: HTTPFields = [:]

    public init(status: HTTPResponse.Status, body: JSONValue) {
        self.status = status
        self.body = body
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

enum JSONResponse {
    static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized())))
    }
}
