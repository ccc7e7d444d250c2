import Foundation
import PostgresNIO
import TallyCore

/// Monthly partitions of `observation` (schema/postgres 0002): `observation_yYYYYmMM` holds the rows whose start
/// time (µs, UTC) falls in that month. A collector creates a month's partition before it first writes a row of that
/// month, for months from 20 years before the current one to 2 after; rows outside that window stay in
/// `observation_default`.
extension PostgresStore {
    /// Creates the partitions of the months of `times` (within the window) and of the current and next month that
    /// this collector has not seen yet.
    func ensurePartitions(covering times: [Timestamp], now: Timestamp = .now()) async throws {
        let current = PartitionMonth(micros: now.microseconds)
        let window = (current.index - 240)...(current.index + 2)
        var wanted: Set<Int> = [current.index, current.index + 1]
        for t in times {
            let month = PartitionMonth(micros: t.microseconds).index
            if window.contains(month) { wanted.insert(month) }
        }
        for index in partitions.missing(wanted) {
            try await createPartition(PartitionMonth(index: index))
            partitions.insert(index)
        }
    }

    /// Creates one month's partition unless it exists (collectors starting together create it once: the check and
    /// the creation run under an advisory lock). When `observation_default` already holds rows of that month, the
    /// partition is not created and the month stays in the default partition.
    func createPartition(_ month: PartitionMonth) async throws {
        do {
            try await transaction { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(7231002)", logger: logger)
                var exists = false
                for try await found in try await connection.query(
                    "SELECT to_regclass(\(month.table)) IS NOT NULL", logger: logger
                ).decode(Bool.self) {
                    exists = found
                }
                guard !exists else { return }
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            CREATE TABLE \(month.table) PARTITION OF observation
                            FOR VALUES FROM (\(month.startMicros)) TO (\(month.next.startMicros))
                            """), logger: logger)
            }
        } catch let error as PSQLError where error.sqlState == "23514" {
            logger.warning(
                "observation_default holds rows of \(month.table); that month stays in the default partition")
        }
    }
}

/// A calendar month (UTC) as a partition: `index` counts months from year 0 (year × 12 + month − 1).
struct PartitionMonth: Hashable {
    let index: Int

    init(index: Int) { self.index = index }

    init(micros: Int64) {
        let days = Int((micros >= 0 ? micros : micros - 86_399_999_999) / 86_400_000_000)
        let (year, month, _) = Self.civil(days: days)
        index = year * 12 + month - 1
    }

    var year: Int { index >= 0 ? index / 12 : (index - 11) / 12 }
    var month: Int { index - year * 12 + 1 }
    var next: PartitionMonth { PartitionMonth(index: index + 1) }

    /// The month's first µs since the Unix epoch.
    var startMicros: Int64 { Int64(Self.days(year: year, month: month, day: 1)) * 86_400_000_000 }

    /// `observation_yYYYYmMM` (a year before 0 or after 9999 is clamped by the window and never asked for).
    var table: String { String(format: "observation_y%04dm%02d", year, month) }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date of a day number (days since 1970-01-01), the inverse of `days`.
    static func civil(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// The months whose partition this collector knows to exist (or to stay in the default partition).
final class PartitionCache: @unchecked Sendable {  // `months` is only touched under `lock`
    private let lock = NSLock()
    private var months: Set<Int> = []

    /// The months of `wanted` not known yet, ascending.
    func missing(_ wanted: Set<Int>) -> [Int] {
        lock.withLock { wanted.subtracting(months).sorted() }
    }

    func insert(_ month: Int) {
        _ = lock.withLock { months.insert(month) }
    }
}
