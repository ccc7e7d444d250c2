// Analytics benchmark: prints figures, never passes or fails.
//
//   swift run -c release tally-bench [observations] [db-path] [--in-order] [--load-only] [--no-rollups]
//                                    [--postgres URL [--keep]]
//
// Loads `observations` (default 1,000,000; 10,000,000 for the 10M figures) generations and spans over 100 tenants,
// 10 features and 30 days (each trace at a random time, or with `--in-order` in time order as a live collector
// receives them) through the real write path (pricing on, 2,000 events per request, group commit), then
// times the median of 7 runs of each query next to a baseline measured in the same run (one trace by id): cost by
// tenant by day over 30 days and by tenant over a rolling 24 h window — each from the rollups and by a scan, saying
// which one the API uses —, the prompt-version comparison, the newest 50 traces by tag, the trace list sorted by
// cost and by latency, and page 1,000 of a tag-filtered list by offset and by keyset cursor. `observations` 0
// queries an existing bench database. Then issue 16's reads: what-if (every feature, one feature), the waste
// finders (and each finder's main query alone), the users list and the sessions lists; `--load-only` stops after
// the ingest. `--no-rollups` (only for a database this run creates) drops the rollup
// triggers first: the ingest rate without rollup maintenance; its query figures then mean nothing.
// `--postgres URL` (a server this run may create a database on) loads the same observations into a new PostgreSQL
// database too, and prints each figure for both stores side by side with the ratio PostgreSQL ÷ SQLite.
import Foundation
import GRDB
import Logging
import TallyCore
import TallyPostgres
import TallySQL
import TallyStore
import TallyStoreAPI

/// What the benchmark calls on either store.
protocol BenchStore: IngestStore, TraceStore, MaintenanceStore, SavingsStore, ActivityStore, SQLReader {
    func breakdown(projectID: String, query q: BreakdownQuery) async throws -> [BreakdownRow]
    func breakdown(projectID: String, query q: BreakdownQuery, rollups: Bool) async throws -> [BreakdownRow]
    func promptVersions(projectID: String, promptName: String, filter: AnalyticsFilter) async throws
        -> [PromptVersionStats]
}
extension TallyDatabase: BenchStore {}
extension PostgresStore: BenchStore {}

struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func median(_ runs: Int = 7, _ body: () async throws -> Void) async rethrows -> Double {
    var times: [Double] = []
    for _ in 0..<runs { times.append(try await seconds(body)) }
    return times.sorted()[runs / 2]
}

