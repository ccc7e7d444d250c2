import GRDB
import TallyCore

/// `rollup_user_day` (schema 0024/0027) kept by the writers of `trace` instead of triggers (schema 0028 dropped
/// them): with any trigger on `trace`, SQLite keeps a statement journal for every trace upsert — the row and its
/// index pages written once more (200k observations in time order wrote 7.29 GB with the triggers, 2.92 GB without).
///
/// Contract: a writer notes every trace it is about to change (`noteBefore`) before its first write to it in the
/// transaction, and calls `apply` after its last, before the commit. `apply` moves the rollup from what each noted
/// row held then to what it holds now, whatever ran in between (savepoints rolled back included): sums by signed
/// differences in one upsert per touched rollup row; first and last time by min/max for a trace that arrived, and
/// read again from the `trace_user` index for a key a trace left (a row whose traces drop to 0 is deleted). A trace
/// counts under (user, UTC day of its timestamp, tenant or '', environment); a trace without a user does not count.
struct UserRollupChanges {
    /// What the rollup counts of one `trace` row.
    struct Image: Equatable {
        var key: Key?
        var timestamp: Int64
        /// 1 when the trace has an ERROR observation (`max_level` 3), else 0.
        var errors: Int64
        var tokens: Int64
        var costNanos: Int64

        /// From a row holding `trace`'s columns (any superset, by name).
        init(row: Row) {
            timestamp = row["timestamp"]
            errors = (row["max_level"] as Int64) == 3 ? 1 : 0
            tokens = row["total_tokens"]
            costNanos = row["total_cost_nanos"]
            key = (row["user_id"] as String?).map {
                Key(
                    userID: $0, day: RollupAccumulator.day(timestamp), tenant: row["tenant"] ?? "",
                    environment: row["environment"])
            }
        }
    }

    /// A `rollup_user_day` row's key after its project, in primary-key order.
    struct Key: Hashable, Comparable {
        var userID: String
        var day: Int64
        var tenant: String
        var environment: String

        static func < (a: Key, b: Key) -> Bool {
            (a.userID, a.day, a.tenant, a.environment) < (b.userID, b.day, b.tenant, b.environment)
        }
    }

    /// Per trace id noted: its row before the writer's first change (nil: there was none).
    private var before: [String: Image?] = [:]

    /// Notes `traceID`'s row as `row` (its columns read just now, nil when absent) unless already noted.
    mutating func noteBefore(_ traceID: String, row: Row?) {
        if before.index(forKey: traceID) == nil { before[traceID] = .some(row.map(Image.init(row:))) }
    }

    /// Notes `traceID`'s row, read now, unless already noted.
    mutating func noteBefore(_ traceID: String, projectID: String, _ db: Database) throws {
        if before.index(forKey: traceID) == nil {
            before[traceID] = .some(try Self.image(traceID, projectID: projectID, db))
        }
    }

    static func image(_ traceID: String, projectID: String, _ db: Database) throws -> Image? {
        try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT user_id, timestamp, tenant, environment, max_level, total_tokens, total_cost_nanos
                    FROM trace WHERE project_id = ? AND id = ?
                    """), arguments: [projectID, traceID]
        ).map(Image.init(row:))
    }

    /// Moves `rollup_user_day` by every noted trace's change and forgets the notes. Throws
    /// `RollupAccumulator.overflow` when a sum would leave Int64 (nothing is written then).
    mutating func apply(projectID: String, _ db: Database) throws {
        var sums: [Key: Sums] = [:]
        var vacated: Set<Key> = []
        for (id, old) in before {
            let new = try Self.image(id, projectID: projectID, db)
            guard old != new else { continue }
            if let old, let new, let key = old.key, old.key == new.key, old.timestamp == new.timestamp {
                try sums[key, default: Sums()].add(new, sign: 1)
                try sums[key, default: Sums()].add(old, sign: -1)
                continue
            }
            if let old, let key = old.key {
                try sums[key, default: Sums()].add(old, sign: -1)
                vacated.insert(key)
            }
            if let new, let key = new.key {
                try sums[key, default: Sums()].add(new, sign: 1)
                sums[key]!.widen(to: new.timestamp)
            }
        }
        before.removeAll()
        let upsert = try db.cachedStatement(sql: Self.upsertSQL)
        for key in sums.keys.sorted() {
            let v = sums[key]!
            try upsert.execute(arguments: [
                projectID, key.day, key.userID, key.tenant, key.environment, v.traces, v.errors, v.tokens,
                v.costNanos, v.firstTime, v.lastTime,
            ])
        }
        let settle = try db.cachedStatement(sql: Self.settleSQL)
        let drop = try db.cachedStatement(sql: Self.dropEmptySQL)
        for key in vacated.sorted() {
            let arguments: StatementArguments = [projectID, key.userID, key.day, key.tenant, key.environment]
            try settle.execute(arguments: arguments)
            try drop.execute(arguments: arguments)
        }
    }

    /// One rollup row's change: signed sums, and the time span of the traces that arrived (`.max`/`.min`: none).
    struct Sums {
        var traces: Int64 = 0
        var errors: Int64 = 0
        var tokens: Int64 = 0
        var costNanos: Int64 = 0
        var firstTime = Int64.max
        var lastTime = Int64.min

        /// Adds (`sign` 1) or takes away (−1) one trace's figures; throws `RollupAccumulator.overflow` when a sum
        /// would leave Int64.
        mutating func add(_ image: Image, sign: Int64) throws {
            func add(_ sum: inout Int64, _ x: Int64) throws {
                let (product, o1) = x.multipliedReportingOverflow(by: sign)
                let (result, o2) = sum.addingReportingOverflow(product)
                guard !o1, !o2 else { throw RollupAccumulator.overflow }
                sum = result
            }
            try add(&traces, 1)
            try add(&errors, image.errors)
            try add(&tokens, image.tokens)
            try add(&costNanos, image.costNanos)
        }

        mutating func widen(to time: Int64) {
            (firstTime, lastTime) = (min(firstTime, time), max(lastTime, time))
        }
    }

    /// The sums add up; first and last time widen (`.max`/`.min` leave them as they are).
    static let upsertSQL = """
        INSERT INTO rollup_user_day (project_id, day, user_id, tenant, environment, traces, errors, tokens,
            cost_nanos, first_time, last_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT DO UPDATE SET traces = traces + excluded.traces, errors = errors + excluded.errors,
            tokens = tokens + excluded.tokens, cost_nanos = cost_nanos + excluded.cost_nanos,
            first_time = min(first_time, excluded.first_time), last_time = max(last_time, excluded.last_time)
        """

    /// A key a trace left: first and last time read again from its remaining traces (kept when none remain).
    static let settleSQL = """
        UPDATE rollup_user_day SET (first_time, last_time) = (
            SELECT coalesce(min(t.timestamp), rollup_user_day.first_time),
                coalesce(max(t.timestamp), rollup_user_day.last_time)
            FROM trace t WHERE t.project_id = ?1 AND t.user_id = ?2 AND t.timestamp >= ?3
                AND t.timestamp < ?3 + 86400000000 AND coalesce(t.tenant, '') = ?4 AND t.environment = ?5)
        WHERE project_id = ?1 AND user_id = ?2 AND day = ?3 AND tenant = ?4 AND environment = ?5
        """

    static let dropEmptySQL = """
        DELETE FROM rollup_user_day
        WHERE project_id = ?1 AND user_id = ?2 AND day = ?3 AND tenant = ?4 AND environment = ?5 AND traces = 0
        """
}
