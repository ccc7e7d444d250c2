import Foundation
import Glibc
import PostgresNIO
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

/// The stores the conformance tests run against: SQLite always; PostgreSQL when `TALLY_TEST_POSTGRES_URL` names a
/// server (scripts/test starts one; in CI its absence is a failure, see `postgresIsConfiguredInCI`).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    static let postgresURL = ProcessInfo.processInfo.environment["TALLY_TEST_POSTGRES_URL"]
    static var available: [Backend] { postgresURL == nil ? [.sqlite] : allCases }

    /// Runs `body` with a fresh, empty, migrated store of this backend (PostgreSQL: a new database, dropped after).
    func withStore(_ body: @Sendable (any StoreUnderTest) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            let (db, _) = try temporaryDatabase()
            try await body(db)
        case .postgres:
            try await PostgresHarness.withDatabase { store in try await body(store) }
        }
    }
}

/// The store protocols both backends implement so far (the conformance suites run against these).
typealias StoreUnderTest = TallyStoreAPI.ProjectStore & IngestStore & TraceStore & PromptStore & PricingStore
    & RetentionStore & BudgetStore & AlertStore & ExportStore & SavingsStore & ActivityStore

extension Backend {
    /// Row counts of the data tables of `store`, whichever backend it is.
    static func rowCounts(_ store: any StoreUnderTest) async throws -> [String: Int] {
        let tables = ["trace", "observation", "score", "session", "trace_tag"]
        if let db = store as? TallyDatabase { return try db.rowCounts() }
        let pg = try #require(store as? PostgresStore)
        var out: [String: Int] = [:]
        for table in tables {
            for try await n in try await pg.client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"))
                .decode(Int.self)
            {
                out[table] = n
            }
        }
        return out
    }
}

/// A throwaway database per test on the server `TALLY_TEST_POSTGRES_URL` names.
enum PostgresHarness {
    static func withDatabase(_ body: @Sendable (PostgresStore) async throws -> Void) async throws {
        try await withDatabase { store, _ in try await body(store) }
    }

    /// As `withDatabase`, also handing over the database's URL (a second collector connects with it).
    static func withDatabase(_ body: @Sendable (PostgresStore, String) async throws -> Void) async throws {
        let base = try #require(Backend.postgresURL)
        let name = "tally_test_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        var url = URLComponents(string: base)!
        url.path = "/\(name)"
        let databaseURL = url.string!
        let store = try PostgresStore(url: databaseURL, poolSize: 4)
        // A client runs once: the admin connection stays up for the create and the drop.
        try await running(try PostgresStore(url: base, poolSize: 1)) { admin in
            try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
            let outcome: Result<Void, any Error>
            do {
                try await running(store) { store in
                    try await store.migrate()
                    try await body(store, databaseURL)
                }
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            try await admin.client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"))
            try outcome.get()
        }
    }

    /// Runs `body` while `store`'s pool runs.
    static func running<T: Sendable>(_ store: PostgresStore, _ body: @Sendable (PostgresStore) async throws -> T)
        async throws -> T
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            defer { group.cancelAll() }
            return try await body(store)
        }
    }
}

@Suite("Store conformance: projects, keys, sessions")
struct ProjectStoreConformanceTests {
    @Test("CI runs the conformance tests against PostgreSQL too")
    func postgresIsConfiguredInCI() {
        if ProcessInfo.processInfo.environment["CI"] != nil {
            #expect(Backend.postgresURL != nil, "scripts/test must start PostgreSQL and set TALLY_TEST_POSTGRES_URL")
        }
    }

    @Test("projects: created once, their name kept, listed", arguments: Backend.available)
    func projects(_ backend: Backend) async throws {
        try await backend.withStore { store in
            let a = try await store.ensureProject(id: "a", name: "Alpha")
            #expect(a.id == "a" && a.name == "Alpha" && a.organizationID == "tally")
            let again = try await store.ensureProject(id: "a", name: "Renamed")
            #expect(again.name == "Alpha" && again.createdAt == a.createdAt)
            _ = try await store.ensureProject(id: "b", name: "Beta")
            #expect(try await store.projects().map(\.id) == ["a", "b"])
        }
    }

