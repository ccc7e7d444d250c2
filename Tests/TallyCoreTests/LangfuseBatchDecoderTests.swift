import Foundation
import Testing

@testable import TallyCore

@Suite("Langfuse batch decoding")
struct LangfuseBatchDecoderTests {
    @Test("the v2 SDK's 15-event batch decodes without errors into the right kinds")
    func decodesV2Capture() throws {
        let batch = try Fixture.batch("langfuse-v2/002-ingestion-batch.json")
        #expect(batch.errors.isEmpty)
        #expect(batch.events.count == 15)
        var kinds: [String: Int] = [:]
        for e in batch.events {
            switch e.body {
            case .trace: kinds["trace", default: 0] += 1
            case .observation(let o): kinds["\(o.type.rawValue)\(o.isUpdate ? "-update" : "")", default: 0] += 1
            case .score: kinds["score", default: 0] += 1
            case .log: kinds["log", default: 0] += 1
            }
        }
        #expect(
            kinds == [
                "trace": 1, "SPAN": 2, "SPAN-update": 2, "GENERATION": 3, "GENERATION-update": 3, "EVENT": 1,
                "score": 3,
            ])
    }

    @Test("usage and usageDetails together: usageDetails wins and total is the sum of the keys")
    func usageDetailsWinOverUsage() throws {
        let batch = try Fixture.batch("langfuse-v2/002-ingestion-batch.json")
        let update = batch.events.compactMap { e -> ObservationUpsert? in
            if case .observation(let o) = e.body, o.id == "d4c1f987-879f-51d6-9d85-570fea617c5b", o.isUpdate {
                return o
            }
            return nil
        }.first
        #expect(update?.usage == ["input": 4200, "output": 380, "cache_read_input_tokens": 1000, "total": 5580])
        #expect(update?.cost == ["input": 0.00168, "output": 0.000608, "total": 0.002288])
    }

    @Test("modelParameters keep the v2 SDK's stringified floats; prompt name and version are linked")
    func generationFields() throws {
        let batch = try Fixture.batch("langfuse-v2/002-ingestion-batch.json")
        let create = batch.events.compactMap { e -> ObservationUpsert? in
            if case .observation(let o) = e.body, o.id == "d4c1f987-879f-51d6-9d85-570fea617c5b", !o.isUpdate {
                return o
            }
            return nil
        }.first
        #expect(create?.modelParameters == ["temperature": "0.2", "max_tokens": 512])
        #expect(create?.promptName == "copilot-answer")
        #expect(create?.promptVersion == 4)
        #expect(create?.model == "gpt-4.1-mini")
        #expect(create?.environment == "production")
    }

    @Test("a score body without timestamp takes the envelope timestamp")
    func scoreTimestampFromEnvelope() throws {
        let batch = try Fixture.batch("langfuse-v2/002-ingestion-batch.json")
        let scores = batch.events.compactMap { e -> (Score, Timestamp)? in
            if case .score(let s) = e.body { return (s, e.timestamp) }
            return nil
        }
        #expect(scores.count == 3)
        for (score, envelope) in scores { #expect(score.timestamp == envelope) }
        let tone = scores.first { $0.0.name == "tone" }?.0
        #expect(tone?.dataType == .categorical)
        #expect(tone?.stringValue == "friendly")
        #expect(tone?.observationID == "d4c1f987-879f-51d6-9d85-570fea617c5b")
        let feedback = scores.first { $0.0.name == "user-feedback" }?.0
        #expect(feedback?.dataType == .boolean)
        #expect(feedback?.value == 1)
        #expect(feedback?.stringValue == "True")
    }

    @Test(
        "a bad envelope refuses the whole request",
        arguments: [
            ("not json", "malformed JSON"),
            ("[1,2]", "must be an object"),
            ("{}", "batch: required"),
            ("{\"batch\": {}}", "batch: required"),
            ("{\"batch\": [1,", "malformed JSON"),
        ])
    func badEnvelope(body: String, expected: String) {
        #expect(throws: IngestionError.self) { try LangfuseBatchDecoder().decode(Data(body.utf8)) }
        do {
            _ = try LangfuseBatchDecoder().decode(Data(body.utf8))
        } catch let e as IngestionError {
            #expect(e.kind == .invalid)
            #expect(e.description.contains(expected), "\(e.description)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("a batch over the event limit is refused whole")
    func tooManyEvents() {
        let events = Array(
            repeating: #"{"id":"x","type":"sdk-log","timestamp":"2026-01-01T00:00:00Z","body":{"log":1}}"#, count: 11)
        let body = "{\"batch\":[\(events.joined(separator: ","))]}"
        #expect(throws: IngestionError.self) {
            try LangfuseBatchDecoder(limits: IngestionLimits(maxEventsPerBatch: 10)).decode(Data(body.utf8))
        }
    }

    static let badEvents: [(String, String)] = [
        (
            #"{"id":"e1","type":"trace-create","timestamp":"2026-01-01T00:00:00Z","body":{"name":"x"}}"#,
            "body.id: required"
        ),
        (
            #"{"id":"e2","type":"nonsense-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"a"}}"#,
            "unknown event type"
        ),
        (#"{"id":"e3","type":"span-create","timestamp":"yesterday","body":{"id":"a"}}"#, "event.timestamp"),
        (
            #"{"id":"e4","type":"span-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"a","name":42}}"#,
            "body.name: expected a string, got 42"
        ),
        (
            #"{"id":"e5","type":"generation-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"a","usage":{"input":"many"}}}"#,
            "body.usage.input"
        ),
        (
            #"{"id":"e6","type":"span-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"a","level":"LOUD"}}"#,
            "body.level"
        ),
        (
            #"{"id":"e7","type":"generation-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"a","promptName":"p"}}"#,
            "promptName and body.promptVersion"
        ),
        (
            #"{"id":"e8","type":"score-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"s","name":"n","value":1}}"#,
            "exactly one of traceId"
        ),
        (
            #"{"id":"e9","type":"score-create","timestamp":"2026-01-01T00:00:00Z","body":{"traceId":"t","name":"n","value":2,"dataType":"BOOLEAN"}}"#,
            "0 or 1"
        ),
        (
            #"{"id":"e10","type":"trace-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"t","tags":"a,b"}}"#,
            "body.tags: expected an array of strings"
        ),
        (#"{"id":"e11","type":"trace-create","timestamp":"2026-01-01T00:00:00Z"}"#, "event.body: required"),
        (#"{"type":"trace-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"t"}}"#, "event.id: required"),
        (
            #"{"id":"e13","type":"dataset-run-item-create","timestamp":"2026-01-01T00:00:00Z","body":{}}"#,
            "internal to Langfuse"
        ),
        (
            #"{"id":"e14","type":"score-create","timestamp":"2026-01-01T00:00:00Z","body":{"observationId":"o","sessionId":"s","name":"n","value":1}}"#,
            "observationId requires"
        ),
    ]

    @Test("each bad event costs one error entry and never its neighbours", arguments: badEvents)
    func badEventIsolated(event: String, expected: String) throws {
        let good = #"{"id":"ok","type":"trace-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"t1"}}"#
        let body = "{\"batch\":[\(good),\(event),\(good.replacingOccurrences(of: "\"ok\"", with: "\"ok2\""))]}"
        let batch = try LangfuseBatchDecoder().decode(Data(body.utf8))
        #expect(batch.events.map(\.eventID) == ["ok", "ok2"])
        #expect(batch.errors.count == 1)
        #expect(batch.errors.first?.error.kind == .invalid)
        #expect(
            batch.errors.first?.error.description.contains(expected) == true,
            "\(batch.errors.first?.error.description ?? "")")
    }

    @Test("an event without an id is reported as \"unknown\"")
    func unknownID() throws {
        let body = #"{"batch":[{"type":"trace-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"t"}}]}"#
        let batch = try LangfuseBatchDecoder().decode(Data(body.utf8))
        #expect(batch.errors.first?.eventID == "unknown")
    }

    @Test("sdk-log is accepted and carries nothing")
    func sdkLog() throws {
        let body = #"{"batch":[{"id":"l","type":"sdk-log","timestamp":"2026-01-01T00:00:00Z","body":{"log":"hi"}}]}"#
        let batch = try LangfuseBatchDecoder().decode(Data(body.utf8))
        #expect(batch.events.first?.body == .log)
    }

    @Test("fields over the size limit are cut, recorded, and still valid JSON strings")
    func truncation() throws {
        let big = String(repeating: "é", count: 40)
        let body = """
            {"batch":[{"id":"e","type":"span-create","timestamp":"2026-01-01T00:00:00Z",
            "body":{"id":"a","input":"\(big)","output":{"k":"\(big)"},"metadata":{"small":1}}}]}
            """
        let batch = try LangfuseBatchDecoder(limits: IngestionLimits(maxFieldBytes: 25)).decode(Data(body.utf8))
        let event = try #require(batch.events.first)
        #expect(event.truncatedFields == ["input", "output"])
        guard case .observation(let o) = event.body, case .string(let input)? = o.input else {
            Issue.record("input should be a string")
            return
        }
        #expect(input.hasPrefix(String(repeating: "é", count: 12)))
        #expect(input.hasSuffix("[truncated by Tally: 80 bytes]"))
        #expect(o.metadata == ["small": 1])
    }

    @Test("legacy observation-create takes its type from the body")
    func legacyObservation() throws {
        let body =
            #"{"batch":[{"id":"e","type":"observation-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"a","type":"GENERATION","model":"m"}}]}"#
        let batch = try LangfuseBatchDecoder().decode(Data(body.utf8))
        guard case .observation(let o)? = batch.events.first?.body else {
            Issue.record("expected an observation")
            return
        }
        #expect(o.type == .generation)
    }

    @Test("every Langfuse observation event type maps to its observation type")
    func observationTypes() throws {
        for (type, expected) in [
            ("agent-create", ObservationType.agent), ("tool-create", .tool), ("chain-create", .chain),
            ("retriever-create", .retriever), ("evaluator-create", .evaluator), ("embedding-create", .embedding),
            ("guardrail-create", .guardrail), ("event-create", .event),
        ] {
            let body =
                "{\"batch\":[{\"id\":\"e\",\"type\":\"\(type)\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"body\":{\"id\":\"a\"}}]}"
            let batch = try LangfuseBatchDecoder().decode(Data(body.utf8))
            guard case .observation(let o)? = batch.events.first?.body else {
                Issue.record("\(type) should decode")
                continue
            }
            #expect(o.type == expected)
        }
        #expect(LangfuseBatchDecoder.knownTypes.count == 18)
    }
}