let args = CommandLine.arguments
let total = args.count > 1 ? Int(args[1]) ?? 1_000_000 : 1_000_000
let inOrder = args.contains("--in-order")
let path = args.count > 2 ? args[2] : NSTemporaryDirectory() + "tally-bench-\(UUID().uuidString)/bench.db"
let created = !FileManager.default.fileExists(atPath: path)
let db = try TallyDatabase(path: path)
try db.ensureProject(id: "bench", name: "bench")
if args.contains("--no-rollups") {
    guard created else {
        print("--no-rollups drops triggers: only for a database this run creates, not \(path)")
        exit(2)
    }
    let raw = try DatabaseQueue(path: path)
    try raw.write { db in
        for trigger in ["observation_rollup_insert", "observation_rollup_update", "observation_rollup_delete"] {
            try db.execute(sql: "DROP TRIGGER IF EXISTS \(trigger)")
        }
    }
    print("rollup triggers dropped: ingest without rollup maintenance")
}
/// Loads the observations into `store` (none when `total` is 0) and times the queries; returns each figure (s)
/// by label, in order.
func run(_ store: some BenchStore, label storeLabel: String) async throws -> [(String, Double, String)] {
    var figures: [(String, Double, String)] = []
    let models = ["gpt-4.1-mini", "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash", "gpt-4.1-nano"]
    let day0 = Timestamp(iso8601: "2026-10-01T00:00:00Z")!.microseconds
    var rng = SplitMix64(state: 42)
    var events: [IngestionEvent] = []
    var loaded = 0
    var traceCount = 0
    if total == 0, let existing = try await store.traces(projectID: "bench", query: TraceQuery()).items.first {
        // Query an existing bench database only.
        traceCount = Int(existing.trace.id.dropFirst("trace-".count)) ?? 1
    }
    print("loading \(total) observations into \(storeLabel) …")
    let loadSeconds = try await seconds {
        while loaded < total {
            traceCount += 1
            // A user belongs to one tenant (user k to tenant k mod 100), as in a multi-tenant product.
            let user = rng.int(5_000)
            let tenant = "tenant-\(user % 100)"
            let feature = "feature-\(rng.int(10))"
            // Spread over the 30 days at random, or (`--in-order`) in arrival order as a live collector receives
            // them: trace k of about total/4 at k/(total/4) of the way, give or take a minute.
            let second =
                inOrder
                ? min(30 * 86_400 - 1, max(0, traceCount * 30 * 86_400 / max(1, total / 4) + rng.int(120) - 60))
                : rng.int(30 * 86_400)
            let start = Timestamp(microseconds: day0 + Int64(second) * 1_000_000)
            let traceID = "trace-\(traceCount)"
            var t = TraceUpsert(id: traceID)
            t.name = "\(feature)-request"
            t.timestamp = start
            t.userID = "user-\(user)"
            t.sessionID = "session-\(traceCount / 4)"
            t.metadata = ["tenantId": .string(tenant), "feature": .string(feature)]
            t.tags = [feature, "tenant:\(tenant)"]
            t.environment = "production"
            events.append(IngestionEvent(eventID: "t\(traceCount)", timestamp: start, body: .trace(t)))
            for k in 0..<4 where loaded < total {
                var o = ObservationUpsert(id: "\(traceID)-\(k)", type: k == 0 ? .span : .generation, isUpdate: false)
                o.traceID = traceID
                o.name = k == 0 ? "handle" : "llm-\(k)"
                o.startTime = Timestamp(microseconds: start.microseconds + Int64(k) * 10_000)
                o.endTime = Timestamp(
                    microseconds: start.microseconds + Int64(k) * 10_000 + Int64(50_000 + rng.int(2_000_000)))
                if k > 0 {
                    o.model = models[rng.int(models.count)]
                    o.usage = ["input": Int64(100 + rng.int(4_000)), "output": Int64(10 + rng.int(800))]
                    o.promptName = "prompt-\(k)"
                    o.promptVersion = 1 + rng.int(4)
                    // One call in 40 asks one of 1,000 common questions: the cache finder has repeats to find.
                    o.input = .string(
                        rng.int(40) == 0 ? "common question \(rng.int(1_000))" : "question \(traceCount)-\(k)")
                    if rng.int(50) == 0 { o.level = .error }
                }
                events.append(
                    IngestionEvent(eventID: "o\(traceID)-\(k)", timestamp: o.startTime!, body: .observation(o)))
                loaded += 1
            }
            if events.count >= 2_000 {
                _ = try await store.ingest(projectID: "bench", events: events)
                events.removeAll(keepingCapacity: true)
            }
        }
        if !events.isEmpty { _ = try await store.ingest(projectID: "bench", events: events) }
    }
    print(
        String(
            format: "ingest with pricing: %.0f observations/s (%d observations, %d traces, %.1f s)",
            Double(loaded) / loadSeconds, loaded, traceCount, loadSeconds))
    if loaded > 0 { figures.append(("ingest: ms per 1,000 observations", loadSeconds * 1000 / Double(loaded), "")) }
    // `--load-only`: the ingest alone (for instruction counts under callgrind), no queries.
    if CommandLine.arguments.contains("--load-only") { return figures }
    // The upkeep a running server does within the hour (planner statistics; PostgreSQL's visibility map, which
    // index-only scans need, as autovacuum sets it), once, untimed.
    try await store.optimize()

    var byTenantDay = BreakdownQuery()
    byTenantDay.dimensions = [.tenant]
    byTenantDay.bucket = .day
    byTenantDay.filter.from = Timestamp(microseconds: day0)
    byTenantDay.filter.to = Timestamp(microseconds: day0 + 30 * 86_400_000_000)
    byTenantDay.limit = BreakdownQuery.maxLimit
    byTenantDay.metrics = [.count, .inputTokens, .outputTokens, .totalTokens, .inputCost, .outputCost, .totalCost]
    // The top-tenants dashboard: the last 24 h from a moment that is not on an hour (15 days 5 h 17 min 23 s in).
    var rolling = BreakdownQuery()
    rolling.dimensions = [.tenant]
    let windowEnd = day0 + 15 * 86_400_000_000 + (5 * 3_600 + 17 * 60 + 23) * 1_000_000
    rolling.filter.from = Timestamp(microseconds: windowEnd - 86_400_000_000)
    rolling.filter.to = Timestamp(microseconds: windowEnd)
    rolling.metrics = [.count, .totalTokens, .totalCost]
    rolling.sort = .totalCost
    rolling.limit = 20
    var tagQuery = TraceQuery()
    tagQuery.tags = ["tenant:tenant-7"]
    tagQuery.page = PageRequest(page: 1, limit: 50)

    func line(_ label: String, _ seconds: Double, _ baseline: Double, target: String) {
        figures.append((label, seconds, target))
        print(
            String(
                format: "%@ %9.2f ms  (%5.0f× baseline; target %@)",
                label.padding(toLength: 58, withPad: " ", startingAt: 0),
                seconds * 1000, seconds / baseline, target))
    }

    let baseline = try await median { _ = try await store.trace(projectID: "bench", id: "trace-\(traceCount / 2)") }
    print(String(format: "baseline (one trace by id):                                %9.2f ms", baseline * 1000))
    figures.append(("baseline (one trace by id)", baseline, ""))
    for (label, query, target) in [
        ("cost by tenant by day, 30 days", byTenantDay, "≤ 50 ms"), ("top tenants, rolling 24 h", rolling, "≤ 20 ms"),
    ] {
        var rows = 0
        let fast = try await median { rows = try await store.breakdown(projectID: "bench", query: query).count }
        let source = TallyDatabase.isServedFromRollups(query) ? "rollups" : "scan"
        line("\(label) (\(rows) rows, API: \(source))", fast, baseline, target: target)
        do {
            let scan = try await median(3) {
                _ = try await store.breakdown(projectID: "bench", query: query, rollups: false)
            }
            line("  the same by a scan of the observations", scan, baseline, target: "reference")
        } catch {
            // Past a few million observations a 30-day scan outlasts the read timeout that guards the API.
            print("  the same by a scan of the observations: stopped (\(error))")
        }
    }
    let prompts = try await median {
        _ = try await store.promptVersions(projectID: "bench", promptName: "prompt-1", filter: AnalyticsFilter())
    }
    line("prompt-version comparison (rollups)", prompts, baseline, target: "≤ 50 ms")
    let tagList = try await median { _ = try await store.traces(projectID: "bench", query: tagQuery) }
    line("newest 50 traces by tag (public API, with total count)", tagList, baseline, target: "≤ 5 ms")
    var newestByTag = TraceListQuery()
    newestByTag.tags = ["tenant:tenant-7"]
    let uiTagList = try await median { _ = try await store.traceList(projectID: "bench", query: newestByTag) }
    line("newest 50 traces by tag (UI list)", uiTagList, baseline, target: "≤ 5 ms")
    for sort in [TraceListQuery.Sort.totalCost, .latency] {
        var q = TraceListQuery()
        q.sort = sort
        let t = try await median { _ = try await store.traceList(projectID: "bench", query: q) }
        line("trace list sorted by \(sort.rawValue), all \(traceCount) traces", t, baseline, target: "≤ 50 ms")
    }
    var deep = TraceListQuery()
    deep.tags = ["tenant:tenant-7"]
    deep.limit = 20
    let firstPage = try await median { _ = try await store.traceList(projectID: "bench", query: deep) }
    line("tag-filtered list, page 1 (20 rows)", firstPage, baseline, target: "reference")
    deep.offset = 20 * 999
    let offsetPage = try await median(3) { _ = try await store.traceList(projectID: "bench", query: deep) }
    line("  page 1,000 by offset", offsetPage, baseline, target: "grows with the offset")
    // The cursor of page 999's last row: walk there once (not timed), then time the page after it.
    deep.offset = 0
    var cursorQuery = deep
    for _ in 0..<999 {
        guard let next = try await store.traceList(projectID: "bench", query: cursorQuery).next else { break }
        cursorQuery.after = next
    }
    let cursorPage = try await median { _ = try await store.traceList(projectID: "bench", query: cursorQuery) }
    line("  page 1,000 by cursor", cursorPage, baseline, target: "same as page 1")

    // Issue 16's reads: what-if, the waste finders, the Users and Sessions views (all 30 days).
    var whatIf = WhatIfQuery(model: "gpt-4o-mini")
    whatIf.filter.from = Timestamp(microseconds: day0)
    whatIf.filter.to = Timestamp(microseconds: day0 + 30 * 86_400_000_000)
    whatIf.dimensions = [.feature]
    let now = Timestamp(microseconds: day0 + 30 * 86_400_000_000)
    let whatIfAll = try await median(3) { _ = try await store.whatIf(projectID: "bench", query: whatIf, now: now) }
    line("what-if as gpt-4o-mini by feature, 30 days", whatIfAll, baseline, target: "≤ 50 ms")
    whatIf.filter.features = ["feature-3"]
    whatIf.dimensions = [.model]
    let whatIfOne = try await median(3) { _ = try await store.whatIf(projectID: "bench", query: whatIf, now: now) }
    line("what-if, one feature by model, 30 days", whatIfOne, baseline, target: "≤ 50 ms")
    let insightQuery = InsightQuery(from: whatIf.filter.from!, to: whatIf.filter.to!)
    var findings = 0
    let insights = try await median(3) {
        findings = try await store.insights(projectID: "bench", query: insightQuery).count
    }
    line("waste finders, 30 days (\(findings) findings)", insights, baseline, target: "≤ 1 s")
    // As the Savings page asks: 30 days ending at a time of day, so both edge days are partial and scanned.
    let halfDay: Int64 = 43_200_000_000
    let edged = InsightQuery(
        from: Timestamp(microseconds: insightQuery.from.microseconds - halfDay),
        to: Timestamp(microseconds: insightQuery.to.microseconds - halfDay))
    let insightsEdged = try await median(3) { _ = try await store.insights(projectID: "bench", query: edged) }
    line("waste finders, 30 days ending at noon", insightsEdged, baseline, target: "≤ 1 s")
    // Each finder's main query alone (the examples and the downgrade's usage read come on top).
    let finders = InsightSQL(store.dialect)
    // The workload's traces hold 3 generations and a span, under the loop thresholds. With a cap of 3 calls every
    // trace loops and is read step by step (the worst case); with caps of 4 every trace has enough observations but
    // none loops (what the stored call and step counts screen out).
    var everyTrace = insightQuery
    everyTrace.thresholds.loopCalls = 3
    var noLoop = insightQuery
    noLoop.thresholds.loopCalls = 4
    noLoop.thresholds.loopRepeats = 4
    for (name, query) in [
        ("retry_waste", finders.retryWaste(insightQuery, projectID: "bench").groups),
        ("agent_loop", finders.agentLoops(insightQuery, projectID: "bench")),
        ("agent_loop, every trace a loop (loopCalls 3)", finders.agentLoops(everyTrace, projectID: "bench")),
        ("agent_loop, 4 observations each, no loop (caps 4)", finders.agentLoops(noLoop, projectID: "bench")),
        ("cache_opportunity", finders.repeatedInputs(insightQuery, projectID: "bench")),
        ("embed_reindex", finders.reembedded(insightQuery, projectID: "bench")),
    ] {
        let t = try await median(3) { _ = try await store.rows(query) }
        line("  finder \(name)", t, baseline, target: "reference")
    }
    let profile = try await median(3) { _ = try await store.callShapes(projectID: "bench", insightQuery) }
    line("  finder model_downgrade + context_bloat profile (rollup)", profile, baseline, target: "reference")
    let profileScan = try await median(3) {
        _ = try await store.callShapes(projectID: "bench", insightQuery, rollups: false)
    }
    line("  finder model_downgrade + context_bloat profile (scan)", profileScan, baseline, target: "reference")
    var users = UserListQuery()
    users.from = whatIf.filter.from
    users.to = whatIf.filter.to
    let usersPage = try await median { _ = try await store.users(projectID: "bench", query: users) }
    line("users by cost, 30 days, first page", usersPage, baseline, target: "≤ 100 ms")
    let sessionsPage = try await median {
        _ = try await store.sessionList(projectID: "bench", query: SessionListQuery())
    }
    line("sessions, newest page", sessionsPage, baseline, target: "≤ 100 ms")
    var tenantSessions = SessionListQuery()
    tenantSessions.tenants = ["tenant-7"]
    let tenantPage = try await median { _ = try await store.sessionList(projectID: "bench", query: tenantSessions) }
    line("sessions of one tenant, newest page", tenantPage, baseline, target: "≤ 100 ms")

    return figures
}

