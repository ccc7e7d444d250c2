import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import TallyCore
import TallyOTLP
import TallyStoreAPI

/// Everything `tally serve` needs to run, resolved from flags and `TALLY_*` variables by the command line.
public struct ServerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 3000
    /// Bytes accepted on the wire per request (Langfuse's limit: 4.5 MB).
    public var maxBodyBytes: Int = 4_500_000
    /// Bytes accepted after gzip decoding.
    public var maxDecodedBytes: Int = 32 * 1_048_576
    public var limits = IngestionLimits()
    /// OTLP exports are larger than Langfuse batches (a v5 flush carries up to 512 spans with their I/O).
    public var maxOTLPBodyBytes: Int = 16 * 1_048_576
    public var maxOTLPDecodedBytes: Int = 64 * 1_048_576
    public var maxOTLPSpans: Int = 20_000
    public var attribution = AttributionRules.standard
    /// A connection with no request in flight, or whose request headers are incomplete, is closed after this.
    public var idleTimeout: TimeAmount = .seconds(15)
    /// A request's body must arrive in full within this of its head (a body dripped slowly is cut off).
    public var requestTimeout: TimeAmount = .seconds(60)
    /// Connections served at once; more wait in the listen backlog. `tally serve` sets it below the file limit.
    public var maxConnections: Int = 4_000
    /// The WAL is checkpointed and truncated once it grows past this.
    public var walLimitBytes: Int = 64 * 1_048_576
    /// Days of traces kept for projects without their own retention setting; nil keeps everything.
    public var retentionDays: Int?
    /// How often the retention service sweeps.
    public var retentionInterval: Duration = .seconds(3600)
    /// How often alert rules are evaluated.
    public var alertInterval: Duration = .seconds(60)
    /// How often the webhook outbox is polled for due deliveries.
    public var deliveryPollInterval: Duration = .seconds(1)
    /// The address people reach the UI at, for links in alerts; nil: `http://host:port`.
    public var publicURL: String?
    /// `publicURL`, or the listening address.
    public var baseURL: String {
        publicURL ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
    /// A folder to serve the web UI from instead of the copy compiled into the binary (for UI development).
    public var webRoot: String?
    /// The structured call log: a file, or `-` for standard output; nil writes none (see `CallLogService`).
    public var callLog: String?
    /// Bytes after which the call log rotates, and rotated files kept.
    public var callLogMaxBytes = 100 * 1_048_576
    public var callLogKeep = 5
    /// /metrics: how many tenants, features and models keep their own series (the rest are summed as "other").
    public var metricsLimits = LLMMetrics.Limits()
    /// Push the model-call metrics as OTLP/HTTP; nil pushes nothing.
    public var otlpMetrics: OTLPMetricsConfiguration?
    public var version = TallyVersion.current

    public init() {}
}

public enum TallyVersion {
    public static let current = "0.1.0"
}

/// Builds the whole application: production and tests run exactly this.
public func buildApplication(
    configuration: ServerConfiguration, database: any TallyStorage, logger: Logger = Logger(label: "tally")
) -> some ApplicationProtocol {
    let counters = CallLogCounters()
    let metrics = ServerMetrics()
    metrics.observe(database)
    let router = buildRouter(
        configuration: configuration, database: database, logger: logger, callLog: counters, metrics: metrics)
    let requestTimeout = configuration.requestTimeout
    var services: [any Service] = [
        CheckpointService(database: database, limitBytes: configuration.walLimitBytes, logger: logger),
        RetentionService(
            database: database, defaultDays: configuration.retentionDays,
            interval: configuration.retentionInterval, logger: logger),
        BudgetService(database: database, logger: logger),
        AlertService(
            database: database, interval: configuration.alertInterval, baseURL: configuration.baseURL, logger: logger),
        WebhookDeliveryService(database: database, pollInterval: configuration.deliveryPollInterval, logger: logger),
        ExportPushService(database: database, pollInterval: configuration.deliveryPollInterval, logger: logger),
    ]
    if let push = configuration.otlpMetrics {
        services.append(
            OTLPMetricsService(
                database: database, configuration: push, limits: configuration.metricsLimits, logger: logger,
                counters: metrics.pushes))
    }
    if let path = configuration.callLog {
        services.append(
            CallLogService(
                database: database,
                configuration: .init(
                    path: path, maxBytes: configuration.callLogMaxBytes, keep: configuration.callLogKeep),
                counters: counters, logger: logger))
    }
    return Application(
        router: router,
        server: .http1(
            configuration: .init(
                additionalChannelHandlers: [RequestDeadlineHandler(deadline: requestTimeout)],
                idleTimeout: configuration.idleTimeout)),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: "Tally",
            availableConnectionsDelegate: .maximum(configuration.maxConnections, logger: logger)),
        services: services,
        logger: logger)
}

public func buildRouter(
    configuration: ServerConfiguration, database: any TallyStorage, logger: Logger = Logger(label: "tally")
) -> Router<TallyRequestContext> {
    buildRouter(
        configuration: configuration, database: database, logger: logger, callLog: CallLogCounters(),
        metrics: ServerMetrics())
}

