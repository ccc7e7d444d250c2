import Foundation
import Hummingbird
import SwiftProtobuf
import TallyCore
import TallyOTLP
import TallyStoreAPI

/// `POST /api/public/otel/v1/traces` (and `/v1/traces` for exporters given a bare OTLP endpoint): OTLP/HTTP in
/// protobuf or JSON, optionally gzip. The spans become ingestion events and go through the same write path as
/// the batch API; the answer is an `ExportTraceServiceResponse` in the request's codec, sent after commit.
/// Rejected spans are reported through `partial_success` (exporters do not retry those); 503 only when the store
/// could not commit (exporters retry 429/502/503/504).
struct OTLPController: Sendable {
    let database: any TallyStorage
    let bodyReader: RequestBodyReader
    let mapper: OTLPSpanMapper
    let rules: AttributionRules
    /// Spans accepted in one request; a larger export is refused whole (400).
    let maxSpans: Int

    func addRoutes(to group: RouterGroup<TallyRequestContext>, path: RouterPath) {
        group.post(path, use: export)
    }

    /// Every refusal is answered as a `google.rpc.Status` in the request's codec (JSON when the codec is unknown).
    @Sendable func export(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let codec = OTLPCodec(contentType: request.headers[.contentType])
        do {
            return try await IngestExecutor.run { try await exportSpans(request, context: context, codec: codec) }
        } catch let error as APIError {
            return OTLPStatus.response(error, codec: codec)
        }
    }

    func exportSpans(_ request: Request, context: TallyRequestContext, codec: OTLPCodec?) async throws -> Response {
        let project = try context.requireProject()
        guard let codec else {
            throw APIError(
                status: .unsupportedMediaType,
                body: ["error": "Invalid content type", "message": "use application/x-protobuf or application/json"])
        }
        if let version = request.headers.first(where: { $0.name.canonicalName == "x-langfuse-ingestion-version" })?
            .value
        {
            guard let v = Int(version.trimmingCharacters(in: .whitespaces)), v <= 4 else {
                throw APIError(
                    status: .badRequest, body: ["error": "x-langfuse-ingestion-version must be an integer ≤ 4"])
            }
        }
        // Only the events outlive this step: the body, the decoded protobuf and the span views are released before
        // the request waits for its commit.
        // The events go to the store, which keeps their content encoded only; the answer needs the span ids.
        var (events, rejected, messages) = try mapSpans(try await bodyReader.read(request), codec: codec)
        let spans = events.map { event -> Substring? in
            guard case .observation = event.body else { return nil }
            return event.eventID.dropFirst("otel-".count)
        }
        let results = try await database.ingestOrUnavailable(projectID: project.id, events: consume events, rules: rules)
        for (span, result) in zip(spans, results) {
            guard case .failure(let error) = result, let span else { continue }
            rejected += 1
            messages.append("span \(span): \(error.description)")
        }
        return try Self.response(rejected: rejected, message: messages.prefix(5).joined(separator: "; "), codec: codec)
    }

    /// Decodes the export and maps its spans to ingestion events; spans refused on the way are counted with a
    /// reason each. Throws `APIError` (400) when the export is unusable as a whole.
    func mapSpans(_ body: Data, codec: OTLPCodec) throws -> (
        events: [IngestionEvent], rejected: Int, messages: [String]
    ) {
        let decoded: OTLPExportTraceServiceRequest
        do {
            decoded = try OTLPDecoder.decode(body, codec: codec)
        } catch let e as OTLPDecodeError {
            throw APIError(status: .badRequest, body: ["error": .string(e.description)])
        }
        let views = SpanViewBuilder.views(of: decoded, receivedAt: .now())
        guard views.spans.count <= maxSpans else {
            throw APIError(
                status: .badRequest,
                body: ["error": .string("\(views.spans.count) spans in one export; at most \(maxSpans) are accepted")])
        }
        if views.spans.isEmpty, views.rejected > 0 {
            // Nothing usable: a permanent error, so the exporter does not retry it.
            throw APIError(
                status: .badRequest,
                body: [
                    "error": .string("Invalid OTLP trace export: " + views.rejections.prefix(5).joined(separator: "; "))
                ])
        }
        var rejected = views.rejected
        var messages = views.rejections
        var events: [IngestionEvent] = []
        events.reserveCapacity(views.spans.count * 2)
        for span in views.spans {
            do {
                events += try mapper.events(for: span)
            } catch {
                // A value out of range (usage, cost): this span alone is rejected, its neighbours are stored.
                rejected += 1
                messages.append("span \(span.spanID): \(IngestionError(asEventFailure: error).description)")
            }
        }
        return (events, rejected, messages)
    }

    static func response(rejected: Int, message: String, codec: OTLPCodec) throws -> Response {
        var reply = OTLPExportTraceServiceResponse()
        if rejected > 0 {
            reply.partialSuccess.rejectedSpans = Int64(rejected)
            reply.partialSuccess.errorMessage = message
        }
        let bytes: Data
        switch codec {
        case .protobuf: bytes = try reply.serializedData()
        case .json: bytes = Data(try reply.jsonString().utf8)
        }
        return Response(
            status: .ok, headers: [.contentType: codec.contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(data: bytes)))
    }
}
