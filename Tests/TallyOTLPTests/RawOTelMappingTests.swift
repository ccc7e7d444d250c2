import Foundation
import TallyCore
import Testing

@testable import TallyOTLP

@Suite("raw OpenTelemetry spans (gen_ai, OpenInference) → ingestion events")
struct RawOTelMappingTests {
    @Test("gen_ai semconv: types, requested and response model, usage with cache subtracted, tool I/O, errors")
    func genAI() throws {
        let (obs, traces) = try OTLPFixture.mapped("raw-001-gen_ai.pb")
        let root = try #require(obs["POST /v1/copilot/answer"])
        #expect(root.type == .span)
        #expect(root.environment == "production")
        #expect(root.version == "1.3.0")
        let trace = try #require(traces["POST /v1/copilot/answer"]?.first)
        #expect(trace.name == "copilot-request")
        #expect(trace.metadata == ["tenantId": "acme", "feature": "copilot"])
        #expect(trace.tags == ["copilot", "tenant:acme"])
        #expect(trace.userID == "user-42")
        #expect(trace.sessionID == "sess-acme-otel-1")

        let chats = try OTLPFixture.observations("raw-001-gen_ai.pb").filter { $0.name == "chat gpt-4.1-mini" }
        let chat = try #require(chats.first { $0.level != .error })
        #expect(chat.type == .generation)
        #expect(chat.model == "gpt-4.1-mini")
        #expect(chat.responseModel == "gpt-4.1-mini-2025-04-14")
        #expect(chat.usage == ["input": 3200, "input_cached_tokens": 1000, "output": 380, "total": 4580])
        #expect(chat.cost == nil)
        #expect(chat.modelParameters == ["temperature": 0.2, "max_tokens": 512, "top_p": 1.0])
        #expect(chat.input == [["role": "user", "content": "How do I rotate my API key?"]])
        #expect(chat.output == [["role": "assistant", "content": "Go to Settings -> API keys -> Rotate."]])

        let tool = try #require(obs["execute_tool search_docs"])
        #expect(tool.type == .tool)
        #expect(tool.name == "search_docs")
        #expect(tool.input == ["query": "rotate api key", "top_k": 3])
        #expect(tool.output == ["hits": ["kb/123", "kb/456"]])

        let embedding = try #require(obs["embeddings text-embedding-3-small"])
        #expect(embedding.type == .embedding)
        #expect(embedding.usage == ["input": 9, "total": 9])
        #expect(
            embedding.metadata?.objectValue?["attributes"]?.objectValue?["gen_ai.embeddings.dimension.count"] == 1536)

        let failedObservation = try #require(chats.first { $0.level == .error })
        #expect(failedObservation.level == .error)
        #expect(failedObservation.statusMessage == "429 Too Many Requests")
    }

    @Test("OpenInference: span kinds, llm.token_count with cache subtracted, llm.cost, metadata JSON, tag.tags")
    func openInference() throws {
        let (obs, traces) = try OTLPFixture.mapped("raw-002-openinference.pb")
        #expect(obs["retrieve"]?.type == .retriever)
        #expect(obs["embed"]?.type == .embedding)
        #expect(obs["embed"]?.model == "text-embedding-3-small")
        #expect(obs["lookup_invoice_policy"]?.type == .tool)
        #expect(obs["lookup_invoice_policy"]?.input == ["tenant": "globex"])
        let llm = try #require(obs["ChatCompletion"])
        #expect(llm.type == .generation)
        #expect(llm.model == "gpt-4.1-mini")
        #expect(llm.usage == ["input": 1000, "input_cached_tokens": 200, "output": 90, "total": 1290])
        #expect(llm.cost == ["input": 0.00048, "output": 0.000144, "total": 0.000624])
        #expect(llm.modelParameters == ["temperature": 0.0, "max_tokens": 256])
        #expect(llm.output == "Invoices are issued on the 1st of each month.")
        let chain = try #require(traces["copilot-chain"]?.first)
        #expect(chain.name == "copilot-chain")
        #expect(chain.metadata == ["tenantId": "globex", "feature": "copilot"])
        #expect(chain.tags == ["copilot", "tenant:globex"])
        #expect(chain.userID == "user-7")
        #expect(obs["copilot-chain"]?.type == .chain)
        #expect(obs["copilot-chain"]?.input == ["question": "When are invoices issued?"])
    }

    @Test("OTLP/JSON with hex ids and integer enums, both conventions on one span")
    func mixedJSON() throws {
        let (obs, traces) = try OTLPFixture.mapped("raw-003-mixed.json")
        let llm = try #require(obs["chat gpt-4.1-nano"])
        #expect(llm.type == .generation)
        #expect(llm.usage == ["input": 300, "output": 5, "total": 305])
        #expect(llm.parentObservationID == "60188f390bf2f818")
        #expect(llm.input == "Classify: printer on fire")
        #expect(traces["classify-ticket"]?.first?.metadata == ["tenantId": "initech"])
    }

    @Test("the OTLP/JSON re-send decodes to exactly the events of the protobuf original")
    func jsonEqualsProtobuf() throws {
        func events(_ name: String) throws -> [IngestionEvent] {
            try OTLPFixture.views(name).sorted { $0.spanID < $1.spanID }.flatMap { try OTLPSpanMapper().events(for: $0) }
        }
        let proto = try events("raw-001-gen_ai.pb")
        let json = try events("raw-004-gen_ai-resent.json")
        #expect(proto.count == 6)  // 5 observations + the root's trace
        #expect(proto == json)
    }
}
