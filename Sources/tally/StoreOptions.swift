import ArgumentParser
import Foundation
import Logging
import TallyPostgres
import TallyStore
import TallyStoreAPI

/// Options every command shares: which store it opens. Each also reads a `TALLY_*` variable.
struct StoreOptions: ParsableArguments {
    @Option(
        help: """
            SQLite database file, or postgres://user:password@host:port/database (sslmode=require, verify-full, … as \
            query parameters) to run on PostgreSQL (env TALLY_DB, else DATABASE_URL when it names PostgreSQL). \
            Default: ./tally-data/tally.db
            """)
    var db: String?

    @Option(help: "PostgreSQL: connections this process opens at most (env TALLY_DB_POOL_SIZE). Default: 10")
    var dbPoolSize: Int?

    @Option(help: "PostgreSQL: seconds to wait for the database at start (env TALLY_DB_WAIT). Default: 60")
    var dbWait: Int?

    enum Location {
        case sqlite(path: String)
        case postgres(url: String)
    }

    var location: Location {
        let env = ProcessInfo.processInfo.environment
        let databaseURL = env["DATABASE_URL"].flatMap { Self.isPostgres($0) ? $0 : nil }
        let raw = db ?? env["TALLY_DB"] ?? databaseURL ?? "tally-data/tally.db"
        if Self.isPostgres(raw) { return .postgres(url: raw) }
        return .sqlite(path: URL(fileURLWithPath: raw).standardizedFileURL.path)
    }

    static func isPostgres(_ s: String) -> Bool { s.hasPrefix("postgres://") || s.hasPrefix("postgresql://") }

    /// Where the store is, for messages (a URL without its password).
    var description: String {
        switch location {
        case .sqlite(let path): path
        case .postgres(let url): "PostgreSQL \(PostgresStore.endpoint(url))"
        }
    }

    /// The SQLite file (commands that only work on one: backup).
    func open() throws -> TallyDatabase {
        switch location {
        case .sqlite(let path):
            do {
                return try TallyDatabase(path: path)
            } catch {
                throw ValidationError("cannot open the database at \(path): \(error)")
            }
        case .postgres:
            throw ValidationError("this command works on a SQLite file; --db names PostgreSQL")
        }
    }

    /// Runs `body` with the store: the SQLite file, or a PostgreSQL pool that is running, reachable (waited for up
    /// to `--db-wait` seconds) and migrated for as long as `body` runs. `statementTimeout`: PostgreSQL cancels a
    /// statement running longer.
    func withStorage<T: Sendable>(
        statementTimeout: Duration = .seconds(20), logger: Logger = Logger(label: "tally"),
        _ body: @Sendable (any TallyStorage) async throws -> T
    ) async throws -> T {
        switch location {
        case .sqlite:
            var database = try open()
            database.readTimeout = statementTimeout
            return try await body(database)
        case .postgres(let url):
            let env = ProcessInfo.processInfo.environment
            let poolSize = try dbPoolSize ?? env["TALLY_DB_POOL_SIZE"].map(Serve.int) ?? 10
            let wait = max(1, try dbWait ?? env["TALLY_DB_WAIT"].map(Serve.int) ?? 60)
            let store: PostgresStore
            do {
                store = try PostgresStore(
                    url: url, poolSize: poolSize, statementTimeout: statementTimeout, logger: logger)
            } catch {
                throw ValidationError("--db: \(error)")
            }
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await store.run() }
                defer { group.cancelAll() }
                do {
                    // Each attempt takes at most 3 s (2 s for an answer, 1 s apart).
                    try await store.waitUntilReachable(
                        attempts: (wait + 2) / 3, delay: .seconds(1), attemptTimeout: .seconds(2))
                } catch {
                    throw ValidationError("\(error)")
                }
                let applied = try await store.migrate()
                if !applied.isEmpty { logger.info("PostgreSQL schema migrated: \(applied.joined(separator: ", "))") }
                return try await body(store)
            }
        }
    }
}
