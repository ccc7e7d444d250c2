import ArgumentParser
import Foundation
import Hummingbird
import Logging
import TallyCore
import TallyServer
import TallyStore
import TallyStoreAPI

@main
struct Tally: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tally: a Langfuse-compatible LLM trace collector on one SQLite file.",
        subcommands: [Serve.self, Keys.self, Budgets.self, Costs.self, Backup.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server (Langfuse API, OTLP, web UI).")

    @Option(help: "Address to listen on (env TALLY_HOST). Default: 127.0.0.1")
    var host: String?

    @Option(help: "Port to listen on (env TALLY_PORT). Default: 3000")
    var port: Int?

    @Option(help: "Serve the web UI from this folder (env TALLY_WEB_ROOT). Default: the copy built into the binary")
    var webRoot: String?

    @Option(help: "Largest request body in bytes (env TALLY_MAX_BODY_BYTES). Default: 4500000")
    var maxBodyBytes: Int?

    @Option(
        help:
            "Comma-separated metadata keys naming the tenant (env TALLY_TENANT_KEYS). Default: tenantId,tenant_id,tenant"
    )
    var tenantKeys: String?

    @Option(help: "Comma-separated metadata keys naming the feature (env TALLY_FEATURE_KEYS). Default: feature")
    var featureKeys: String?

    @Option(help: "Most connections served at once (env TALLY_MAX_CONNECTIONS). Default: 4000, below the file limit")
    var maxConnections: Int?

    @Option(
        help:
            "Seconds an idle connection (or one with incomplete headers) is kept (env TALLY_IDLE_TIMEOUT). Default: 15")
    var idleTimeout: Int?

    @Option(help: "Seconds a request body may take to arrive in full (env TALLY_REQUEST_TIMEOUT). Default: 60")
    var requestTimeout: Int?

    @Option(help: "Seconds a scanning read may run before it is stopped (env TALLY_READ_TIMEOUT). Default: 20")
    var readTimeout: Int?

    @Option(help: "Delete traces older than this many days (env TALLY_RETENTION_DAYS). Default: keep everything")
    var retentionDays: Int?

    @Option(help: "Seconds between alert evaluations (env TALLY_ALERT_INTERVAL). Default: 60")
    var alertInterval: Int?

    @Option(
        help: "The URL people open the UI at, for links in alerts (env TALLY_PUBLIC_URL). Default: http://host:port")
    var publicURL: String?

    @Option(help: "Write one JSON line per model call to this file, or - for stdout (env TALLY_CALL_LOG)")
    var callLog: String?

    @Option(help: "Rotate the call log past this many MiB (env TALLY_CALL_LOG_MAX_MB). Default: 100")
    var callLogMaxMb: Int?

    @Option(help: "Rotated call log files kept (env TALLY_CALL_LOG_KEEP). Default: 5")
    var callLogKeep: Int?

    @Option(
        help:
            "/metrics: tenants with their own series, the rest summed as \"other\" (env TALLY_METRICS_MAX_TENANTS). Default: 500"
    )
    var metricsMaxTenants: Int?

    @Option(help: "/metrics: features with their own series (env TALLY_METRICS_MAX_FEATURES). Default: 500")
    var metricsMaxFeatures: Int?

    @Option(help: "/metrics: models with their own series (env TALLY_METRICS_MAX_MODELS). Default: 200")
    var metricsMaxModels: Int?

    @Option(
        help:
            "Push the model-call metrics as OTLP/HTTP to this URL, e.g. http://collector:4318/v1/metrics (env OTEL_EXPORTER_OTLP_METRICS_ENDPOINT; headers from OTEL_EXPORTER_OTLP_METRICS_HEADERS)"
    )
    var otlpMetricsEndpoint: String?

    @Option(
        help:
            "Seconds between OTLP metrics pushes (env TALLY_OTLP_METRICS_INTERVAL, or OTEL_METRIC_EXPORT_INTERVAL in ms). Default: 60"
    )
    var otlpMetricsInterval: Int?

    @OptionGroup var store: StoreOptions

    func run() async throws {
        // glibc gives each thread that allocates its own arena (up to 8 per core) and keeps their freed memory:
        // two arenas keep the resident size flat under load for a few percent of allocation speed.
        #if os(Linux)
            _ = glibcMallopt(-8 /* M_ARENA_MAX */, 2)
        #endif
        let env = ProcessInfo.processInfo.environment
        /// The flag's whole number, else the environment variable's; a malformed number is a usage error.
        func int(_ flag: Int?, _ variable: String) throws -> Int? { try flag ?? env[variable].map(Self.int) }
        /// The same, as a positive number of seconds.
        func seconds(_ flag: Int?, _ variable: String) throws -> Int64? {
            try int(flag, variable).map { Int64(max(1, $0)) }
        }
        var config = ServerConfiguration()
        config.host = host ?? env["TALLY_HOST"] ?? config.host
        config.port = try int(port, "TALLY_PORT") ?? config.port
        config.maxBodyBytes = try int(maxBodyBytes, "TALLY_MAX_BODY_BYTES") ?? config.maxBodyBytes
        if let keys = tenantKeys ?? env["TALLY_TENANT_KEYS"] { config.attribution.tenantKeys = Self.list(keys) }
        if let keys = featureKeys ?? env["TALLY_FEATURE_KEYS"] { config.attribution.featureKeys = Self.list(keys) }
        config.retentionDays = try int(retentionDays, "TALLY_RETENTION_DAYS").flatMap { $0 >= 1 ? $0 : nil }
        if let s = try seconds(nil, "TALLY_RETENTION_INTERVAL") { config.retentionInterval = .seconds(s) }
        let fileLimit = FileLimit.raise()
        let wanted = try int(maxConnections, "TALLY_MAX_CONNECTIONS") ?? config.maxConnections
        config.maxConnections = max(1, min(wanted, fileLimit - FileLimit.reserved))
        if let s = try seconds(idleTimeout, "TALLY_IDLE_TIMEOUT") { config.idleTimeout = .seconds(s) }
        if let s = try seconds(requestTimeout, "TALLY_REQUEST_TIMEOUT") { config.requestTimeout = .seconds(s) }
        config.webRoot = webRoot ?? env["TALLY_WEB_ROOT"]
        if let s = try seconds(alertInterval, "TALLY_ALERT_INTERVAL") { config.alertInterval = .seconds(s) }
        // Tests poll the outbox faster than once a second.
        if let ms = try int(nil, "TALLY_DELIVERY_POLL_MS") { config.deliveryPollInterval = .milliseconds(max(10, ms)) }
        config.publicURL = (publicURL ?? env["TALLY_PUBLIC_URL"]).map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        config.callLog = callLog ?? env["TALLY_CALL_LOG"]
        if let mb = try int(callLogMaxMb, "TALLY_CALL_LOG_MAX_MB") { config.callLogMaxBytes = max(1, mb) * 1_048_576 }
        if let keep = try int(callLogKeep, "TALLY_CALL_LOG_KEEP") { config.callLogKeep = max(1, keep) }
        if let n = try int(metricsMaxTenants, "TALLY_METRICS_MAX_TENANTS") { config.metricsLimits.tenants = max(0, n) }
        if let n = try int(metricsMaxFeatures, "TALLY_METRICS_MAX_FEATURES") {
            config.metricsLimits.features = max(0, n)
        }
        if let n = try int(metricsMaxModels, "TALLY_METRICS_MAX_MODELS") { config.metricsLimits.models = max(0, n) }
        if let url = otlpMetricsEndpoint ?? env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"], !url.isEmpty {
            config.otlpMetrics = OTLPMetricsConfiguration(
                endpoint: url, headers: try OTLPMetricsConfiguration.headers(env["OTEL_EXPORTER_OTLP_METRICS_HEADERS"]))
            if let s = try seconds(otlpMetricsInterval, "TALLY_OTLP_METRICS_INTERVAL") {
                config.otlpMetrics?.interval = .seconds(s)
            } else if let ms = try int(nil, "OTEL_METRIC_EXPORT_INTERVAL") {
                config.otlpMetrics?.interval = .milliseconds(max(100, ms))
            }
        }

        var logger = Logger(label: "tally")
        logger.logLevel = env["TALLY_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let timeout = Duration.seconds(try seconds(readTimeout, "TALLY_READ_TIMEOUT") ?? 20)
        let (config2, env2, logger2, location) = (config, env, logger, store.description)
        try await store.withStorage(statementTimeout: timeout, logger: logger) { database in
            let outcome = try await ProjectBootstrap.run(database: database, environment: env2)
            let app = buildApplication(configuration: config2, database: database, logger: logger2)
            Self.printBanner(config: config2, outcome: outcome, database: location)
            logger2.info(
                "serving at most \(config2.maxConnections) connections at once (open-file limit \(fileLimit)); more wait in the backlog"
            )
            try await app.runService()
        }
    }

    static func printBanner(config: ServerConfiguration, outcome: ProjectBootstrap.Outcome, database: String) {
        let url = "http://\(config.host.contains(":") ? "[\(config.host)]" : config.host):\(config.port)"
        var lines = [
            "Tally \(config.version) listening on \(url)",
            "  web UI:    \(url)/" + (config.webRoot.map { " (from \($0))" } ?? ""),
            "  database:  \(database)",
            "  project:   \(outcome.project.name) (id \(outcome.project.id))",
            "  SDK setup: LANGFUSE_HOST=\(url)",
        ]
        if let key = outcome.createdKey {
            lines.append("             LANGFUSE_PUBLIC_KEY=\(key.publicKey)")
            lines.append("             LANGFUSE_SECRET_KEY=\(key.secretKey)")
            lines.append("  (the secret key is shown once: it is stored hashed. `tally keys create` makes another.)")
        } else {
            lines.append("             LANGFUSE_PUBLIC_KEY=\(outcome.publicKeys.joined(separator: " | "))")
            lines.append(
                "             LANGFUSE_SECRET_KEY=<the secret printed when the key was created; `tally keys create` makes a new pair>"
            )
        }
        print(lines.joined(separator: "\n"))
        fflush(nil)
    }

    static func int(_ s: String) throws -> Int {
        guard let v = Int(s) else { throw ValidationError("expected an integer, got \(s)") }
        return v
    }

    static func list(_ s: String) -> [String] {
        s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API keys.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key pair (prints the secret once).")
        @Option(help: "Project id; created if missing. Default: default") var project: String = "default"
        @Option(help: "Project name when the project is created") var projectName: String?
        @Option(help: "A note stored with the key") var note: String?
        @Option(help: "Make a key that reads only this tenant's spend and traces (always read-only)") var tenant:
            String?
        @Flag(help: "Make a key that can read but not write (ingestion, settings)") var readOnly = false
        @OptionGroup var store: StoreOptions

        func validate() throws {
            if tenant?.isEmpty == true { throw ValidationError("--tenant must not be empty") }
        }

        func run() async throws {
            let scope = KeyScope(tenant: tenant, readOnly: readOnly)
            let (project, name, note) = (project, projectName ?? project, note)
            let key = try await store.withStorage { db in
                _ = try await db.ensureProject(id: project, name: name)
                return try await db.createGeneratedKey(projectID: project, note: note, scope: scope)
            }
            print("project:    \(key.projectID)\npublic key: \(key.publicKey)\nsecret key: \(key.secretKey)")
            if let tenant = scope.tenant {
                print("reach:      tenant \(tenant) only, read-only")
            } else if scope.readOnly {
                print("reach:      read-only")
            }
            print("(the secret key is shown once: it is stored hashed)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never the secrets).")
        @Option(help: "Only this project") var project: String?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let project = project
            let keys = try await store.withStorage { db in
                var out: [APIKeyInfo] = []
                let projects = if let project { [project] } else { try await db.projects().map(\.id) }
                for id in projects {
                    out += try await db.listKeys(projectID: id)
                }
                return out
            }
            for key in keys {
                var state = key.revokedAt.map { "revoked \($0.iso8601)" } ?? "active"
                if let tenant = key.scope.tenant {
                    state += ", tenant \(tenant)"
                } else if key.scope.readOnly {
                    state += ", read-only"
                }
                print(
                    "\(key.projectID)\t\(key.publicKey)\t\(key.displaySecret)\tcreated \(key.createdAt.iso8601)\t\(state)\t\(key.note ?? "")"
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key at once.")
        @Argument(help: "The public key to revoke") var publicKey: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let publicKey = publicKey
            let revoked = try await store.withStorage { db in
                for project in try await db.projects()
                where try await db.revokeKey(publicKey: publicKey, inProject: project.id) {
                    return true
                }
                return false
            }
            guard revoked else { throw ValidationError("no live key \(publicKey)") }
            print("revoked \(publicKey)")
        }
    }
}

struct Costs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cost maintenance.", subcommands: [Recompute.self])

    struct Recompute: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-price stored observations (without a client-given cost) with the current prices.")
        @Option(help: "Project id. Default: default") var project: String = "default"
        @Option(help: "Only observations starting at or after this ISO-8601 time") var from: String?
        @Option(help: "Only observations starting before this ISO-8601 time") var to: String?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            func time(_ s: String?, _ name: String) throws -> Timestamp? {
                guard let s else { return nil }
                guard let t = Timestamp(iso8601: s) else {
                    throw ValidationError("--\(name): expected ISO-8601, got \(s)")
                }
                return t
            }
            let (project, from, to) = (project, try time(from, "from"), try time(to, "to"))
            let updated = try await store.withStorage { db in
                try await db.recomputeCosts(projectID: project, from: from, to: to)
            }
            print("re-priced \(updated) observation(s) in project \(project)")
        }
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the database while the server runs (SQLite's online backup).")
    @Option(help: "The copy to write; it must not exist yet") var to: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let destination = URL(fileURLWithPath: to).standardizedFileURL.path
        let database = try store.open()
        do {
            try await database.backup(to: destination)
        } catch {
            throw ValidationError("backup to \(destination) failed: \(error)")
        }
        let counts = try TallyDatabase(path: destination).rowCounts()
        print(
            "backed up \(store.description) to \(destination): \(counts["trace"] ?? 0) traces, "
                + "\(counts["observation"] ?? 0) observations, \(counts["score"] ?? 0) scores")
    }
}

#if os(Linux)
    /// glibc's `mallopt(3)` (malloc.h is not part of the Glibc module).
    @_silgen_name("mallopt")
    func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
