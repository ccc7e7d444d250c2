import Foundation
import Hummingbird
import Logging
import TallyCore
import TallyStoreAPI

/// The outermost middleware: gives every request an id (the client's `X-Request-Id` when it is a short token,
/// else a random one), returns it in `X-Request-Id`, and is the one place an error becomes a response. Every
/// 5xx is logged exactly once, with the id, method, path and the underlying cause (database text included);
/// the response body carries only a generic message and the id, never database error text. Every response carries
/// `Server-Timing: app;dur=<ms>`: the time from this middleware's start to the response (body read and handler;
/// not the wait for a thread before it, nor writing the response).
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger


    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let id = Self.requestID(request.headers[.requestID])
        let started = ContinuousClock.now
        var response: Response
        var cause: String?
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = try error.response(from: request, context: context)
            cause = error.diagnostic ?? error.body.objectValue?["error"]?.stringValue
        } catch let error as IngestionError {
            // A domain refusal thrown by a handler (a request body that fails validation): its own status, 400 for
            // invalid input, with the text naming the field.
            response = try APIError(error).response(from: request, context: context)
            cause = error.diagnostic ?? error.error
        } catch let error as StoreError {
            var mapped = APIError.unavailable(error.description)
            mapped.headers[.retryAfter] = "5"
            response = try mapped.response(from: request, context: context)
            cause = error.description
        } catch let error as HTTPError where error.status == .notFound {
            // No route: a JSON body like Langfuse's, so the SDKs raise their NotFoundError instead of a parse error.
            response = try APIError.notFound("Not found: \(request.method) \(request.uri.path)")
                .response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
            cause = "\(error)"
        } catch {
            response = JSONResponse.make(
                ["message": "Internal Server Error", "requestId": .string(id)], status: .internalServerError)
            cause = "\(error)"
        }
        response.headers[.requestID] = id
        let elapsed = ContinuousClock.now - started
        response.headers[.serverTiming] = "app;dur=\(Self.milliseconds(elapsed))"
        if response.status.code >= 500 {
            logger.error(
                "\(request.method) \(request.uri.path) answered \(response.status.code)",
                metadata: [
                    "request_id": .string(id), "cause": .string(cause ?? "handler returned \(response.status.code)"),
                    "ms": .stringConvertible(Int(elapsed / .milliseconds(1))),
                ])
        } else {
            logger.debug(
                "\(request.method) \(request.uri.path) \(response.status.code)", metadata: ["request_id": .string(id)])
        }
        return response
    }

    /// `d` in milliseconds with 3 decimals ("0.042").
    static func milliseconds(_ d: Duration) -> String {
        let micros = d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000
        return "\(micros / 1000).\(String(format: "%03d", micros % 1000))"
    }

    /// The client's id if it is 1–64 characters of `[A-Za-z0-9._-]`, else 16 random hex digits.
    static func requestID(_ given: String?) -> String {
        if let given, (1...64).contains(given.utf8.count),
            given.utf8.allSatisfy({ c in
                (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 46 || c == 95
            })
        {
            return given
        }
        return String(format: "%016llx", UInt64.random(in: .min ... .max))
    }
}
