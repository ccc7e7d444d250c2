import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

/// Each tenant's spend in the current UTC month, per UTC day, in memory, for the budget check (which must not read
/// the database), plus the holds checks placed on it.
///
/// Exact: for every project and every day from `monthStart` on, it holds what `rollup_tenant_total_day` sums over all
/// environments (the breakdown API's number). It is loaded from the rollups on the writer's queue and then kept by
/// `SpendObserver`, which runs on that queue after every commit: the ingest's grouped deltas are added as they are;
/// any other transaction that changed a rollup (repricing, retention, the per-event fallback) makes it reload.
/// Tenant "" is spend without a tenant (counted in the project's total only).
final class SpendLedger: @unchecked Sendable {
    struct Delta: Sendable {
        var projectID: String
        var tenant: String
        var day: Int64
        var nanos: Int64
    }

    private struct Hold {
        var nanos: Int64
        var expires: Int64
    }

    private let lock = NSLock()
    /// Set when keeping it exact failed (a read error after a commit): `TallyDatabase.resyncSpend` then reloads.
    var needsReload: Bool {
        get { lock.withLock { stale } }
        set { lock.withLock { stale = newValue } }
    }
    private var stale = false
    private var monthStart: Int64 = .min
    /// project → tenant → day (µs, UTC midnight) → nano-USD.
    private var days: [String: [String: [Int64: Int64]]] = [:]
    /// project → tenant → hold id → hold; and project → hold id → tenant (to release by trace id).
    private var holds: [String: [String: [String: Hold]]] = [:]
    private var holdTenant: [String: [String: String]] = [:]
    private var holdCount = 0
    /// When expired holds of tenants no check asks about were last dropped (every 10 s at most, from `hold`).
    private var lastSweep: Int64 = 0

    /// Replaces everything with `rows` (the rollup sums from `monthStart` on). Called on the writer's queue.
    func replace(with rows: [Delta], monthStart: Int64) {
        var fresh: [String: [String: [Int64: Int64]]] = [:]
        for r in rows { fresh[r.projectID, default: [:]][r.tenant, default: [:]][r.day, default: 0] += r.nanos }
        lock.withLock {
            days = fresh
            self.monthStart = monthStart
            stale = false
        }
    }

    /// Adds committed deltas (rows before `monthStart` are not kept). Called on the writer's queue after a commit.
    func apply(_ deltas: [Delta]) {
        lock.withLock {
            for d in deltas where d.day >= monthStart && d.nanos != 0 {
                days[d.projectID, default: [:]][d.tenant, default: [:]][d.day, default: 0].addSaturating(d.nanos)
            }
        }
    }

    /// A tenant's committed spend today and this month, and its live holds, at `now`.
    func spend(projectID: String, tenant: String, now: Timestamp) -> TenantSpend {
        lock.withLock {
            rollOver(now)
            let day = BudgetPeriod.dayStart(now)
            let byDay = days[projectID]?[tenant] ?? [:]
            var spend = TenantSpend(dayNanos: byDay[day] ?? 0, monthNanos: byDay.values.saturatingSum())
            spend.heldNanos = liveHolds(projectID: projectID, tenant: tenant, now: now)
            return spend
        }
    }

    /// Every tenant with spend this month (or a live hold), with its use; tenant "" included.
    func tenants(projectID: String, now: Timestamp) -> [String: TenantSpend] {
        lock.withLock {
            rollOver(now)
            let day = BudgetPeriod.dayStart(now)
            var out: [String: TenantSpend] = [:]
            for (tenant, byDay) in days[projectID] ?? [:] {
                out[tenant] = TenantSpend(dayNanos: byDay[day] ?? 0, monthNanos: byDay.values.saturatingSum())
            }
            for tenant in Array((holds[projectID] ?? [:]).keys) {
                let held = liveHolds(projectID: projectID, tenant: tenant, now: now)
                if held > 0 { out[tenant, default: TenantSpend()].heldNanos = held }
            }
            return out
        }
    }

    /// The project's committed spend per tenant and day (tests compare it with a scan).
    func daily(projectID: String) -> [String: [Int64: Int64]] { lock.withLock { days[projectID] ?? [:] } }

    /// Places (or adds to) hold `id` of `tenant`: `nanos` count against the tenant until a costed observation of
    /// trace `id` commits or 120 s after the last addition.
    func hold(projectID: String, tenant: String, id: String, nanos: Int64, now: Timestamp) {
        guard nanos > 0 else { return }
        lock.withLock {
            if now.microseconds - lastSweep > 10_000_000 {
                lastSweep = now.microseconds
                for (project, byTenant) in holds {
                    for tenant in byTenant.keys { _ = liveHolds(projectID: project, tenant: tenant, now: now) }
                }
            }
            let expires = now.microseconds + SpendHold.lifetimeMicros
            if let owner = holdTenant[projectID]?[id], owner != tenant { remove(projectID: projectID, id: id) }
            if var existing = holds[projectID]?[tenant]?[id], existing.expires > now.microseconds {
                existing.nanos.addSaturating(nanos)
                existing.expires = expires
                holds[projectID, default: [:]][tenant, default: [:]][id] = existing
            } else {
                if holds[projectID]?[tenant]?[id] == nil { holdCount += 1 }
                holds[projectID, default: [:]][tenant, default: [:]][id] = Hold(nanos: nanos, expires: expires)
                holdTenant[projectID, default: [:]][id] = tenant
            }
        }
    }

