import Dispatch

/// Runs ingest requests (gzip, protobuf or JSON decoding, span mapping, row preparation: milliseconds of CPU per
/// large export) on threads of their own instead of Swift's cooperative pool, which has one thread per core. Without
/// it a few concurrent exports occupy every cooperative thread and light requests — budget checks, reads, health —
/// queue behind them (budget-check p99 was 89 ms with OTLP ingest flat out on 2 cores). With it the kernel's
/// scheduler shares the cores between both kinds of work, and a light request waits at most a time slice.
/// Used with `withTaskExecutorPreference`; the work itself is unchanged.
final class IngestExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = IngestExecutor()
    private let queue = DispatchQueue(label: "tally.ingest", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// Runs `body` with this executor preferred for it and every child task it starts.
    static func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(shared) { try await body() }
    }
}
