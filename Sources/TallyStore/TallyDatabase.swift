import Foundation
import GRDB
import TallyCore
import TallyStoreAPI
import TallyResources

/// The one database of a Tally server: a SQLite file in WAL mode behind a GRDB `DatabasePool`.
/// Opening it applies every pending migration from `schema/sqlite/`; writes are methods named after their intent, each one
/// transaction; a write that returns has been committed with `synchronous=FULL` (durable across a crash).
public struct TallyDatabase: Sendable {
    let writer: DatabasePool
    let pricingCache = PricingCache()
    /// Each tenant's spend this month, kept exact by every commit (`SpendObserver`), for budget checks.
    let spendLedger: SpendLedger
    /// Budget policies and rate windows in memory: the check endpoint never reads the database.
    let budgetGate: BudgetGate
    /// Keeps `spendLedger` exact on the writer connection.
    let spendObserver: SpendObserver
    /// Every ingest request passes through it (group commit).
    let ingestQueue: IngestQueue
    /// A second read-write connection that only runs passive checkpoints (`checkpointPassive`).
    let checkpointer: DatabaseQueue
    /// The database file.
    public let path: String
    /// The longest a scanning read may run (see `boundedRead`).
    public var readTimeout: Duration = .seconds(20)

    /// How long a write waits for the lock before failing as busy (the server then answers 503 + Retry-After).
    static let busyTimeoutMillis = 10_000

    /// Opens (creating if needed) the database at `path`, creating its directory. Throws if the file cannot be
    /// opened or a migration fails: the server must not start on a broken schema.
    public init(path: String, ingestLimits: IngestQueue.Limits = IngestQueue.Limits()) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(Double(Self.busyTimeoutMillis) / 1000)
        config.prepareDatabase { db in
            // Takes effect only on a new, empty file: retention can then give freed pages back to the disk.
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL") }
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Memory is bounded whatever the file size: no memory map (its touched pages would count as resident),
            // a page cache of 24 MiB for the writer (the interior pages of the indexes it inserts into) and 4 MiB per
            // reader (at most `maximumReaderCount`); the kernel's page cache does the rest.
            try db.execute(sql: "PRAGMA mmap_size = 0")
            try db.execute(sql: db.configuration.readonly ? "PRAGMA cache_size = -4096" : "PRAGMA cache_size = -24576")
            // After a checkpoint resets the WAL, a file grown larger than this is cut back to it.
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
            // The writer checkpoints by itself only past 64 MiB of WAL: normally `checkpointPassive` does it on its
            // own connection (the server calls it several times a second), off the writer's thread.
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA wal_autocheckpoint = 16384") }
        }
        writer = try DatabasePool(path: url.path, configuration: config)
        let ledger = SpendLedger()
        let observer = SpendObserver(ledger: ledger)
        spendObserver = observer
        spendLedger = ledger
        let gate = BudgetGate(ledger: ledger)
        budgetGate = gate
        ingestQueue = IngestQueue(writer: writer, spend: observer, limits: ingestLimits)
        self.path = url.path
        try Self.migrator().migrate(writer)
        try writer.writeWithoutTransaction { db in
            try db.inTransaction {
                try Self.seedAlertRules(db)
                try Self.syncExportTriggers(db)
                return .commit
            }
            db.add(transactionObserver: observer, extent: .databaseLifetime)
            try observer.load(db)
            gate.replacePolicies(try Self.loadPolicies(db), revision: try Self.budgetRevision(db))
        }
        var checkpointConfig = Configuration()
        checkpointConfig.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA mmap_size = 0")
            try db.execute(sql: "PRAGMA cache_size = -1024")
        }
        checkpointer = try DatabaseQueue(path: url.path, configuration: checkpointConfig)
    }

    static func migrator() throws -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in try Schema.migrations() {
            migrator.registerMigration(migration.name) { db in
                try db.execute(sql: migration.sql)
            }
        }
        return migrator
    }

    /// Names of the applied migrations, oldest first.
    public func appliedMigrations() throws -> [String] {
        try writer.read { db in try Self.migrator().appliedMigrations(db) }
    }

    /// True when the database answers a trivial query (readiness probe).
    public func isReachable() async -> Bool {
        (try? await writer.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }
}

/// The SQLite store implements the whole contract (`TallyStorage`).
extension TallyDatabase: IngestStore, ProjectStore, TraceStore, AnalyticsStore, PricingStore, PromptStore, BudgetStore,
    AlertStore, ExportStore, RetentionStore, MaintenanceStore
{}
