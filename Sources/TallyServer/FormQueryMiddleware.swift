import Hummingbird
import HTTPTypes

/// Reads query strings as `application/x-www-form-urlencoded`, as every Langfuse SDK (httpx) writes them: a `+` is a
/// space (a literal plus arrives as `%2B`). The router and every handler then see `name=chat gpt-4o-mini` for
/// `?name=chat+gpt-4o-mini`. The path before `?` is left alone (a `+` there is a plus).
struct FormQueryMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard let path = request.head.path, let mark = path.firstIndex(of: "?"), path[mark...].contains("+") else {
            return try await next(request, context)
        }
        var head = request.head
        head.path = String(path[..<mark]) + path[mark...].replacingOccurrences(of: "+", with: "%20")
        return try await next(Request(head: head, body: request.body), context)
    }
}
