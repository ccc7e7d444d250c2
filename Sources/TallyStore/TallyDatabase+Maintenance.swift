import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

extension TallyDatabase {
    /// Runs a read with a time limit: past `readTimeout` its statement is interrupted and `StoreError.readTimedOut`
    /// thrown. Every read that may scan (lists, analytics, metrics) goes through here, so no reader can hold an
    /// old snapshot — and with it the WAL — for longer than the limit.
    func boundedRead<T: Sendable>(_ block: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let limit = readTimeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await writer.read(block) }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw StoreError.readTimedOut(seconds: Int(limit.components.seconds))
            }
            return value
        }
    }

    /// Bytes in the WAL file now (0 when there is none).
    public func walBytes() -> Int {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path + "-wal")
        return (attributes?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// When the WAL has grown past `limitBytes`, copies it into the database and truncates it to zero, waiting at
    /// most `wait` for readers on older snapshots (bounded by `readTimeout`); writers wait meanwhile. Readers that
    /// overlap without pause never let SQLite's automatic (passive) checkpoints reset the WAL; this does.
    /// Returns the WAL size before, or nil when nothing was needed. Throws when the checkpoint could not finish
    /// in time (try again later; nothing is lost).
    @discardableResult
    public func checkpointIfNeeded(limitBytes: Int, wait: Duration) async throws -> Int? {
        let before = walBytes()
        guard before > limitBytes else { return nil }
        let millis = Int(wait / .milliseconds(1))
        try await writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA busy_timeout = \(millis)")
            defer { try? db.execute(sql: "PRAGMA busy_timeout = \(Self.busyTimeoutMillis)") }
            try db.checkpoint(.truncate)
        }
        return before
    }

    /// Copies committed WAL frames into the database file without waiting for anyone (a PASSIVE checkpoint on its
    /// own connection: the writer goes on writing meanwhile). Returns the frames in the WAL and those copied.
    @discardableResult
    public func checkpointPassive() async throws -> (walFrames: Int, copied: Int) {
        try await checkpointer.writeWithoutTransaction { db in
            let result = try db.checkpoint(.passive)
            return (result.walFrameCount, result.checkpointedFrameCount)
        }
    }

    /// Refreshes the planner's statistics where they went stale (`PRAGMA optimize` with `analysis_limit`, so each
    /// index costs a bounded sample, never a scan of a large table).
    public func optimize() async throws {
        try await writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA analysis_limit = 400")
            try db.execute(sql: "PRAGMA optimize")
        }
    }
}

extension TallyDatabase {
    /// One process serves a SQLite file: every periodic task is its own.
    public func claimWork(_ task: String, interval: Duration, now: Timestamp) async throws -> Bool { true }
}