let sqliteFigures = try await run(db, label: path)
if let flag = args.firstIndex(of: "--postgres"), flag + 1 < args.count {
    // A new database on that server, dropped at the end.
    let base = args[flag + 1]
    let name = "tally_bench_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
    var url = URLComponents(string: base)!
    url.path = "/\(name)"
    var quiet = Logger(label: "tally.bench")
    quiet.logLevel = .error
    let admin = try PostgresStore(url: base, poolSize: 1, logger: quiet)
    let pg = try PostgresStore(url: url.string!, poolSize: 8, statementTimeout: .seconds(600), logger: quiet)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await admin.run() }
        group.addTask { await pg.run() }
        defer { group.cancelAll() }
        try await admin.execute("CREATE DATABASE \(name)")
        try await pg.migrate()
        _ = try await pg.ensureProject(id: "bench", name: "bench")
        let pgFigures = try await run(pg, label: "PostgreSQL \(pg.endpoint)")
        print("\nside by side (ms):")
        print("figure".padding(toLength: 58, withPad: " ", startingAt: 0) + "    SQLite  PostgreSQL   PG÷SQLite")
        for ((label, a, _), (_, b, _)) in zip(sqliteFigures, pgFigures) {
            print(
                String(
                    format: "%@ %9.2f %11.2f %10.2f×", label.padding(toLength: 58, withPad: " ", startingAt: 0),
                    a * 1000, b * 1000, b / a))
        }
        if args.contains("--keep") {
            print("kept PostgreSQL database \(name)")
        } else {
            try await admin.execute("DROP DATABASE \(name) WITH (FORCE)")
        }
    }
}
