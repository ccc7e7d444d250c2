import Foundation

/// Failed web sign-ins per client address: after `maxFailures` within `window`, further attempts from that
/// address are refused (429 with Retry-After) until the window has passed, so keys cannot be guessed through the
/// sign-in form. Memory is bounded: at most `maxAddresses` are tracked (the oldest windows are dropped first).
final class SignInThrottle: @unchecked Sendable {
    let maxFailures: Int
    let window: TimeInterval
    let maxAddresses = 10_000
    private let lock = NSLock()
    private var failures: [String: (count: Int, since: Date)] = [:]

    init(maxFailures: Int = 10, window: TimeInterval = 60) {
        self.maxFailures = maxFailures
        self.window = window
    }

    /// Seconds to wait when `address` is locked out now, else nil.
    func lockedOut(_ address: String, now: Date = Date()) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = failures[address], now.timeIntervalSince(entry.since) < window else { return nil }
        guard entry.count >= maxFailures else { return nil }
        return max(1, Int((window - now.timeIntervalSince(entry.since)).rounded(.up)))
    }

    func recordFailure(_ address: String, now: Date = Date()) {
        lock.lock()
        defer { lock.unlock() }
        if var entry = failures[address], now.timeIntervalSince(entry.since) < window {
            entry.count += 1
            failures[address] = entry
            return
        }
        if failures.count >= maxAddresses {
            failures = failures.filter { now.timeIntervalSince($0.value.since) < window }
            if failures.count >= maxAddresses, let oldest = failures.min(by: { $0.value.since < $1.value.since }) {
                failures[oldest.key] = nil
            }
        }
        failures[address] = (1, now)
    }

    func recordSuccess(_ address: String) {
        lock.lock()
        defer { lock.unlock() }
        failures[address] = nil
    }
}
