import Foundation
import TallyCore
import Testing

@testable import TallyOTLP

@Suite("OTLP decoding: bad input")
struct OTLPDecoderTests {
    @Test("a truncated protobuf body is a decode error")
    func truncatedProtobuf() throws {
        let body = try OTLPFixture.data("v5-002-traces.pb")
        #expect(throws: OTLPDecodeError.self) { try OTLPDecoder.decode(body.prefix(body.count / 2), codec: .protobuf) }
    }

    @Test("an OTLP logs export posted as JSON is named as such")
    func logsJSON() {
        let body = Data(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hi"}}]}]}]}"#.utf8)
        do {
            _ = try OTLPDecoder.decode(body, codec: .json)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("logs export"))
        }
    }

    @Test("an OTLP logs export posted as protobuf yields no span, only a rejection naming the likely mistake")
    func logsProtobuf() {
        // ExportLogsServiceRequest{resource_logs{scope_logs{log_records{time_unix_nano: 1, body: "x"}}}}:
        // field 1 of LogRecord is fixed64, where Span.trace_id (field 1) is bytes.
        let logRecord: [UInt8] = [0x09, 1, 0, 0, 0, 0, 0, 0, 0]
        let scopeLogs: [UInt8] = [0x12, UInt8(logRecord.count)] + logRecord
        let resourceLogs: [UInt8] = [0x12, UInt8(scopeLogs.count)] + scopeLogs
        let request: [UInt8] = [0x0A, UInt8(resourceLogs.count)] + resourceLogs
        do {
            let decoded = try OTLPDecoder.decode(Data(request), codec: .protobuf)
            let views = SpanViewBuilder.views(of: decoded, receivedAt: Timestamp(microseconds: 0))
            #expect(views.spans.isEmpty)
            #expect(views.rejected == 1)
            #expect(views.rejections.first?.contains("logs or metrics export") == true)
        } catch {
            #expect(error is OTLPDecodeError)
        }
    }

    @Test("attributes given as an object instead of an array are refused")
    func attributesAsObject() {
        let body = Data(
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0123456789abcdef0123456789abcdef","spanId":"0123456789abcdef","attributes":{"a":1}}]}]}]}"#
                .utf8)
        #expect(throws: OTLPDecodeError.self) { try OTLPDecoder.decode(body, codec: .json) }
    }

    @Test("malformed JSON and a missing resourceSpans")
    func malformedJSON() throws {
        #expect(throws: OTLPDecodeError.self) { try OTLPDecoder.decode(Data("{".utf8), codec: .json) }
        #expect(try OTLPDecoder.decode(Data("{}".utf8), codec: .json).resourceSpans.isEmpty)
    }

    @Test("spans with invalid ids are rejected one by one; the rest map")
    func invalidIDs() throws {
        let body = Data(
            """
            {"resourceSpans":[{"scopeSpans":[{"spans":[
              {"traceId":"0123456789abcdef0123456789abcdef","spanId":"0123456789abcdef","name":"ok","startTimeUnixNano":"1000000"},
              {"traceId":"00000000000000000000000000000000","spanId":"0123456789abcdef","name":"zero trace"},
              {"traceId":"0123456789abcdef0123456789abcdef","spanId":"abcd","name":"short span id"},
              {"traceId":"0123456789abcdef0123456789abcdef","spanId":"1123456789abcdef","name":"no times"}
            ]}]}]}
            """.utf8)
        let views = SpanViewBuilder.views(
            of: try OTLPDecoder.decode(body, codec: .json), receivedAt: Timestamp(microseconds: 42))
        #expect(views.spans.map(\.name) == ["ok", "no times"])
        #expect(views.rejected == 2)
        #expect(views.spans[0].startTime == Timestamp(microseconds: 1000))
        #expect(views.spans[1].startTime == Timestamp(microseconds: 42))
    }

    @Test("attributes of unexpected types are ignored, never fatal")
    func wrongAttributeTypes() throws {
        let span = SpanView(
            traceID: "0123456789abcdef0123456789abcdef", spanID: "0123456789abcdef", parentSpanID: nil, name: "odd",
            startTime: Timestamp(microseconds: 1), endTime: nil,
            attributes: [
                "langfuse.observation.usage_details": 42, "langfuse.observation.cost_details": "not json",
                "langfuse.observation.prompt.version": "four", "langfuse.observation.prompt.name": "p",
                "langfuse.trace.tags": 7, "gen_ai.usage.input_tokens": "-5", "langfuse.observation.level": true,
                "langfuse.observation.type": ["generation"], "langfuse.observation.completion_start_time": "soon",
            ])
        let events = try OTLPSpanMapper().events(for: span)
        guard case .observation(let o)? = events.last?.body else {
            Issue.record("expected an observation")
            return
        }
        #expect(o.type == .span)
        #expect(o.usage == nil)
        #expect(o.cost == nil)
        #expect(o.promptName == nil)
        #expect(o.level == .default)
        #expect(o.completionStartTime == nil)
    }

    @Test("tags arrive as an array, a JSON array string, comma-separated text or one tag")
    func tagForms() {
        func tags(_ value: JSONValue) -> [String]? {
            let span = SpanView(
                traceID: "0123456789abcdef0123456789abcdef", spanID: "0123456789abcdef", parentSpanID: nil, name: "t",
                startTime: Timestamp(microseconds: 1), endTime: nil, attributes: ["langfuse.trace.tags": value])
            return OTLPSpanMapper().tags(span)
        }
        #expect(tags(["a", "b"]) == ["a", "b"])
        #expect(tags(#"["a","b"]"#) == ["a", "b"])
        #expect(tags("a, b") == ["a", "b"])
        #expect(tags("solo") == ["solo"])
    }

