/// Failures of the store itself, typed so the server alone maps them to HTTP (never with database text).
public enum StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A read ran past its time limit and was interrupted (it held a snapshot that kept the WAL from resetting).
    case readTimedOut(seconds: Int)

    public var description: String {
        switch self {
        case .readTimedOut(let s):
            return "the query ran longer than \(s) s and was stopped; narrow its time range or filters"
        }
    }
}
