import Foundation
import Testing

@testable import TallyCore

@Suite("LangSmith runs → ingestion events")
struct LangSmithRunsTests {
    static let start = "2026-11-30T06:21:53.226518+00:00"

    func observation(_ events: [IngestionEvent]) -> ObservationUpsert? {
        for e in events { if case .observation(let o) = e.body { return o } }
        return nil
    }

    func trace(_ events: [IngestionEvent]) -> TraceUpsert? {
        for e in events { if case .trace(let t) = e.body { return t } }
        return nil
    }

    @Test(
        "the recorded plain multipart body parses into runs, fields put back; a patch part after its post stays apart")
    func recordedMultipart() throws {
        let body = try Fixture.data("langsmith/002-POST-runs-multipart.bin")
        let meta = try JSONValue.parse(Fixture.data("langsmith/002-POST-runs-multipart.request.json"))
        let boundary = try #require(
            MultipartForm.boundary(contentType: meta.objectValue?["contentType"]?.stringValue ?? ""))
        let parts = try MultipartForm.parts(body, boundary: boundary)
        #expect(parts.allSatisfy { $0.name.hasPrefix("post.") })
        let runs = try LangSmithRuns.multipart(parts)
        #expect(runs.map { $0.run["name"]?.stringValue } == ["answer_question", "search_docs"])
        let root = runs[0]
        #expect(root.op == .post && root.run["inputs"]?.objectValue?["question"] != nil)
        #expect(LangSmithRuns.statedTraceID(root.run) == root.id)
        #expect(LangSmithRuns.statedTraceID(runs[1].run) == root.id && LangSmithRuns.parentID(runs[1].run) == root.id)
    }

    @Test("multipart bodies that are not whole are refused with the reason")
    func malformedMultipart() {
        func parts(_ text: String) throws -> [(name: String, body: Data)] {
            try MultipartForm.parts(Data(text.utf8), boundary: "b")
        }
        let part =
            "--b\r\nContent-Disposition: form-data; name=\"post.r1\"\r\nContent-Type: application/json\r\n\r\n{\"id\":\"r1\"}"
        #expect((try? parts(part + "\r\n--b--\r\n"))?.map(\.name) == ["post.r1"])
        #expect(throws: IngestionError.self) { try parts(part) }  // not closed
        #expect(throws: IngestionError.self) { try parts("no boundary at all") }
        #expect(throws: IngestionError.self) { try parts("--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b--") }
        #expect(throws: IngestionError.self) { try parts("--bXX") }
        #expect(MultipartForm.boundary(contentType: "application/json") == nil)
        #expect(MultipartForm.boundary(contentType: "multipart/form-data; boundary=\"abc\"") == "abc")
        // A part that is not JSON, and a run part that is not an object.
        #expect(throws: IngestionError.self) { try LangSmithRuns.multipart([("post.r1", Data("{".utf8))]) }
        #expect(throws: IngestionError.self) { try LangSmithRuns.multipart([("post.r1", Data("[1]".utf8))]) }
        #expect((try? LangSmithRuns.multipart([("feedback.f1", Data("{}".utf8))]))?.isEmpty == true)
    }

    @Test("an llm run: usage_metadata with cache reads and reasoning taken out, requested and answered model, tenant")
    func llmRun() throws {
        let run: JSONValue = [
            "id": "r2", "name": "ChatOpenAI", "run_type": "llm", "trace_id": "r1", "parent_run_id": "r1",
            "start_time": .string(Self.start), "end_time": "2026-11-30T06:21:54.000000+00:00",
            "outputs": [
                "model": "gpt-4o-mini-2024-07-18",
                "usage_metadata": [
                    "input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500,
                    "input_token_details": ["cache_read": 200, "audio": 0],
                    "output_token_details": ["reasoning": 50],
                ],
            ],
            "extra": [
                "metadata": [
                    "ls_model_name": "gpt-4o-mini", "ls_temperature": 0.2, "tenantId": "acme", "LANGSMITH_PROJECT": "x",
                    "ls_invocation_params": ["service_tier": "default"],
                ]
            ],
            "events": [["name": "new_token", "time": "2026-11-30T06:21:53.500000+00:00"]],
            "tags": ["copilot"], "error": .null,
        ]
        let events = try LangSmithRuns.events(
            try LangSmithRuns.operation(.post, run), traceID: "r1", receivedAt: .now())
        let o = try #require(observation(events))
        #expect(o.type == .generation && !o.isUpdate && o.model == "gpt-4o-mini")
        #expect(o.responseModel == "gpt-4o-mini-2024-07-18")
        #expect(
            o.usage == [
                "input": 1000, "input_cached_tokens": 200, "output": 250, "output_reasoning_tokens": 50, "total": 1500,
            ])
        #expect(o.modelParameters == ["service_tier": "default", "temperature": 0.2])
        #expect(o.completionStartTime == Timestamp(iso8601: "2026-11-30T06:21:53.5Z"))
        #expect(o.metadata?.objectValue?["LANGSMITH_PROJECT"] == nil && o.metadata?.objectValue?["tenantId"] == "acme")
        #expect(o.level == nil)
        // A child names its trace's tags and metadata, partially (the root names the trace).
        let t = try #require(trace(events))
        #expect(t.isPartial && t.tags == ["copilot"] && t.name == nil)
        #expect(t.metadata?.objectValue?["ls_model_name"] == nil)
    }

    @Test("a tool keeps its type whatever its inherited model metadata says; an error run is level ERROR")
    func toolAndError() throws {
        let run: JSONValue = [
            "id": "t1", "name": "charge_card", "run_type": "tool", "trace_id": "r1", "parent_run_id": "r1",
            "start_time": .string(Self.start), "error": "RuntimeError('boom')\n\nTraceback ...",
            "extra": ["metadata": ["ls_model_name": "gpt-4o-mini"]],
        ]
        let o = try #require(
            observation(
                try LangSmithRuns.events(
                    try LangSmithRuns.operation(.post, run), traceID: "r1", receivedAt: .now())))
        #expect(o.type == .tool && o.model == nil && o.usage == nil)
        #expect(o.level == .error && o.statusMessage == "RuntimeError('boom')")
    }

    @Test("a PATCH with nulls changes only what it gives; LangChain-shaped usage in llm_output.token_usage")
    func patch() throws {
        let run: JSONValue = [
            "id": "c1", "name": .null, "run_type": .null, "trace_id": .null, "parent_run_id": .null,
            "end_time": "2026-11-30T06:21:55.000000+00:00", "tags": .null, "extra": .null,
            "outputs": [
                "llm_output": [
                    "model_name": "gpt-4o-mini-2024-07-18",
                    "token_usage": [
                        "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                        "prompt_tokens_details": ["cached_tokens": 200],
                    ],
                ]
            ],
        ]
        let events = try LangSmithRuns.events(
            try LangSmithRuns.operation(.patch, run, id: "c1"), traceID: "root", receivedAt: .now())
        let o = try #require(observation(events))
        #expect(o.isUpdate && o.name == nil && o.startTime == nil && o.endTime != nil)
        #expect(o.usage?["input"] == 1000 && o.usage?["output"] == 300)
        #expect(o.responseModel == "gpt-4o-mini-2024-07-18")
        #expect(trace(events) == nil)  // it names nothing of its trace
        // Usage past the limit is refused by name.
        var huge = run.objectValue!
        huge["outputs"] = ["usage_metadata": ["input_tokens": 1e30, "output_tokens": 1]]
        #expect(throws: (any Error).self) {
            try LangSmithRuns.events(
                try LangSmithRuns.operation(.patch, .object(huge), id: "c1"), traceID: "root", receivedAt: .now())
        }
    }

    @Test("batch bodies: post and patch lists; bad shapes refused")
    func batch() throws {
        let ops = try LangSmithRuns.batch([
            "post": [["id": "a"]], "patch": [["id": "a", "end_time": .string(Self.start)]],
        ])
        #expect(ops.map(\.op) == [.post, .patch] && ops.map(\.id) == ["a", "a"])
        #expect(throws: IngestionError.self) { try LangSmithRuns.batch(["post": "x"]) }
        #expect(throws: IngestionError.self) { try LangSmithRuns.batch(["post": [["name": "no id"]]]) }
        #expect(throws: IngestionError.self) { try LangSmithRuns.batch([1]) }
        #expect(throws: IngestionError.self) {
            try LangSmithRuns.operation(.post, ["id": .string(String(repeating: "x", count: EntityID.maxLength + 1))])
        }
    }
}

