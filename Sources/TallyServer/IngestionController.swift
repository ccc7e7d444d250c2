import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// `POST /api/public/ingestion` and `POST /api/public/scores`: decode, then the single write path, then answer
/// only after the commit.
struct IngestionController: Sendable {
    let database: any TallyStorage
    let decoder: LangfuseBatchDecoder
    let bodyReader: RequestBodyReader
    let rules: AttributionRules

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.post("ingestion", use: ingest)
    }

    func addScoreRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.post("scores", use: postScores)
    }

    /// 207 with `successes` and `errors` once the envelope is valid; 400 for a bad envelope.
    @Sendable func ingest(_ request: Request, context: TallyRequestContext) async throws -> Response {
        try await IngestExecutor.run { try await ingestBatch(request, context: context) }
    }

    func ingestBatch(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        var batch: DecodedBatch
        do {
            batch = try decoder.decode(try await bodyReader.read(request))  // the body is not kept past decoding
        } catch let e as IngestionError {
            throw APIError(
                status: .badRequest, body: ["message": .string(e.message), "errors": [.string(e.error ?? e.message)]])
        }
        var errors = batch.errors.map { (id: $0.eventID, error: $0.error) }
        if context.access == .scores {
            // Public-key (Bearer) access may only send scores and logs.
            let (allowed, denied) = batch.events.partitioned { event in
                switch event.body {
                case .score, .log: return true
                default: return false
                }
            }
            batch.events = allowed
            errors += denied.map {
                ($0.eventID, IngestionError(kind: .accessDenied, message: "Authentication error", error: "Access Scope Denied"))
            }
        }
        // What the answer needs of each event; the events themselves go to the store (which frees their content).
        let receipts = batch.events.map { (eventID: $0.eventID, truncatedFields: $0.truncatedFields) }
        let events = batch.events
        batch.events = []
        let results = try await write(consume events, projectID: project.id)
        var successes: [JSONValue] = []
        for (event, result) in zip(receipts, results) {
            switch result {
            case .success:
                var entry: [String: JSONValue] = ["id": .string(event.eventID), "status": 201]
                if !event.truncatedFields.isEmpty {
                    entry["message"] = .string(
                        "stored with \(event.truncatedFields.count) field(s) truncated to \(decoder.limits.maxFieldBytes) bytes: "
                            + event.truncatedFields.joined(separator: ", "))
                }
                successes.append(.object(entry))
            case .failure(let e):
                errors.append((event.eventID, e))
            }
        }
        return JSONResponse.make(
            ["successes": .array(successes), "errors": .array(errors.map(Self.errorEntry))],
            status: .init(code: 207, reasonPhrase: "Multi-Status"))
    }

    static func errorEntry(_ e: (id: String, error: IngestionError)) -> JSONValue {
        var entry: [String: JSONValue] = [
            "id": .string(e.id), "status": .int(Int64(e.error.httpStatus)), "message": .string(e.error.message),
        ]
        if let detail = e.error.error { entry["error"] = .string(detail) }
        return .object(entry)
    }

    /// One score object → 200 `{id}`; an array (langfuse v5) → 202 `{"message":"Accepted"}` when all were stored,
    /// else 207 `{accepted, rejected, errors}`.
    @Sendable func postScores(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let body = try await bodyReader.read(request)
        let root: JSONValue
        do {
            root = try JSONValue.parse(body)
        } catch {
            throw APIError.invalid("\(error)")
        }
        let now = Timestamp.now()
        switch root {
        case .object(let object):
            let score: Score
            do {
                score = try ScoreDecoder.decode(object, defaultTimestamp: now)
            } catch let e as IngestionError {
                throw APIError.invalid(e.error ?? e.message)
            }
            let results = try await write(
                [IngestionEvent(eventID: score.id, timestamp: now, body: .score(score))], projectID: project.id)
            if case .failure(let e) = results[0] { throw APIError(e) }
            return JSONResponse.make(["id": .string(score.id)])
        case .array(let items):
            guard items.count <= decoder.limits.maxEventsPerBatch else {
                throw APIError.invalid("\(items.count) scores; at most \(decoder.limits.maxEventsPerBatch) per request")
            }
            var events: [IngestionEvent] = []
            var errors: [String] = []
            for (index, item) in items.enumerated() {
                do {
                    guard case .object(let object) = item else {
                        throw IngestionError.invalid("item \(index): expected an object")
                    }
                    let score = try ScoreDecoder.decode(object, defaultTimestamp: now)
                    events.append(IngestionEvent(eventID: score.id, timestamp: now, body: .score(score)))
                } catch let e as IngestionError {
                    errors.append("item \(index): \(e.error ?? e.message)")
                }
            }
            let results = try await write(events, projectID: project.id)
            for (event, result) in zip(events, results) {
                if case .failure(let e) = result { errors.append("\(event.eventID): \(e.description)") }
            }
            if errors.isEmpty { return JSONResponse.make(["message": "Accepted"], status: .accepted) }
            return JSONResponse.make(
                [
                    "accepted": .int(Int64(items.count - errors.count)), "rejected": .int(Int64(errors.count)),
                    "errors": .array(errors.map { ["message": .string($0)] }),
                ], status: .init(code: 207, reasonPhrase: "Multi-Status"))
        default:
            throw APIError.invalid("expected a score object or an array of score objects")
        }
    }

    func write(_ events: consuming [IngestionEvent], projectID: String) async throws -> [Result<Void, IngestionError>] {
        try await database.ingestOrUnavailable(projectID: projectID, events: consume events, rules: rules)
    }
}

extension IngestStore {
    /// The single write path as every protocol's controller calls it: a full group-commit queue or a failed commit
    /// stored nothing and is retryable, so it becomes 503 with `Retry-After` (SDKs and OTLP exporters retry exactly
    /// that).
    func ingestOrUnavailable(
        projectID: String, events: consuming [IngestionEvent], rules: AttributionRules
    ) async throws -> [Result<Void, IngestionError>] {
        do {
            return try await ingest(projectID: projectID, events: consume events, rules: rules)
        } catch let busy as StoreError {
            var e = APIError.unavailable(busy.description)
            e.headers[.retryAfter] = "1"
            throw e
        } catch {
            var e = APIError.unavailable("the store could not commit; nothing was stored, send the request again")
            e.headers[.retryAfter] = "1"
            e.diagnostic = "\(error)"
            throw e
        }
    }
}

extension Array {
    func partitioned(by belongsInFirst: (Element) -> Bool) -> ([Element], [Element]) {
        var first: [Element] = []
        var second: [Element] = []
        for e in self {
            if belongsInFirst(e) { first.append(e) } else { second.append(e) }
        }
        return (first, second)
    }
}