func buildRouter(
    configuration: ServerConfiguration, database: any TallyStorage, logger: Logger, callLog: CallLogCounters,
    metrics: ServerMetrics
) -> Router<TallyRequestContext> {
    let router = Router(context: TallyRequestContext.self)
    router.add(middleware: HTTPMetricsMiddleware(metrics: metrics))
    router.add(middleware: FormQueryMiddleware())
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: RequestLogMiddleware(logger: logger))
    router.add(
        middleware: CORSMiddleware(
            allowOrigin: .originBased, allowHeaders: [.authorization, .contentType, .contentEncoding]))
    let bodyReader = RequestBodyReader(
        maxBodyBytes: configuration.maxBodyBytes, maxDecodedBytes: configuration.maxDecodedBytes)
    let api = router.group("api/public")
    HealthController(
        database: database, version: configuration.version,
        callLog: configuration.callLog == nil ? nil : callLog
    ).addRoutes(to: api)

    let ingestion = IngestionController(
        database: database, decoder: LangfuseBatchDecoder(limits: configuration.limits), bodyReader: bodyReader,
        rules: configuration.attribution)
    // Bearer (public key only) is accepted where Langfuse accepts it: ingestion (scores/logs only) and POST scores.
    let scoreAccess = router.group("api/public").add(
        middleware: AuthMiddleware(database: database, allowsScoresAccess: true))
    ingestion.addRoutes(to: scoreAccess)
    ingestion.addScoreRoutes(to: scoreAccess)

    let projectAccess = router.group("api/public").add(
        middleware: AuthMiddleware(database: database, allowsScoresAccess: false))
    ReadController(database: database, bodyReader: bodyReader).addRoutes(to: projectAccess)
    CursorListController(database: database).addRoutes(to: projectAccess)
    PromptsController(database: database, bodyReader: bodyReader).addRoutes(to: projectAccess)
    SessionController(database: database, bodyReader: bodyReader).addRoutes(to: router.group("api/tally/v1"))
    let tallyAPI = router.group("api/tally/v1").add(
        middleware: AuthMiddleware(database: database, allowsScoresAccess: false, allowsSessionWrites: true))
    ModelsController(database: database, bodyReader: bodyReader).addRoutes(public: projectAccess, tally: tallyAPI)
    AnalyticsController(database: database).addRoutes(tally: tallyAPI, public: projectAccess)
    TraceListController(database: database).addRoutes(to: tallyAPI)
    SavingsController(database: database).addRoutes(to: tallyAPI)
    ActivityController(database: database).addRoutes(to: tallyAPI)
    RetentionController(database: database, bodyReader: bodyReader, defaultDays: configuration.retentionDays)
        .addRoutes(to: tallyAPI)
    BudgetController(database: database, bodyReader: bodyReader).addRoutes(to: tallyAPI)
    ExportsController(database: database).addRoutes(to: tallyAPI)
    ExportSinkController(database: database, bodyReader: bodyReader).addRoutes(to: tallyAPI)
    KeysController(database: database, bodyReader: bodyReader).addRoutes(to: tallyAPI)
    ReconcileController(database: database, bodyReader: bodyReader).addRoutes(to: tallyAPI)
    AlertController(database: database, bodyReader: bodyReader, baseURL: configuration.baseURL).addRoutes(to: tallyAPI)

    let otlp = OTLPController(
        database: database,
        bodyReader: RequestBodyReader(
            maxBodyBytes: configuration.maxOTLPBodyBytes, maxDecodedBytes: configuration.maxOTLPDecodedBytes),
        mapper: OTLPSpanMapper(limits: configuration.limits), rules: configuration.attribution,
        maxSpans: configuration.maxOTLPSpans)
    otlp.addRoutes(to: projectAccess, path: "otel/v1/traces")
    // Exporters configured with a bare OTLP endpoint post to /v1/traces.
    let bareOTLP = router.group("v1").add(middleware: AuthMiddleware(database: database, allowsScoresAccess: false))
    otlp.addRoutes(to: bareOTLP, path: "traces")

    // Prometheus: `GET /metrics` with a project's keys (basic_auth in the scrape config).
    MetricsController(
        database: database, server: metrics, callLog: configuration.callLog == nil ? nil : callLog,
        limits: configuration.metricsLimits
    ).addRoutes(to: router.group().add(middleware: AuthMiddleware(database: database, allowsScoresAccess: false)))

    // LangSmith's SDK: `LANGSMITH_ENDPOINT=<Tally>/api/langsmith`, `LANGSMITH_API_KEY=<public>:<secret>`.
    let langsmith = LangSmithController(database: database, bodyReader: bodyReader, rules: configuration.attribution)
    langsmith.addRoutes(
        open: router.group("api/langsmith"),
        authenticated: router.group("api/langsmith").add(
            middleware: AuthMiddleware(database: database, allowsScoresAccess: false, acceptsAPIKeyHeader: true)))

    if let webRoot = configuration.webRoot {
        router.add(middleware: FileMiddleware(webRoot, searchForIndexHtml: true))
    } else {
        router.add(middleware: EmbeddedWebMiddleware())
    }
    return router
}

/// `GET /api/public/health` and `/ready`: no auth.
struct HealthController: Sendable {
    let database: any TallyStorage
    let version: String
    /// With `--call-log`: lines written and dropped, shown in the answer.
    var callLog: CallLogCounters?

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("health") { _, _ in await self.status() }
        group.get("ready") { _, _ in await self.status() }
    }

    func status() async -> Response {
        if await database.isReachable() {
            var body: [String: JSONValue] = ["status": "OK", "version": .string(version)]
            if let counts = callLog?.snapshot {
                body["callLog"] = ["written": .int(Int64(counts.written)), "dropped": .int(Int64(counts.dropped))]
            }
            return JSONResponse.make(.object(body))
        }
        return JSONResponse.make(
            ["status": "Database unavailable", "version": .string(version)], status: .serviceUnavailable)
    }
}