@Suite("LangSmith bodies under random damage")
struct LangSmithFuzzTests {
    /// A deterministic generator, so a failure names a reproducible case.
    struct RNG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
    }

    @Test("cut, flipped and spliced multipart bodies are parsed or refused, never a crash or a hang")
    func damagedMultipart() throws {
        let body = try Fixture.data("langsmith/002-POST-runs-multipart.bin")
        let meta = try JSONValue.parse(Fixture.data("langsmith/002-POST-runs-multipart.request.json"))
        let boundary = try #require(
            MultipartForm.boundary(contentType: meta.objectValue?["contentType"]?.stringValue ?? ""))
        var rng = RNG(state: 42)
        var parsed = 0
        var refused = 0
        for round in 0..<2_000 {
            var damaged = [UInt8](body)
            switch round % 4 {
            case 0: damaged = Array(damaged.prefix(rng.below(damaged.count)))
            case 1: for _ in 0..<1 + rng.below(8) { damaged[rng.below(damaged.count)] = UInt8(rng.below(256)) }
            case 2:
                let a = rng.below(damaged.count)
                let b = rng.below(damaged.count)
                damaged = Array(damaged[..<min(a, b)] + damaged[max(a, b)...] + damaged[min(a, b)..<max(a, b)])
            default: damaged = (0..<rng.below(4_000)).map { _ in UInt8(rng.below(256)) }
            }
            do {
                let parts = try MultipartForm.parts(Data(damaged), boundary: boundary)
                let runs = try LangSmithRuns.multipart(parts)
                for run in runs { _ = try? LangSmithRuns.events(run, traceID: "t", receivedAt: .now()) }
                parsed += 1
            } catch {
                refused += 1
            }
        }
        #expect(parsed + refused == 2_000 && refused > 0)
    }
}
