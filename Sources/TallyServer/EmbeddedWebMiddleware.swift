import Foundation
import Hummingbird
import TallyResources

/// Serves the web UI compiled into the binary (`web/`): GET or HEAD of `/` is `index.html`, `/<file>` the
/// embedded file with its content type; anything else goes on to the router. `--web-root` replaces this with a
/// folder on disk for UI development.
struct EmbeddedWebMiddleware<Context: RequestContext>: RouterMiddleware {
    static var contentTypes: [String: String] {
        [
            "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
            "css": "text/css; charset=utf-8", "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon",
            "json": "application/json",
        ]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard request.method == .get || request.method == .head else { return try await next(request, context) }
        let path = request.uri.path
        let name = path == "/" ? "index.html" : String(path.dropFirst())
        guard !name.contains("/"), let data = EmbeddedResources.file("web/\(name)") else {
            return try await next(request, context)
        }
        let ext = name.split(separator: ".").last.map(String.init) ?? ""
        var headers: HTTPFields = [.contentType: Self.contentTypes[ext] ?? "application/octet-stream"]
        headers[.contentLength] = String(data.count)
        headers[.cacheControl] = "no-cache"
        let body = request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(data: data))
        return Response(status: .ok, headers: headers, body: body)
    }
}
