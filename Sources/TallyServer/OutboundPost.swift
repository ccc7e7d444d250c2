import AsyncHTTPClient
import NIOCore
import TallyCore

/// One POST of a background sender (alert webhooks, export sinks) to a receiver outside Tally, and the retry delay
/// both use. Never throws: a transport error (refused, timed out, closed) comes back as `error`.
enum OutboundPost {
    struct Answer {
        /// The HTTP status, nil when no answer came.
        var status: Int?
        /// The start of the answer's body (at most the `bodyLimit` given; empty when longer or none).
        var body: String
        /// The transport error, when no answer came.
        var error: String?

        var isSuccess: Bool { status.map { (200..<300).contains($0) } ?? false }
    }

    static func send(
        _ client: HTTPClient, url: String, headers: [(String, String)], body: String, timeout: TimeAmount,
        bodyLimit: Int
    ) async -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "User-Agent", value: "Tally/\(TallyVersion.current)")
        request.body = .bytes(ByteBuffer(string: body))
        do {
            let response = try await client.execute(request, timeout: timeout)
            let text = String(buffer: (try? await response.body.collect(upTo: bodyLimit)) ?? ByteBuffer())
            return Answer(status: Int(response.status.code), body: text, error: nil)
        } catch {
            return Answer(status: nil, body: "", error: "\(error)")
        }
    }

    /// The delay before retry number `attempt + 1`: 5 s × 2^attempt, at most `capMicros`, in µs.
    static func backoffMicros(attempt: Int, capMicros: Int64) -> Int64 {
        min(capMicros, 5_000_000 << Int64(min(max(attempt, 0), 20)))
    }
}
