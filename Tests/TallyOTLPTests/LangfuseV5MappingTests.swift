import Foundation
import TallyCore
import Testing

@testable import TallyOTLP

@Suite("langfuse 5.0.4 spans → ingestion events")
struct LangfuseV5MappingTests {
    let acmeTrace = "b401d59f9a75a60d92c17e7c4b05629a"

    @Test("13 spans of 3 traces decode from the captured protobuf")
    func decodes() throws {
        let views = try OTLPFixture.views("v5-002-traces.pb")
        #expect(views.count == 13)
        #expect(
            Set(views.map(\.traceID)) == [
                acmeTrace, "ec46f09cffc78a8a4bfaaa4cfc818e9e", "58955b41b419631be38ff3a7f7c3d683",
            ])
        #expect(
            views.allSatisfy { $0.scopeName == "langfuse-sdk" && $0.resource["langfuse.environment"] == "production" })
    }

    @Test("a root with a dangling parent and as_root is the trace root and carries the trace fields")
    func asRoot() throws {
        let (obs, traces) = try OTLPFixture.mapped("v5-002-traces.pb")
        let root = try #require(obs["copilot-request"])
        #expect(root.parentObservationID == nil)
        #expect(root.type == .span)
        #expect(root.input == ["question": "How do I rotate my API key?", "tenant": "acme"])
        #expect(root.metadata?.objectValue?["route"] == "/v1/copilot/answer")
        let trace = try #require(traces["copilot-request"]?.first)
        #expect(!trace.isPartial)
        #expect(trace.name == "copilot-request")
        #expect(trace.userID == "user-42")
        #expect(trace.sessionID == "sess-acme-001")
        #expect(trace.tags == ["copilot", "tenant:acme"])
        #expect(trace.metadata == ["tenantId": "acme", "feature": "copilot"])
        #expect(trace.release == "rel-2026.05.1")
        #expect(trace.version == "copilot-1.3.0")
        #expect(trace.environment == "production")
        #expect(trace.input == root.input)
        #expect(trace.output == ["answer": "Go to Settings -> API keys -> Rotate."])
    }

    @Test("children carry trace attributes as partial trace upserts")
    func partialTraces() throws {
        let (obs, traces) = try OTLPFixture.mapped("v5-002-traces.pb")
        let child = try #require(traces["embed-query"]?.first)
        #expect(child.isPartial)
        #expect(child.name == "copilot-request")
        #expect(child.input == nil)
        #expect(obs["embed-query"]?.parentObservationID == "2ba947034aabd74c")
    }

    @Test("the generation with a given cost keeps model, usage, cost, parameters, prompt and first-token time")
    func generationWithCost() throws {
        let (obs, _) = try OTLPFixture.mapped("v5-002-traces.pb")
        let g = try #require(obs["chat-completion"])
        #expect(g.type == .generation)
        #expect(g.model == "gpt-4.1-mini")
        #expect(g.responseModel == nil)
        #expect(g.usage == ["input": 4200, "output": 380, "cache_read_input_tokens": 1000, "total": 5580])
        #expect(g.cost == ["input": 0.00168, "output": 0.000608, "total": 0.002288])
        #expect(g.modelParameters == ["temperature": 0.2, "max_tokens": 512, "top_p": 1])
        #expect(g.promptName == "copilot-answer")
        #expect(g.promptVersion == 4)
        #expect(g.completionStartTime != nil)
        #expect(g.input?.arrayValue?.count == 2)
        #expect(g.metadata?.objectValue?["provider"] == "openai")
    }

    @Test("generations without cost keep usage and carry no cost")
    func generationsWithoutCost() throws {
        let (obs, _) = try OTLPFixture.mapped("v5-002-traces.pb")
        #expect(obs["summarize-followup"]?.usage == ["input": 800, "output": 120, "total": 920])
        #expect(obs["summarize-followup"]?.cost == nil)
        #expect(obs["summarize-followup"]?.output == "Rotate it under Settings -> API keys.")
        #expect(obs["answer-llm"]?.usage == ["input": 1200, "output": 90, "total": 1290])
        #expect(obs["classify"]?.model == "gpt-4.1-nano")
        #expect(obs["classify"]?.usage == ["input": 300, "output": 5, "total": 305])
        #expect(obs["embed-query"]?.type == .embedding)
        #expect(obs["embed-query"]?.usage == ["input": 9, "total": 9])
        #expect(obs["embed-query"]?.input == "How do I rotate my API key?")
    }

    @Test("types, levels and status messages")
    func typesAndLevels() throws {
        let (obs, _) = try OTLPFixture.mapped("v5-002-traces.pb")
        #expect(obs["search-docs"]?.type == .tool)
        #expect(obs["guardrail-check"]?.type == .event)
        #expect(obs["guardrail-check"]?.metadata?.objectValue?["checker"] == "regex-v2")
        #expect(obs["call-billing-api"]?.level == .error)
        #expect(obs["call-billing-api"]?.statusMessage == "billing upstream returned 503")
        #expect(obs["cache-lookup"]?.level == .warning)
        #expect(obs["cache-lookup"]?.statusMessage == "cache miss")
        #expect(obs["globex-agent"]?.type == .agent)
        #expect(obs["nightly-batch"]?.type == .chain)
        #expect(obs["copilot-request"]?.level == .default)
    }

    @Test("a propagated prompt links generation-like observations only")
    func promptOnGenerationsOnly() throws {
        let (obs, _) = try OTLPFixture.mapped("v5-002-traces.pb")
        #expect(obs["answer-llm"]?.promptName == "globex-answer")
        #expect(obs["answer-llm"]?.promptVersion == 2)
        #expect(obs["kb-lookup"]?.promptName == nil)
        #expect(obs["globex-agent"]?.promptName == nil)
    }

    @Test("a trace without langfuse.trace.name is named after its root span")
    func traceNameFromRoot() throws {
        let (_, traces) = try OTLPFixture.mapped("v5-002-traces.pb")
        #expect(traces["globex-agent"]?.first?.name == "globex-agent")
        #expect(traces["nightly-batch"]?.first?.name == "nightly-batch")
        #expect(traces["nightly-batch"]?.first?.metadata == ["tenantId": "initech"])
    }
}
