/// Why one event (or a whole request) was refused. The kind says whether sending it again can help; only the
/// server turns a kind into an HTTP status (Langfuse's per-event shape: `{id, status, message, error}`).
public struct IngestionError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The event can never be stored as sent (schema, range or invariant violation): do not retry.
        case invalid
        /// The credentials may not send this kind of event.
        case accessDenied
        /// The store could not apply it now (busy, disk full, I/O): the same event may succeed later.
        case retryable
    }

    public var kind: Kind
    public var message: String
    /// What was wrong, naming the field; never database error text.
    public var error: String?
    /// The underlying failure (database text included) for the server log only; never sent to a client.
    public var diagnostic: String?

    public init(kind: Kind, message: String, error: String? = nil, diagnostic: String? = nil) {
        self.kind = kind
        self.message = message
        self.error = error
        self.diagnostic = diagnostic
    }

    /// A schema violation: `detail` names the field and what was wrong.
    public static func invalid(_ detail: String) -> IngestionError {
        IngestionError(kind: .invalid, message: "Invalid request data", error: detail)
    }

    /// The store could not apply the event now; `detail` says what failed, without database text.
    public static func retryable(_ detail: String) -> IngestionError {
        IngestionError(kind: .retryable, message: "Internal Server Error", error: detail)
    }

    /// `error` as an event's failure: an `IngestionError` as it is, anything else a permanent one.
    public init(asEventFailure error: any Error) {
        self = (error as? IngestionError) ?? .invalid("\(error)")
    }

    public var isRetryable: Bool { kind == .retryable }

    public var description: String { error.map { "\(message): \($0)" } ?? message }
}
