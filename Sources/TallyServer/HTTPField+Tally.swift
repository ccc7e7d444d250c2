import HTTPTypes

/// Header names HTTPTypes does not predefine. Each literal is a valid token, so the initializer cannot fail.
extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
    static let serverTiming = HTTPField.Name("Server-Timing")!
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let frameOptions = HTTPField.Name("X-Frame-Options")!
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    /// Sent by the web UI on its writes (see `AuthMiddleware`).
    static let tallyUI = HTTPField.Name("X-Tally-UI")!
    /// Sent by every Langfuse SDK's API client (`2.60.10`, `3.15.0`, `5.0.4`).
    static let langfuseSDKVersion = HTTPField.Name("X-Langfuse-Sdk-Version")!
    /// The LangSmith SDK's credential header.
    static let apiKey = HTTPField.Name("x-api-key")!
}
