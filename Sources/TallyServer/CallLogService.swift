import Foundation
import Logging
import ServiceLifecycle
import TallyCore
import TallyStoreAPI

/// `--call-log PATH` (or `-` for stdout): one JSON line per model call (`CallLog.line`) for every generation or
/// embedding whose write committed, read back after the commit (so a line never describes data that did not
/// commit, and shows the stored tenant, cost and tokens). A re-sent or updated call is written again with
/// `"update": true`. The file rotates past `maxBytes` (`PATH` → `PATH.1` → … → `PATH.<keep>`, the oldest dropped).
///
/// Ingestion never waits for the log: committed ids are handed over through a bounded buffer (at most
/// `bufferedCommits` commits); when it is full, or the file cannot be written (full disk, permissions), lines are
/// dropped and counted (`CallLogCounters`), and ingestion goes on.
struct CallLogService: Service {
    struct Configuration: Sendable {
        /// A file path, or `-` for standard output.
        var path: String
        var maxBytes: Int = 100 * 1_048_576
        var keep: Int = 5
        var bufferedCommits = 10_000
    }

    let database: any TallyStorage
    let configuration: Configuration
    let logger: Logger
    let counters: CallLogCounters
    private let commits: AsyncStream<(String, [String])>
    private let intake: AsyncStream<(String, [String])>.Continuation

    init(database: any TallyStorage, configuration: Configuration, counters: CallLogCounters, logger: Logger) {
        self.database = database
        self.configuration = configuration
        self.counters = counters
        self.logger = logger
        let (stream, continuation) = AsyncStream<(String, [String])>.makeStream(
            bufferingPolicy: .bufferingOldest(configuration.bufferedCommits))
        commits = stream
        intake = continuation
        // Subscribed at once (not when `run` starts), so no commit after startup is missed.
        database.commitFeed.subscribe { projectID, ids in
            switch continuation.yield((projectID, ids)) {
            case .enqueued: break
            case .dropped, .terminated: counters.drop(ids.count)  // buffer full, or after shutdown
            @unknown default: counters.drop(ids.count)
            }
        }
    }

    func run() async throws {
        let sink = CallLogSink(configuration: configuration)
        await withGracefulShutdownHandler {
            for await (projectID, ids) in commits {
                do {
                    let calls = try await database.modelCalls(projectID: projectID, ids: ids)
                    guard !calls.isEmpty else { continue }
                    let text = calls.map { CallLog.line($0, projectID: projectID) + "\n" }.joined()
                    if sink.write(text) {
                        counters.wrote(calls.count)
                    } else {
                        counters.drop(calls.count)
                        if counters.shouldWarn() {
                            logger.warning(
                                "call log not written; lines are dropped", metadata: ["path": "\(configuration.path)"])
                        }
                    }
                } catch {
                    counters.drop(ids.count)
                    logger.warning("call log read failed; lines dropped", metadata: ["cause": "\(error)"])
                }
            }
        } onGracefulShutdown: { [intake] in
            // The server has stopped taking requests: what is buffered is written, then the loop ends.
            intake.finish()
        }
    }
}

/// Lines written and dropped since start (on /metrics and the health route).
final class CallLogCounters: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var written = 0
    private var dropped = 0
    let warnings = WarningThrottle()

    func wrote(_ n: Int) { lock.withLock { written += n } }
    func drop(_ n: Int) { lock.withLock { dropped += n } }
    var snapshot: (written: Int, dropped: Int) { lock.withLock { (written, dropped) } }
    func shouldWarn() -> Bool { warnings.allow() }
}

/// Lets a repeated warning through at most once a minute (a failing log or receiver must not flood the log).
final class WarningThrottle: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var last = Date.distantPast

    func allow() -> Bool {
        lock.withLock {
            guard Date().timeIntervalSince(last) > 60 else { return false }
            last = Date()
            return true
        }
    }
}

/// Appends to the log file (or stdout), rotating by size. Used from one task only.
final class CallLogSink: @unchecked Sendable {  // touched only by the service's single consumer task
    let configuration: CallLogService.Configuration
    private var handle: FileHandle?
    private var size = 0

    init(configuration: CallLogService.Configuration) {
        self.configuration = configuration
    }

    /// Whether `text` was written in full.
    func write(_ text: String) -> Bool {
        let data = Data(text.utf8)
        if configuration.path == "-" {
            do {
                try FileHandle.standardOutput.write(contentsOf: data)
                return true
            } catch {
                return false
            }
        }
        do {
            if handle != nil, size + data.count > configuration.maxBytes, size > 0 { try rotate() }
            if handle == nil { try open() }
            try handle?.write(contentsOf: data)
            size += data.count
            return true
        } catch {
            try? handle?.close()
            handle = nil  // reopened (and the size re-read) on the next write
            return false
        }
    }

    private func open() throws {
        let path = configuration.path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission)
            }
        }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        size = Int(try h.seekToEnd())
        handle = h
    }

    /// `PATH.<keep-1>` → `PATH.<keep>` … `PATH` → `PATH.1`; the oldest goes.
    private func rotate() throws {
        try handle?.close()
        handle = nil
        let fm = FileManager.default
        let path = configuration.path
        let keep = max(1, configuration.keep)
        try? fm.removeItem(atPath: "\(path).\(keep)")
        for n in stride(from: keep - 1, through: 1, by: -1) where fm.fileExists(atPath: "\(path).\(n)") {
            try fm.moveItem(atPath: "\(path).\(n)", toPath: "\(path).\(n + 1)")
        }
        try fm.moveItem(atPath: path, toPath: "\(path).1")
        size = 0
    }
}