    @Test("observation type rules apply in order")
    func typeRules() {
        func type(_ attributes: [String: JSONValue]) -> ObservationType {
            ObservationTypeRules.infer(
                SpanView(
                    traceID: "t", spanID: "s", parentSpanID: nil, name: "n", startTime: Timestamp(microseconds: 1),
                    endTime: nil, attributes: attributes))
        }
        #expect(type(["langfuse.observation.type": "tool", "openinference.span.kind": "LLM"]) == .tool)
        #expect(type(["openinference.span.kind": "LLM", "gen_ai.operation.name": "embeddings"]) == .generation)
        #expect(type(["gen_ai.operation.name": "invoke_agent"]) == .agent)
        #expect(type(["gen_ai.tool.call.id": "c1"]) == .tool)
        #expect(type(["model": "m"]) == .generation)
        #expect(type(["http.method": "GET"]) == .span)
    }
}

@Suite("Input/output rules per ecosystem")
struct InputOutputRuleTests {
    func observation(_ attributes: [String: JSONValue], events: [SpanView.Event] = []) throws -> ObservationUpsert? {
        let span = SpanView(
            traceID: "0123456789abcdef0123456789abcdef", spanID: "0123456789abcdef", parentSpanID: "1123456789abcdef",
            name: "llm", startTime: Timestamp(microseconds: 1), endTime: nil, attributes: attributes, events: events)
        for event in try OTLPSpanMapper().events(for: span) {
            if case .observation(let o) = event.body { return o }
        }
        return nil
    }

    @Test("OpenInference: the requested model from llm.invocation_parameters, llm.model_name as the response model")
    func openInferenceRequestedModel() throws {
        let o = try #require(
            try observation([
                "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini-2024-07-18",
                "llm.invocation_parameters": #"{"model": "gpt-4o-mini", "stream_options": {"include_usage": true}}"#,
                "llm.token_count.prompt": 1000, "llm.token_count.prompt_details.audio": 100,
                "llm.token_count.prompt_details.cache_read": 200, "llm.token_count.completion": 50,
                "llm.token_count.completion_details.audio": 20,
            ]))
        #expect(o.model == "gpt-4o-mini")
        #expect(o.responseModel == "gpt-4o-mini-2024-07-18")
        // Audio and cache reads leave the plain input bucket, so no token is priced twice.
        #expect(
            o.usage == [
                "input": 700, "input_audio_tokens": 100, "input_cached_tokens": 200, "output": 30,
                "output_audio_tokens": 20, "total": 1050,
            ])
        // Without invocation parameters (or without their model) llm.model_name is the model, as before.
        let plain = try #require(
            try observation(["openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini-2024-07-18"]))
        #expect(plain.model == "gpt-4o-mini-2024-07-18" && plain.responseModel == nil)
    }

    @Test("Traceloop/OpenLIT flattened gen_ai.prompt.N.* and gen_ai.completion.N.* are rebuilt in index order")
    func traceloop() throws {
        let o = try observation([
            "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "hi", "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "be brief", "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello", "llm.request.type": "chat",
        ])
        #expect(o?.input == [["role": "system", "content": "be brief"], ["role": "user", "content": "hi"]])
        #expect(o?.output == [["role": "assistant", "content": "hello"]])
    }

    @Test("OpenInference llm.input_messages.N.message.* are rebuilt when there is no input.value")
    func openInferenceMessages() throws {
        let o = try observation([
            "openinference.span.kind": "LLM", "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "q", "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "a",
        ])
        #expect(o?.input == [["role": "user", "content": "q"]])
        #expect(o?.output == [["role": "assistant", "content": "a"]])
    }

    @Test("gen_ai per-role message events and the choice event")
    func messageEvents() throws {
        let o = try observation(
            ["gen_ai.operation.name": "chat"],
            events: [
                SpanView.Event(name: "gen_ai.system.message", time: nil, attributes: ["content": "be brief"]),
                SpanView.Event(name: "gen_ai.user.message", time: nil, attributes: ["content": "hi"]),
                SpanView.Event(name: "gen_ai.choice", time: nil, attributes: ["message": #"{"content":"hello"}"#]),
            ])
        #expect(o?.input == [["role": "system", "content": "be brief"], ["role": "user", "content": "hi"]])
        #expect(o?.output == ["message": ["content": "hello"]])
    }

    @Test("langfuse.observation.input wins over every other convention; traceloop.entity.* over input.value")
    func precedence() throws {
        let o = try observation([
            "langfuse.observation.input": #"{"a":1}"#, "input.value": "other", "traceloop.entity.output": #"{"b":2}"#,
            "output.value": "other",
        ])
        #expect(o?.input == ["a": 1])
        #expect(o?.output == ["b": 2])
    }

    @Test("gen_ai.system_instructions are prepended to gen_ai.input.messages as a system message")
    func systemInstructions() throws {
        let o = try observation([
            "gen_ai.input.messages": #"[{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#,
            "gen_ai.system_instructions": #"[{"type":"text","content":"be brief"}]"#,
        ])
        #expect(o?.input?.arrayValue?.first == ["role": "system", "parts": [["type": "text", "content": "be brief"]]])
        #expect(o?.input?.arrayValue?.count == 2)
    }
}