    @Test(
        "keys: hashed secrets, constant answers for wrong or unknown keys, no silent rotation, moves, revocation",
        arguments: Backend.available)
    func keys(_ backend: Backend) async throws {
        try await backend.withStore { store in
            _ = try await store.ensureProject(id: "p", name: "P")
            _ = try await store.ensureProject(id: "q", name: "Q")
            let created = try await store.createKey(
                projectID: "p", publicKey: "pk-lf-1", secretKey: "sk-lf-secret-1", note: "first", scope: .full)
            #expect(created == CreatedKey(publicKey: "pk-lf-1", secretKey: "sk-lf-secret-1", projectID: "p"))
            #expect(
                try await store.authenticatedKey(publicKey: "pk-lf-1", secretKey: "sk-lf-secret-1")?.project.id == "p")
            #expect(try await store.authenticatedKey(publicKey: "pk-lf-1", secretKey: "sk-lf-secret-2") == nil)
            #expect(try await store.authenticatedKey(publicKey: "pk-lf-none", secretKey: "sk-lf-secret-1") == nil)
            // The same public key again on the same project: nothing changes (the secret is not rotated).
            #expect(
                try await store.createKey(
                    projectID: "p", publicKey: "pk-lf-1", secretKey: "sk-lf-other", note: nil, scope: .full) == nil)
            #expect(try await store.authenticatedKey(publicKey: "pk-lf-1", secretKey: "sk-lf-secret-1") != nil)
            // Unknown project.
            await #expect(throws: KeyError.projectNotFound("nope")) {
                try await store.createKey(projectID: "nope", publicKey: nil, secretKey: nil, note: nil, scope: .full)
            }
            // A tenant key: its reach comes back; it cannot stand for the project (Bearer scores access).
            let tenant = try await store.createGeneratedKey(
                projectID: "p", note: "acme", scope: KeyScope(tenant: "acme", readOnly: true))
            let reach = try await store.authenticatedKey(publicKey: tenant.publicKey, secretKey: tenant.secretKey)
            #expect(reach?.scope == KeyScope(tenant: "acme", readOnly: true))
            #expect(try await store.project(publicKey: tenant.publicKey) == nil)
            #expect(try await store.project(publicKey: "pk-lf-1")?.id == "p")
            let listed = try await store.listKeys(projectID: "p")
            #expect(listed.map(\.publicKey) == ["pk-lf-1", tenant.publicKey])
            #expect(listed[0].displaySecret == "sk-lf-...et-1" && listed[0].note == "first")
            #expect(listed[1].scope.tenant == "acme" && listed[1].revokedAt == nil)
            // Revocation is scoped to the project and takes effect at once.
            #expect(try await store.revokeKey(publicKey: "pk-lf-1", inProject: "q") == false)
            #expect(try await store.revokeKey(publicKey: "pk-lf-1", inProject: "p"))
            #expect(try await store.revokeKey(publicKey: "pk-lf-1", inProject: "p") == false)
            #expect(try await store.authenticatedKey(publicKey: "pk-lf-1", secretKey: "sk-lf-secret-1") == nil)
            #expect(try await store.listKeys(projectID: "p").first?.revokedAt != nil)
            // A revoked public key given again is stored afresh; one of another project moves with its new secret.
            #expect(
                try await store.createKey(
                    projectID: "q", publicKey: tenant.publicKey, secretKey: "sk-lf-moved", note: nil, scope: .full)
                    != nil)
            #expect(
                try await store.authenticatedKey(publicKey: tenant.publicKey, secretKey: "sk-lf-moved")?.project.id
                    == "q")
            #expect(try await store.authenticatedKey(publicKey: tenant.publicKey, secretKey: tenant.secretKey) == nil)
        }
    }

    @Test(
        "UI sessions: a token for a valid pair, its reach, sign-out, and revocation ends it",
        arguments: Backend.available)
    func sessions(_ backend: Backend) async throws {
        try await backend.withStore { store in
            _ = try await store.ensureProject(id: "p", name: "P")
            let key = try await store.createGeneratedKey(projectID: "p", note: nil, scope: KeyScope(readOnly: true))
            #expect(try await store.openSession(publicKey: key.publicKey, secretKey: "wrong") == nil)
            let opened = try #require(try await store.openSession(publicKey: key.publicKey, secretKey: key.secretKey))
            #expect(opened.token.count == 64 && opened.project.id == "p" && opened.scope == KeyScope(readOnly: true))
            #expect(try await store.session(token: opened.token)?.scope == KeyScope(readOnly: true))
            #expect(try await store.session(token: "short") == nil)
            #expect(try await store.session(token: String(repeating: "0", count: 64)) == nil)
            try await store.closeSession(token: opened.token)
            #expect(try await store.session(token: opened.token) == nil)
            let second = try #require(try await store.openSession(publicKey: key.publicKey, secretKey: key.secretKey))
            #expect(try await store.revokeKey(publicKey: key.publicKey, inProject: "p"))
            #expect(try await store.session(token: second.token) == nil)
        }
    }

    @Test(
        "PostgreSQL: secrets are stored hashed; migrations apply once, also from two collectors at once",
        .enabled(if: Backend.postgresURL != nil))
    func postgresStorage() async throws {
        try await PostgresHarness.withDatabase { store in
            _ = try await store.ensureProject(id: "p", name: "P")
            let key = try await store.createGeneratedKey(projectID: "p", note: nil, scope: .full)
            var stored: [String] = []
            for try await (salt, hash, display) in try await store.client.query(
                "SELECT secret_salt, secret_hash, display_secret FROM api_key"
            ).decode((String, String, String).self) {
                stored += [salt, hash, display]
            }
            #expect(stored.count == 3 && !stored.contains { $0.contains(key.secretKey) })
            let files = try FileManager.default.contentsOfDirectory(
                atPath: StoreFixture.root.deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent("schema/postgres").path
            ).filter { $0.hasSuffix(".sql") }.map { String($0.dropLast(4)) }.sorted()
            #expect(try await store.appliedMigrations() == files)
            // Two more collectors start together on the migrated database: neither applies anything again.
            async let first = store.migrate()
            async let second = store.migrate()
            let (a, b) = try await (first, second)
            #expect(a.isEmpty && b.isEmpty)
        }
    }

    @Test(
        "PostgreSQL: the statement timeout cancels a runaway statement; startup waits a bounded time and names the endpoint, never the password; URLs are checked",
        .enabled(if: Backend.postgresURL != nil))
    func postgresConnection() async throws {
        let base = try #require(Backend.postgresURL)
        let short = try PostgresStore(url: base, poolSize: 1, statementTimeout: .milliseconds(200))
        try await PostgresHarness.running(short) { store in
            #expect(await store.isReachable(timeout: .seconds(10)))  // a first connection on a loaded machine
            do {
                for try await _ in try await store.client.query("SELECT pg_sleep(2)") {}
                Issue.record("a 2 s statement outlived a 200 ms statement timeout")
            } catch let error as PSQLError {
                #expect(error.serverInfo?[.sqlState] == "57014")
            }
        }
        // Nothing listens on this port: three attempts 50 ms apart, then a message without the password.
        let port = try #require(try await Self.closedPort())
        let nowhere = try PostgresStore(url: "postgres://tally:hunter2@127.0.0.1:\(port)/tally", poolSize: 1)
        try await PostgresHarness.running(nowhere) { store in
            #expect(await store.isReachable(timeout: .milliseconds(500)) == false)
            let started = ContinuousClock.now
            do {
                try await store.waitUntilReachable(
                    attempts: 3, delay: .milliseconds(50), attemptTimeout: .milliseconds(500))
                Issue.record("reached a closed port")
            } catch let error as PostgresStore.Unreachable {
                #expect(error.description.contains("127.0.0.1:\(port)/tally"))
                #expect(error.description.contains("3 attempts") && !error.description.contains("hunter2"))
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
        #expect(throws: (any Error).self) { try PostgresStore(url: "mysql://x@127.0.0.1/db") }
        #expect(throws: (any Error).self) { try PostgresStore(url: "postgres://x@127.0.0.1/db?sslmode=allow") }
    }

    /// The CA file of the test server's certificate, when scripts/test started it with TLS.
    static let certificate = ProcessInfo.processInfo.environment["TALLY_TEST_POSTGRES_CA"]

    @Test(
        "PostgreSQL TLS: sslmode=require encrypts, verify-full checks the certificate against sslrootcert and the host",
        .enabled(if: Backend.postgresURL != nil && certificate != nil))
    func postgresTLS() async throws {
        let base = try #require(Backend.postgresURL)
        let ca = try #require(Self.certificate)
        func encrypted(_ query: String) async throws -> Bool {
            let store = try PostgresStore(url: base + "?" + query, poolSize: 1)
            return try await PostgresHarness.running(store) { store in
                var on = false
                for try await ssl in try await store.client.query(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                ).decode(Bool.self) {
                    on = ssl
                }
                return on
            }
        }
        #expect(try await encrypted("sslmode=require"))
        #expect(try await encrypted("sslmode=verify-full&sslrootcert=\(ca)"))
        #expect(try await encrypted("sslmode=disable") == false)
        // The system's roots do not know the test certificate: verify-full refuses the server.
        let untrusted = try PostgresStore(url: base + "?sslmode=verify-full", poolSize: 1)
        try await PostgresHarness.running(untrusted) { store in
            #expect(await store.isReachable(timeout: .seconds(3)) == false)
        }
    }

    /// A loopback port nobody listens on (bound, then closed).
    static func closedPort() async throws -> Int? {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        return bound ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }
}