    /// True while any hold exists (the ingest path only then collects the traces that got a cost).
    var hasHolds: Bool { lock.withLock { holdCount > 0 } }

    /// Ends the holds named by `traceIDs` (their real cost has committed).
    func releaseHolds(projectID: String, traceIDs: some Sequence<String>) {
        lock.withLock {
            guard holdTenant[projectID] != nil else { return }
            for id in traceIDs { remove(projectID: projectID, id: id) }
        }
    }

    /// Removes hold `id`, if any. Caller holds the lock.
    private func remove(projectID: String, id: String) {
        guard let tenant = holdTenant[projectID]?.removeValue(forKey: id) else { return }
        if holds[projectID]?[tenant]?.removeValue(forKey: id) != nil { holdCount -= 1 }
        if holds[projectID]?[tenant]?.isEmpty == true { holds[projectID]?[tenant] = nil }
        if holdTenant[projectID]?.isEmpty == true { (holds[projectID], holdTenant[projectID]) = (nil, nil) }
    }

    /// The sum of the tenant's live holds; its expired ones are dropped. Caller holds the lock. Cost: the tenant's
    /// holds only.
    private func liveHolds(projectID: String, tenant: String, now: Timestamp) -> Int64 {
        guard let byID = holds[projectID]?[tenant] else { return 0 }
        var sum: Int64 = 0
        for (id, hold) in byID {
            if hold.expires > now.microseconds {
                sum.addSaturating(hold.nanos)
            } else {
                remove(projectID: projectID, id: id)
            }
        }
        return sum
    }

    /// At a new month, forgets the days before it. Caller holds the lock.
    private func rollOver(_ now: Timestamp) {
        let start = BudgetPeriod.monthStart(now)
        guard start > monthStart else { return }
        if monthStart != .min {
            for (project, tenants) in days {
                days[project] = tenants.compactMapValues { byDay in
                    let kept = byDay.filter { $0.key >= start }
                    return kept.isEmpty ? nil : kept
                }
            }
        }
        monthStart = start
    }

    /// Reads every project's spend per tenant and day from `monthStart` on from the rollups (one range read per
    /// project over its rollup key) and replaces the ledger with it. Runs on the writer's queue.
    func load(_ db: Database, now: Timestamp = .now()) throws {
        let start = BudgetPeriod.monthStart(now)
        var rows: [Delta] = []
        for project in try String.fetchAll(db, sql: "SELECT id FROM project") {
            let cursor = try Row.fetchCursor(
                db,
                sql: """
                    SELECT tenant, day, sum(total_cost_nanos) FROM rollup_tenant_total_day
                    WHERE project_id = ? AND day >= ? GROUP BY tenant, day
                    """, arguments: [project, start])
            while let row = try cursor.next() {
                rows.append(Delta(projectID: project, tenant: row[0], day: row[1], nanos: row[2]))
            }
        }
        replace(with: rows, monthStart: start)
    }
}

/// Keeps `SpendLedger` exact, on the writer connection. A grouped ingest transaction reports its deltas (`report`)
/// and they are added after its commit. Every other change to the rollups moves `spend_revision` (a trigger on
/// `rollup_delta`, schema 0013), whoever made it; after each commit the revision is compared and the ledger reloaded
/// when it moved. (Not GRDB's change tracking: ingest steps some statements through SQLite's C API, which GRDB does
/// not see.) A rollback changes nothing.
final class SpendObserver: TransactionObserver, @unchecked Sendable {
    let ledger: SpendLedger
    private var reported: [SpendLedger.Delta]?
    /// The `spend_revision` the ledger was last loaded at. Read and written on the writer's queue only.
    private var revision: Int64 = -1
    var loadedRevision: Int64 { revision }

    init(ledger: SpendLedger) { self.ledger = ledger }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
    func databaseDidChange(with event: DatabaseEvent) {}

    /// Loads the ledger and remembers the revision it read (on the writer's queue).
    func load(_ db: Database) throws {
        revision = try Self.revision(db)
        try ledger.load(db)
    }

    static func revision(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT revision FROM spend_revision")) ?? 0
    }

    /// Inside an ingest transaction, before its deltas are applied: takes the exact per tenant-day cost deltas
    /// staged in `rollup_delta`.
    func report(_ db: Database) throws {
        var deltas: [SpendLedger.Delta] = []
        let cursor = try Row.fetchCursor(
            db.cachedStatement(
                sql: """
                    SELECT project_id, tenant, day, sum(total_cost_nanos) FROM rollup_delta
                    GROUP BY project_id, tenant, day
                    """))
        while let row = try cursor.next() {
            deltas.append(SpendLedger.Delta(projectID: row[0], tenant: row[1], day: row[2], nanos: row[3]))
        }
        reported = deltas
    }

    func databaseDidCommit(_ db: Database) {
        defer { reported = nil }
        do {
            if try Self.revision(db) != revision {
                try load(db)
            } else if let reported {
                ledger.apply(reported)
            }
        } catch {
            ledger.needsReload = true
        }
    }

    func databaseDidRollback(_ db: Database) { reported = nil }
}
