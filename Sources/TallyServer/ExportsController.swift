import Foundation
import Hummingbird
import TallyCore
import TallyStoreAPI

/// `GET /api/tally/v1/exports/usage`: what a billing system meters, per group and time bucket, as JSON, CSV or
/// JSON lines (one object per line). Takes the breakdown's filters; `groupBy` (default tenant), `bucket`, `format`
/// (default json) and `includeErrors` (default false: calls that ended in ERROR are not billed, and are reported
/// apart either way).
struct ExportsController: Sendable {
    let database: any TallyStorage

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("exports/usage", use: usage)
    }

    @Sendable func usage(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let project = try context.requireProject()
        let r = try QueryReader(request)
        var q = UsageExportQuery()
        q.filter = try AnalyticsController.filter(r, request: request, context: context)
        q.dimensions = try AnalyticsController.dimensions(r)
        if q.dimensions.isEmpty { q.dimensions = [.tenant] }
        q.bucket = try r.enumValue("bucket", TimeBucket.self)
        q.includeErrors = try r.bool("includeErrors") ?? false
        q.cacheBilling = try r.enumValue("cacheBilling", CacheBilling.self) ?? .actual
        let format = try r.enumValue("format", UsageExportFormat.self) ?? .json
        let rows = try await database.usageExport(projectID: project.id, query: q)
        var body = ""
        switch format {
        case .json:
            body = JSONValue.object([
                "data": .array(rows.map { .object($0.object(q)) }),
                "query": [
                    "groupBy": .array(q.dimensions.map { .string($0.name) }),
                    "bucket": q.bucket.map { .string($0.rawValue) } ?? .null,
                    "from": DTO.time(q.filter.from), "to": DTO.time(q.filter.to),
                    "includeErrors": .bool(q.includeErrors), "cacheBilling": .string(q.cacheBilling.rawValue),
                ],
            ]).serialized()
        case .jsonl:
            body = rows.map { JSONValue.object($0.object(q)).serialized() + "\n" }.joined()
        case .csv:
            body = CSV.line(UsageRow.csvHeader(q)) + rows.map { CSV.line($0.csvCells(q)) }.joined()
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: format.contentType,
                .contentDisposition: "attachment; filename=\"\(Self.fileName(project: project.id, q, format))\"",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// `tally-usage-<project>[-<from>][-<to>].<format>`, with anything but letters, digits, `-` and `_` in the
    /// project id replaced (the name sits in a quoted header value).
    static func fileName(project: String, _ q: UsageExportQuery, _ format: UsageExportFormat) -> String {
        let safe = String(
            project.unicodeScalars.map { scalar in
                CharacterSet.alphanumerics.contains(scalar) && scalar.isASCII || scalar == "-" || scalar == "_"
                    ? Character(scalar) : "_"
            })
        let dates = [q.filter.from, q.filter.to].compactMap { $0.map { String($0.iso8601.prefix(10)) } }
        return (["tally-usage", safe] + dates).joined(separator: "-") + "." + format.rawValue
    }
}
