import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// The LangSmith SDK's run ingestion under `/api/langsmith` (`LANGSMITH_ENDPOINT=http://host:3000/api/langsmith`,
/// `LANGSMITH_API_KEY=<public key>:<secret key>`): `GET /info`, `POST /runs/multipart` (plain or zstd),
/// `POST /runs/batch`, `POST /runs`, `PATCH /runs/{id}`. Runs become traces and observations through the same write
/// path and price table as every other protocol (`LangSmithRuns`). 202 when every run is stored; 400 naming the
/// runs refused (the others are stored); 503 when the store could not commit (the SDK retries; upserts are
/// idempotent).
struct LangSmithController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader
    let rules: AttributionRules

    func addRoutes(open: RouterGroup<TallyRequestContext>, authenticated: RouterGroup<TallyRequestContext>) {
        open.get("info", use: info)
        authenticated.post("runs/multipart", use: multipart)
        authenticated.post("runs/batch", use: batch)
        authenticated.post("runs", use: createRun)
        authenticated.patch("runs/:id", use: updateRun)
    }

    /// What the SDK reads to choose how to send. Its `batch_ingest_config` must be complete (the SDK's sender dies
    /// on a missing key); zstd is offered only when this machine can decode it.
    @Sendable func info(_ request: Request, context: TallyRequestContext) async throws -> Response {
        JSONResponse.make([
            "version": "tally", "license_expiration_time": .null,
            "batch_ingest_config": [
                "use_multipart_endpoint": true, "size_limit": 100,
                "size_limit_bytes": .int(Int64(min(bodyReader.maxBodyBytes, bodyReader.maxDecodedBytes) * 9 / 10)),
                "scale_up_nthreads_limit": 16, "scale_up_qsize_trigger": 1000, "scale_down_nempty_trigger": 4,
            ],
            "instance_flags": ["zstd_compression_enabled": .bool(Zstd.isAvailable)],
        ])
    }

    @Sendable func multipart(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        guard let boundary = request.headers[.contentType].flatMap(MultipartForm.boundary(contentType:)) else {
            throw APIError(
                status: .unsupportedMediaType,
                body: ["detail": "expected Content-Type: multipart/form-data; boundary=…"])
        }
        let body = try await bodyReader.read(request)
        let operations = try LangSmithRuns.multipart(try MultipartForm.parts(body, boundary: boundary))
        return try await ingest(operations, projectID: project.id)
    }

    @Sendable func batch(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let operations = try LangSmithRuns.batch(try await bodyReader.json(request))
        return try await ingest(operations, projectID: project.id)
    }

    @Sendable func createRun(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let operation = try LangSmithRuns.operation(.post, try await bodyReader.json(request))
        return try await ingest([operation], projectID: project.id)
    }

    @Sendable func updateRun(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let id = try context.pathID("id")
        let operation = try LangSmithRuns.operation(.patch, try await bodyReader.json(request), id: id)
        guard operation.id == id else { throw APIError.invalid("id: the body names another run than the path") }
        return try await ingest([operation], projectID: project.id)
    }

    func ingest(_ operations: [LangSmithRuns.Operation], projectID: String) async throws -> Response {
        let traces = try await traceIDs(operations, projectID: projectID)
        var events: [IngestionEvent] = []
        var refused: [String] = []
        let now = Timestamp.now()
        for o in operations {
            do {
                events += try LangSmithRuns.events(o, traceID: traces[o.id] ?? o.id, receivedAt: now)
            } catch {
                refused.append("run \(o.id): \(IngestionError(asEventFailure: error).description)")
            }
        }
        let results = try await database.ingestOrUnavailable(projectID: projectID, events: events, rules: rules)
        var retryable = false
        for (event, result) in zip(events, results) {
            guard case .failure(let error) = result else { continue }
            retryable = retryable || error.kind == .retryable
            refused.append("\(event.eventID): \(error.description)")
        }
        if retryable {
            var e = APIError.unavailable("some runs could not be stored now; send the request again")
            e.headers[.retryAfter] = "1"
            throw e
        }
        guard refused.isEmpty else {
            throw APIError(
                status: .badRequest,
                body: [
                    "detail": .string("\(refused.count) run(s) refused; the others are stored"),
                    "errors": .array(refused.prefix(20).map { .string($0) }),
                ])
        }
        return JSONResponse.make([:], status: .accepted)
    }

    /// The trace of each run: stated (`trace_id`, `dotted_order`), else its parent's (from this request, else
    /// the stored parent observation), else — a root — its own id. A patch that states neither (`PATCH
    /// /runs/{id}` sends null for what it does not change) keeps the trace its run is stored in.
    func traceIDs(_ operations: [LangSmithRuns.Operation], projectID: String) async throws -> [String: String] {
        var traces: [String: String] = [:]
        var parents: [String: String] = [:]
        for o in operations {
            if let stated = LangSmithRuns.statedTraceID(o.run) {
                traces[o.id] = stated
            } else if let parent = LangSmithRuns.parentID(o.run) {
                parents[o.id] = parent
            } else if o.op == .patch, traces[o.id] == nil {
                traces[o.id] = try await database.observation(projectID: projectID, id: o.id)?.traceID
            } else if o.op == .post {
                traces[o.id] = o.id
            }
        }
        // Parents first from this request (a chain of them resolves in at most its length), then from the store.
        for _ in 0..<min(parents.count, 64) {
            var progressed = false
            for (run, parent) in parents where traces[run] == nil {
                if let trace = traces[parent] {
                    traces[run] = trace
                    progressed = true
                }
            }
            if !progressed { break }
        }
        for (run, parent) in parents where traces[run] == nil {
            traces[run] = try await database.observation(projectID: projectID, id: parent)?.traceID ?? parent
        }
        return traces
    }
}
