/// Failures of the store itself, typed so the server alone maps them to HTTP (never with database text).
public enum StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A read ran past its time limit and was interrupted (it held a snapshot that kept the WAL from resetting).
    case readTimedOut(seconds: Int)
    /// The group-commit queue is full (`queuedEvents` events wait or are being written): nothing was written; the
    /// client should send again after a short pause.
    case overloaded(queuedEvents: Int)

    public var description: String {
        switch self {
        case .readTimedOut(let s):
            return "the query ran longer than \(s) s and was stopped; narrow its time range or filters"
        case .overloaded(let n):
            return "the server is busy writing \(n) events; nothing was stored, send the request again shortly"
        }
    }
}
