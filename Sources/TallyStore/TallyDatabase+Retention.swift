import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

extension TallyDatabase {
    /// The project's own retention in days (nil: the server default; 0: keep forever).
    public func retentionDays(projectID: String) async throws -> Int? {
        try await writer.read { db in
            try Int.fetchOne(
                db, sql: "SELECT retention_days FROM project_setting WHERE project_id = ?", arguments: [projectID])
        }
    }

    public func setRetentionDays(projectID: String, _ days: Int?) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO project_setting (project_id, retention_days) VALUES (?, ?)
                    ON CONFLICT (project_id) DO UPDATE SET retention_days = excluded.retention_days
                    """, arguments: [projectID, days])
        }
    }

    /// Every project with the retention in force for it: its own setting, else `defaultDays`; projects that keep
    /// everything (0, or no setting and no default) are left out.
    public func retentionPolicies(defaultDays: Int?) async throws -> [(projectID: String, days: Int)] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT p.id, coalesce(s.retention_days, ?) AS days FROM project p
                    LEFT JOIN project_setting s ON s.project_id = p.id
                    """, arguments: [defaultDays]
            ).compactMap { row in
                guard let days = row["days"] as Int?, days > 0 else { return nil }
                return (row["id"], days)
            }
        }
    }

    /// Deletes at most `limit` of the project's traces whose timestamp is before `cutoff`, with their
    /// observations and scores, and its trace-less scores older than `cutoff`, in one short transaction (so
    /// ingestion waits at most one batch). Rollups stay exact through their triggers (`rollup_user_day` through
    /// `deleteTraceRows`). Returns how many traces and
    /// how many trace-less scores went; a caller repeats while either count reached `limit`.
    public func deleteTraces(projectID: String, olderThan cutoff: Timestamp, limit: Int) async throws
        -> (traces: Int, scores: Int)
    {
        try await writer.write { db in
            let ids = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM trace INDEXED BY trace_time WHERE project_id = ? AND timestamp < ?
                    ORDER BY timestamp LIMIT ?
                    """, arguments: [projectID, cutoff.microseconds, limit])
            try Self.deleteTraceRows(db, projectID: projectID, ids: ids)
            try db.execute(
                sql: """
                    DELETE FROM score WHERE project_id = ? AND id IN (SELECT id FROM score WHERE project_id = ?
                        AND trace_id IS NULL AND timestamp < ? LIMIT ?)
                    """, arguments: [projectID, projectID, cutoff.microseconds, limit])
            return (ids.count, db.changesCount)
        }
    }

    /// Removes traces with their observations and scores, and their share of `rollup_user_day` (inside the caller's
    /// transaction); returns how many of them existed.
    @discardableResult
    static func deleteTraceRows(_ db: Database, projectID: String, ids: [String]) throws -> Int {
        var userRollup = UserRollupChanges()
        var deleted = 0
        for id in ids {
            try userRollup.noteBefore(id, projectID: projectID, db)
            try db.execute(
                sql: "DELETE FROM observation WHERE project_id = ? AND trace_id = ?", arguments: [projectID, id])
            try db.execute(sql: "DELETE FROM score WHERE project_id = ? AND trace_id = ?", arguments: [projectID, id])
            try db.execute(sql: "DELETE FROM trace WHERE project_id = ? AND id = ?", arguments: [projectID, id])
            deleted += db.changesCount
        }
        try userRollup.apply(projectID: projectID, db)
        return deleted
    }

    /// SQLite has no bulk path: its per-trace deletes remove expired observations (`RetentionStore.dropExpired`).
    @discardableResult
    public func dropExpired(olderThan cutoff: Timestamp) async throws -> Int { 0 }

    /// Returns up to `pages` free pages to the file system when the database was created with incremental
    /// auto-vacuum (every database created by this version is); returns the bytes the file shrank by.
    @discardableResult
    public func reclaimSpace(pages: Int) async throws -> Int {
        let before = fileBytes()
        try await writer.writeWithoutTransaction { db in
            guard try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") == 2 else { return }
            try db.execute(sql: "PRAGMA incremental_vacuum(\(max(0, pages)))")
        }
        return max(0, before - fileBytes())
    }

    /// Bytes of the database file itself (without its WAL).
    public func fileBytes() -> Int {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        return (attributes?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// A consistent copy of the whole database at `destination` (SQLite's online backup API: readers and the
    /// writer carry on meanwhile). Refuses to overwrite an existing file.
    public func backup(to destination: String) async throws {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: destination])
        }
        let target = try DatabaseQueue(path: destination)
        try writer.backup(to: target)
        try target.close()
    }
}
