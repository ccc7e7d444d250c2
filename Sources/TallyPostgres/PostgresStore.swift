import Foundation
import Logging
import NIOSSL
import PostgresNIO
import TallyCore
import TallyResources
import TallySQL
import TallyStoreAPI

/// The PostgreSQL store: the same contract as the SQLite one (`TallyStorage`, implemented protocol by protocol), for
/// several stateless collectors on one database. A pooled client (`run()` must be running while it is used);
/// every value is a bound parameter.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// Where it connects, without the password (for messages).
    public let endpoint: String
    /// The server cancels a statement running longer (SQLSTATE 57014).
    let statementTimeout: Duration
    public let commitFeed = CommitFeed()
    let pricingCache = PostgresPricingCache()
    let budgetCache = PostgresBudgetCache()
    let partitions = PartitionCache()
    /// Events of requests being written now (`queuedEvents`).
    let inFlight = InFlightCounter()

    /// `url`: `postgres://user:password@host:port/database` (`postgresql://` too), with `sslmode` (`disable`, the
    /// default, `prefer`, `require`, `verify-ca`, `verify-full`) and `sslrootcert` (a PEM file of trusted roots).
    /// `poolSize`: connections at most; `statementTimeout`: the server cancels a statement running longer
    /// (SQLSTATE 57014), so a runaway query cannot hold a connection.
    public init(
        url: String, poolSize: Int = 10, statementTimeout: Duration = .seconds(20),
        logger: Logger = Logger(label: "tally.postgres")
    ) throws {
        var configuration = try PostgresURL.configuration(url)
        configuration.options.maximumConnections = max(poolSize, 1)
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", "\(max(Int(statementTimeout / .milliseconds(1)), 1))ms"),
            ("application_name", "tally"),
        ]
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.statementTimeout = statementTimeout
        self.logger = logger
        endpoint = PostgresURL.endpoint(url)
    }

    /// `url` without its password (for messages).
    public static func endpoint(_ url: String) -> String { PostgresURL.endpoint(url) }

    /// Whether the database answers a trivial query within `timeout`.
    public func isReachable(timeout: Duration) async -> Bool {
        (try? await ping(timeout: timeout)) != nil
    }

    /// `SELECT 1`, given up after `timeout` (the pool keeps retrying a connection to a server that is down, and a
    /// query waits for one: this bounds the wait).
    func ping(timeout: Duration) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for try await _ in try await self.client.query("SELECT 1", logger: self.logger) {}
                return true
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            guard try await group.next() == true else {
                throw Unreachable(description: "no answer within \(timeout)")
            }
        }
    }

    /// Waits for the database at start: up to `attempts` tries (each given up after `attemptTimeout`) `delay`
    /// apart. Throws `Unreachable`, naming the endpoint (never the password) and the last error, when it never
    /// answers.
    public func waitUntilReachable(
        attempts: Int = 30, delay: Duration = .seconds(1), attemptTimeout: Duration = .seconds(5)
    ) async throws {
        var last = "no attempt made"
        for attempt in 1...max(attempts, 1) {
            do {
                try await ping(timeout: attemptTimeout)
                return
            } catch {
                last = String(describing: error).prefix(300).description
                if attempt < attempts { try await Task.sleep(for: delay) }
            }
        }
        throw Unreachable(
            description: "PostgreSQL at \(endpoint) did not answer after \(max(attempts, 1)) attempts "
                + "\(delay) apart; last error: \(last)")
    }

    public struct Unreachable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `body` in a transaction (committed when it returns, rolled back when it throws). An error `body` throws
    /// comes out as itself, not wrapped in the driver's transaction error (which a failed rollback keeps).
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> sending T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger, body)
        } catch let e as PostgresTransactionError {
            if e.rollbackError == nil, let cause = e.closureError { throw cause }
            throw e
        }
    }

    /// Runs one statement of `sql` (no values; operators' tools and benchmarks: CREATE/DROP DATABASE).
    public func execute(_ sql: String) async throws {
        try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    /// Runs the connection pool until the calling task is cancelled.
    public func run() async { await client.run() }

    /// Applies every migration of `schema/postgres/` not yet applied, each in its own transaction, under an advisory
    /// lock so collectors starting together apply each once. Returns the names applied now.
    @discardableResult
    public func migrate() async throws -> [String] {
        let migrations = try Schema.migrations(for: .postgres)
        return try await transaction { connection in
            // Transaction-scoped: released at commit, or when a collector dies mid-migration. An index build on a
            // large table may outlast the statement timeout that guards requests.
            try await connection.query("SELECT pg_advisory_xact_lock(7231001)", logger: logger)
            try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS tally_migration (identifier text PRIMARY KEY, applied_at bigint NOT NULL)",
                logger: logger)
            var applied = Set<String>()
            for try await name in try await connection.query("SELECT identifier FROM tally_migration", logger: logger)
                .decode(String.self)
            {
                applied.insert(name)
            }
            var now: [String] = []
            for migration in migrations where !applied.contains(migration.name) {
                for statement in PostgresURL.statements(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                let stamp = Timestamp.now().microseconds
                try await connection.query(
                    "INSERT INTO tally_migration (identifier, applied_at) VALUES (\(migration.name), \(stamp))",
                    logger: logger)
                now.append(migration.name)
            }
            return now
        }
    }

    /// The migrations recorded as applied, in name order.
    public func appliedMigrations() async throws -> [String] {
        var out: [String] = []
        for try await name in try await client.query(
            "SELECT identifier FROM tally_migration ORDER BY identifier", logger: logger
        ).decode(String.self) {
            out.append(name)
        }
        return out
    }
}

