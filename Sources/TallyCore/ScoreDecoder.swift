import Foundation

/// Decodes a Langfuse score body (a `score-create` event body, or one item of `POST /api/public/scores`).
///
/// Value rules: NUMERIC → number; BOOLEAN → 0/1 (or true/false), string value "True"/"False"; CATEGORICAL →
/// string; TEXT → string of 1–500 characters; CORRECTION → string. Without `dataType` a number is NUMERIC, a bool
/// BOOLEAN and a string CATEGORICAL. Exactly one subject: `traceId` (optionally with `observationId`), `sessionId`
/// or `datasetRunId`. A missing `id` gets a random UUID.
public enum ScoreDecoder {
    public static func decode(_ body: [String: JSONValue], defaultTimestamp: Timestamp) throws -> Score {
        var truncator = Truncator(limit: IngestionLimits().maxFieldBytes)
        return try decode(FieldReader(body, path: "body"), defaultTimestamp: defaultTimestamp, truncator: &truncator)
    }

    static func decode(_ b: FieldReader, defaultTimestamp: Timestamp, truncator: inout Truncator) throws -> Score {
        let id = try b.id("id") ?? UUID().uuidString.lowercased()
        guard let name = try b.string("name", maxLength: 1000), !name.isEmpty else {
            throw IngestionError.invalid("body.name: required, a non-empty string")
        }
        let declared = try b.enumValue("dataType", ScoreDataType.self)
        guard let raw = b.raw("value") else { throw IngestionError.invalid("body.value: required") }

        let dataType: ScoreDataType
        var value: Double?
        var stringValue: String?
        switch (declared, raw) {
        case (.boolean, _), (nil, .bool):
            let n: Double?
            switch raw {
            case .bool(let flag): n = flag ? 1 : 0
            default: n = raw.doubleValue
            }
            guard let n, n == 0 || n == 1 else { throw b.fail("value", "0 or 1 for a BOOLEAN score", raw) }
            dataType = .boolean
            value = n
            stringValue = n == 1 ? "True" : "False"
        case (.numeric, _), (nil, .int), (nil, .double):
            guard let n = raw.doubleValue, n.isFinite, abs(n) <= NumericLimits.maxScoreMagnitude else {
                throw b.fail("value", "a finite number within ±1e15", raw)
            }
            dataType = .numeric
            value = n
        case (.categorical, _), (.text, _), (.correction, _), (nil, .string):
            guard case .string(let s) = raw else { throw b.fail("value", "a string", raw) }
            dataType = declared ?? .categorical
            if dataType == .text, s.isEmpty || s.count > 500 {
                throw IngestionError.invalid("body.value: a TEXT score must be 1–500 characters")
            }
            stringValue = s
        default:
            throw b.fail("value", "a number or a string", raw)
        }

        var score = Score(
            id: id, name: name, value: value, stringValue: stringValue, dataType: dataType,
            source: try b.enumValue("source", ScoreSource.self) ?? .api,
            environment: Environment.normalise(try b.string("environment")),
            timestamp: try b.timestamp("timestamp") ?? defaultTimestamp)
        score.traceID = try b.id("traceId")
        score.observationID = try b.id("observationId")
        score.sessionID = try b.id("sessionId")
        score.datasetRunID = try b.id("datasetRunId")
        score.comment = try b.string("comment")
        score.configID = try b.string("configId")
        score.queueID = try b.string("queueId")
        score.metadata = truncator.cut(b.raw("metadata"), "metadata")

        let subjects = [score.traceID, score.sessionID, score.datasetRunID].compactMap { $0 }.count
        guard subjects == 1 else {
            throw IngestionError.invalid("a score needs exactly one of traceId, sessionId or datasetRunId")
        }
        if score.observationID != nil, score.traceID == nil {
            throw IngestionError.invalid("body.observationId requires body.traceId")
        }
        return score
    }
}
