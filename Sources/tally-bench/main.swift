// Analytics benchmark: prints figures, never passes or fails.
//
//   swift run -c release tally-bench [observations] [db-path] [--no-rollups]
//
// `--no-rollups` drops the rollup triggers first: the ingest rate without rollup maintenance, for comparison with
// a normal run (its query figures then read stale or empty rollups and mean nothing).
//
// Loads `observations` (default 1,000,000) generations and spans over 100 tenants, 10 features and 30 days through
// the real write path (pricing on, 2,000 events per transaction), then times the median of 7 runs of:
// cost by tenant by day over 30 days, the prompt-version comparison, and the trace list filtered by one tag,
// each next to a baseline measured in the same run (a point lookup of one trace by id).
import Foundation
import GRDB
import TallyCore
import TallyStore

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
let path = args.count > 2 ? args[2] : NSTemporaryDirectory() + "tally-bench-\(UUID().uuidString)/bench.db"
let db = try TallyDatabase(path: path)
try db.ensureProject(id: "bench", name: "bench")
if args.contains("--no-rollups") {
    let raw = try DatabaseQueue(path: path)
    try raw.write { db in
        for trigger in ["observation_rollup_insert", "observation_rollup_update", "observation_rollup_delete"] {
            try db.execute(sql: "DROP TRIGGER IF EXISTS \(trigger)")
        }
    }
    print("rollup triggers dropped: ingest without rollup maintenance")
}
let models = ["gpt-4.1-mini", "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash", "gpt-4.1-nano"]
let day0 = Timestamp(iso8601: "2026-10-01T00:00:00Z")!.microseconds
var rng = SplitMix64(state: 42)
var events: [IngestionEvent] = []
var loaded = 0
var traceCount = 0
if total == 0, let existing = try await db.traces(projectID: "bench", query: TraceQuery()).items.first {
    // Query an existing bench database only.
    traceCount = Int(existing.trace.id.dropFirst("trace-".count)) ?? 1
}
print("loading \(total) observations into \(path) …")
let loadSeconds = try await seconds {
    while loaded < total {
        traceCount += 1
        let tenant = "tenant-\(rng.int(100))"
        let feature = "feature-\(rng.int(10))"
        let start = Timestamp(microseconds: day0 + Int64(rng.int(30 * 86_400)) * 1_000_000)
        let traceID = "trace-\(traceCount)"
        var t = TraceUpsert(id: traceID)
        t.name = "\(feature)-request"
        t.timestamp = start
        t.userID = "user-\(rng.int(5_000))"
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
                if rng.int(50) == 0 { o.level = .error }
            }
            events.append(IngestionEvent(eventID: "o\(traceID)-\(k)", timestamp: o.startTime!, body: .observation(o)))
            loaded += 1
        }
        if events.count >= 2_000 {
            _ = try await db.ingest(projectID: "bench", events: events)
            events.removeAll(keepingCapacity: true)
        }
    }
    if !events.isEmpty { _ = try await db.ingest(projectID: "bench", events: events) }
}
print(
    String(
        format: "ingest with pricing: %.0f observations/s (%d observations, %d traces, %.1f s)",
        Double(loaded) / loadSeconds, loaded, traceCount, loadSeconds))

var byTenantDay = BreakdownQuery()
byTenantDay.dimensions = [.tenant]
byTenantDay.bucket = .day
byTenantDay.filter.from = Timestamp(microseconds: day0)
byTenantDay.filter.to = Timestamp(microseconds: day0 + 30 * 86_400_000_000)
byTenantDay.limit = BreakdownQuery.maxLimit
byTenantDay.metrics = [.count, .inputTokens, .outputTokens, .totalTokens, .inputCost, .outputCost, .totalCost]
var tagQuery = TraceQuery()
tagQuery.tags = ["tenant:tenant-7"]
tagQuery.page = PageRequest(page: 1, limit: 50)

let baseline = try await median { _ = try await db.trace(projectID: "bench", id: "trace-\(traceCount / 2)") }
var rows = 0
let costByTenantDay = try await median {
    rows = try await db.breakdown(projectID: "bench", query: byTenantDay).count
}
let prompts = try await median {
    _ = try await db.promptVersions(projectID: "bench", promptName: "prompt-1", filter: AnalyticsFilter())
}
let tagList = try await median { _ = try await db.traces(projectID: "bench", query: tagQuery) }
print(String(format: "baseline (one trace by id):              %8.2f ms", baseline * 1000))
print(
    String(
        format: "cost by tenant by day, 30 days (%d rows): %8.2f ms  (%.0f× baseline; target ≤ 100 ms)", rows,
        costByTenantDay * 1000, costByTenantDay / baseline))
print(
    String(
        format: "prompt-version comparison:              %8.2f ms  (%.0f× baseline; target ≤ 100 ms)", prompts * 1000,
        prompts / baseline))
print(
    String(
        format: "trace list filtered by tag (page of 50): %8.2f ms  (%.0f× baseline; target ≤ 10 ms)", tagList * 1000,
        tagList / baseline))
