import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TallyCore
import TallyStoreAPI

/// Sends the alert outbox: every `pollInterval` it posts each due delivery (`application/json`, webhooks signed
/// with `X-Tally-Signature: sha256=<hex HMAC-SHA256 of the body with the channel secret>`), marks a 2xx delivered,
/// and otherwise retries with exponential backoff (5 s, 10 s, … capped at 1 h) until the delivery is 24 h old. The
/// outbox lives in the database, so deliveries survive restarts and SIGKILL (a delivery sent but not yet marked
/// is sent again: receivers dedupe by the body's `id`). A receiver that refuses or hangs costs at most `timeout` of
/// this service's time and never touches ingestion or evaluation.
struct WebhookDeliveryService: Service {
    let database: any TallyStorage
    var pollInterval: Duration = .seconds(1)
    var timeout: TimeAmount = .seconds(10)
    /// Deliveries sent at once.
    var concurrency = 8
    let logger: Logger

    func run() async throws {
        let client = HTTPClient.shared  // process-wide, never shut down
        while await pauseUnlessShuttingDown(pollInterval) {
            do {
                let due = try await database.dueDeliveries(limit: 200)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var running = 0
                    for delivery in due {
                        if running == concurrency {
                            try await group.next()
                            running -= 1
                        }
                        group.addTask { try await send(delivery, client: client) }
                        running += 1
                    }
                    try await group.waitForAll()
                }
            } catch {
                logger.warning("webhook delivery pass failed; retrying", metadata: ["cause": "\(error)"])
            }
        }
    }

    func send(_ d: PendingDelivery, client: HTTPClient) async throws {
        var headers = [("Content-Type", "application/json")]
        if d.type == "webhook", let secret = d.secret {
            headers.append(("X-Tally-Signature", "sha256=" + Self.signature(d.body, secret: secret)))
        }
        let answer = await OutboundPost.send(
            client, url: d.url, headers: headers, body: d.body, timeout: timeout, bodyLimit: 64 * 1024)
        let status = answer.status
        let failure = answer.isSuccess ? nil : (status.map { "HTTP \($0)" } ?? answer.error)
        let now = Timestamp.now()
        if failure == nil {
            try await database.recordDeliveryAttempt(
                id: d.id, delivered: true, httpStatus: status, error: nil, retryAt: nil, now: now)
            return
        }
        let retry = Timestamp(microseconds: now.microseconds + Self.backoffMicros(attempt: d.attempts))
        let giveUp = retry > d.givesUpAt
        if giveUp {
            logger.warning(
                "webhook delivery given up after 24 h", metadata: ["delivery": "\(d.id)", "cause": "\(failure ?? "")"])
        }
        try await database.recordDeliveryAttempt(
            id: d.id, delivered: false, httpStatus: status, error: failure, retryAt: giveUp ? nil : retry, now: now)
    }

    /// 5 s × 2^attempt, at most 1 h.
    static func backoffMicros(attempt: Int) -> Int64 {
        OutboundPost.backoffMicros(attempt: attempt, capMicros: 3_600_000_000)
    }

    /// Lowercase hex HMAC-SHA256 of `body` keyed with `secret` (what receivers recompute to verify).
    static func signature(_ body: String, secret: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }
}