/// Connection URLs and migration files.
enum PostgresURL {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    static func configuration(_ text: String) throws -> PostgresClient.Configuration {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? ""),
            let host = url.host, !host.isEmpty
        else {
            throw Invalid(description: "not a PostgreSQL URL (postgres://user:password@host:port/database)")
        }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        let query = { (name: String) in url.queryItems?.first { $0.name == name }?.value }
        return PostgresClient.Configuration(
            host: host, port: url.port ?? 5432, username: url.user ?? "postgres", password: url.password,
            database: database.isEmpty ? nil : database,
            tls: try tls(sslmode: query("sslmode") ?? "disable", rootCertificate: query("sslrootcert")))
    }

    /// libpq's `sslmode` values: `disable` (plain), `prefer` (TLS when the server offers it), `require` (TLS, the
    /// certificate not checked), `verify-ca` (TLS, the certificate signed by `sslrootcert` or the system's roots),
    /// `verify-full` (also the host name). `allow` is refused (plain first is never what a collector wants).
    static func tls(sslmode: String, rootCertificate: String?) throws -> PostgresClient.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let rootCertificate { tls.trustRoots = .file(rootCertificate) }
        switch sslmode {
        case "disable": return .disable
        case "prefer":
            tls.certificateVerification = .none
            return .prefer(tls)
        case "require":
            tls.certificateVerification = .none
            return .require(tls)
        case "verify-ca":
            tls.certificateVerification = .noHostnameVerification
            return .require(tls)
        case "verify-full":
            tls.certificateVerification = .fullVerification
            return .require(tls)
        default:
            throw Invalid(
                description:
                    "sslmode=\(sslmode) is not supported; use disable, prefer, require, verify-ca or verify-full")
        }
    }

    /// `host:port/database` of a URL, without user and password.
    static func endpoint(_ text: String) -> String {
        guard let url = URLComponents(string: text) else { return "?" }
        return "\(url.host ?? "?"):\(url.port ?? 5432)\(url.path)"
    }

    /// A migration file's statements: split at a `;` that ends a line, except inside a `$$` body.
    static func statements(_ sql: String) -> [String] {
        var out: [String] = []
        var current = ""
        var inBody = false
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            let code = line.hasPrefix("--") ? "" : String(line)
            if code.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            current += line + "\n"
            if !inBody, code.trimmingCharacters(in: .whitespaces).hasSuffix(";") {
                let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !statement.isEmpty { out.append(statement) }
                current = ""
            }
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.split(separator: "\n").allSatisfy({ $0.hasPrefix("--") }) { out.append(rest) }
        return out
    }
}
