import Foundation
import TallyCore

/// Two weeks of model calls built to hold each kind of waste once, next to controls that look alike but are not
/// waste. Costs are inferred from the built-in prices; the figures the tests expect are worked out by hand in
/// `SavingsConformanceTests` from the numbers here.
enum SavingsWorkload {
    /// 2026-10-01T00:00:00Z; the range is [day0, day0 + 14 days).
    static let day0: Int64 = 1_790_812_800_000_000
    static let day: Int64 = 86_400_000_000
    static let minute: Int64 = 60_000_000
    static var from: Timestamp { Timestamp(microseconds: day0) }
    static var to: Timestamp { Timestamp(microseconds: day0 + 14 * day) }

    struct Builder {
        var events: [IngestionEvent] = []
        var n = 0

        mutating func trace(_ id: String, at time: Int64, tenant: String, feature: String) {
            var t = TraceUpsert(id: id)
            t.timestamp = Timestamp(microseconds: time)
            t.metadata = ["tenantId": .string(tenant), "feature": .string(feature)]
            events.append(IngestionEvent(eventID: "e-\(id)", timestamp: t.timestamp!, body: .trace(t)))
        }

        /// One observation of `trace`; a model call when `model` is set. `input` defaults to a text unique to it.
        mutating func call(
            _ trace: String, at time: Int64, type: ObservationType = .generation, name: String? = nil,
            model: String? = nil, input inputTokens: Int64 = 0, output outputTokens: Int64 = 0, text: String? = nil,
            error: Bool = false, prompt: (String, Int)? = nil, metadata: [String: JSONValue] = [:]
        ) {
            n += 1
            var o = ObservationUpsert(id: "\(trace)-o\(n)", type: type, isUpdate: false)
            o.traceID = trace
            o.name = name
            o.startTime = Timestamp(microseconds: time)
            o.endTime = Timestamp(microseconds: time + 1_000_000)
            if let model {
                o.model = model
                o.usage = type == .embedding ? ["input": inputTokens] : ["input": inputTokens, "output": outputTokens]
                o.input = .string(text ?? "request \(n)")
            }
            if error { o.level = .error }
            if let prompt { (o.promptName, o.promptVersion) = (prompt.0, prompt.1) }
            if !metadata.isEmpty { o.metadata = .object(metadata) }
            events.append(IngestionEvent(eventID: "e-\(o.id)", timestamp: o.startTime!, body: .observation(o)))
        }

        /// A trace of one model call.
        mutating func single(
            _ id: String, at time: Int64, tenant: String = "acme", feature: String, model: String, input: Int64,
            output: Int64, text: String? = nil, type: ObservationType = .generation, error: Bool = false,
            prompt: (String, Int)? = nil, metadata: [String: JSONValue] = [:]
        ) {
            trace(id, at: time, tenant: tenant, feature: feature)
            call(
                id, at: time, type: type, model: model, input: input, output: output, text: text, error: error,
                prompt: prompt, metadata: metadata)
        }
    }

    /// A score on each `classify` call: 0.9 on gpt-4o, 0.8 on gpt-4o-mini.
    static func scores(for events: [IngestionEvent]) -> [IngestionEvent] {
        events.compactMap { e in
            guard case .observation(let o) = e.body, let trace = o.traceID, trace.hasPrefix("classify"),
                let model = o.model
            else { return nil }
            var s = Score(
                id: "score-\(o.id)", name: "accuracy", value: model == "gpt-4o" ? 0.9 : 0.8, stringValue: nil,
                dataType: .numeric, timestamp: o.startTime!)
            s.traceID = trace
            s.observationID = o.id
            return IngestionEvent(eventID: "e-\(s.id)", timestamp: s.timestamp, body: .score(s))
        }
    }

    static func events() -> [IngestionEvent] {
        var b = Builder()
        let hour = 60 * minute
        // classify: 40 short calls on gpt-4o (model_downgrade) and 20 on gpt-4o-mini (control: only 2.5× dearer
        // than the cheapest OpenAI model), evenly over both weeks.
        for i in 0..<40 {
            b.single(
                "classify-a\(i)", at: day0 + Int64(i) * 8 * hour + hour, feature: "classify", model: "gpt-4o",
                input: 400, output: 10)
        }
        for i in 0..<20 {
            b.single(
                "classify-b\(i)", at: day0 + Int64(i) * 16 * hour + 2 * hour, feature: "classify",
                model: "gpt-4o-mini", input: 400, output: 10)
        }
        // summarize: long outputs (control for downgrade); input per call 1,000 in week 1, 1,500 in week 2.
        for i in 0..<40 {
            let week2 = i >= 20
            b.single(
                "summarize-\(i)", at: day0 + (week2 ? 7 * day : 0) + Int64(i % 20) * 8 * hour + 3 * hour,
                tenant: "globex", feature: "summarize", model: "gpt-4o", input: week2 ? 1_500 : 1_000,
                output: 400)
        }
        // rag, prompt rag-answer v2: 37 calls of 1,000 input tokens and 3 of 20,000 (two in week 1, one in week 2).
        for i in 0..<40 {
            let outlier = [3, 11, 30].contains(i)
            b.single(
                "rag-\(i)", at: day0 + Int64(i) * 8 * hour + 4 * hour, feature: "rag", model: "gpt-4.1-mini",
                input: outlier ? 20_000 : 1_000, output: 100, prompt: ("rag-answer", 2))
        }
        // agent: 10 traces of three calls and two tool steps (control), one trace of 14 calls (capped after the
        // 10th), one of 8 calls between 6 search_tool steps (capped at the 5th repeat, 5 minutes in).
        for i in 0..<10 {
            let t = day0 + Int64(i) * day + 5 * hour
            b.trace("agent-\(i)", at: t, tenant: "acme", feature: "agent")
            for k in 0..<3 {
                b.call(
                    "agent-\(i)", at: t + Int64(k) * minute, name: "step", model: "claude-sonnet-4-5", input: 1_000,
                    output: 100)
            }
            for k in 0..<2 {
                b.call("agent-\(i)", at: t + Int64(k) * minute + 30_000_000, type: .tool, name: "search_tool")
            }
        }
        let l1 = day0 + 9 * day + 6 * hour
        b.trace("agent-loop-1", at: l1, tenant: "acme", feature: "agent")
        for k in 0..<14 {
            b.call(
                "agent-loop-1", at: l1 + Int64(k) * minute, name: "step", model: "claude-sonnet-4-5", input: 1_000,
                output: 100)
        }
        let l2 = day0 + 10 * day + 6 * hour
        b.trace("agent-loop-2", at: l2, tenant: "acme", feature: "agent")
        for k in 0..<8 {
            b.call(
                "agent-loop-2", at: l2 + Int64(k) * minute + 30_000_000, name: "step", model: "claude-sonnet-4-5",
                input: 1_000, output: 100)
        }
        for k in 1...6 { b.call("agent-loop-2", at: l2 + Int64(k) * minute, type: .tool, name: "search_tool") }
        // support-chat: 30 calls on gpt-4o-mini, 6 of them errors (retry_waste).
        for i in 0..<30 {
            b.single(
                "support-\(i)", at: day0 + Int64(i) * 11 * hour + 5 * hour, feature: "support-chat",
                model: "gpt-4o-mini", input: 500, output: 50, error: i % 5 == 0)
        }
        // faq on gpt-4.1-mini: Q1 four times in 30 minutes (3 repeats), Q2 twice 2 hours apart (control), Q3 again
        // within the hour but answered by a cache (control), Q4 by two tenants (control).
        let f = day0 + 2 * day
        for k in 0..<4 {
            b.single(
                "faq-q1-\(k)", at: f + Int64(k) * 10 * minute, feature: "faq", model: "gpt-4.1-mini", input: 200,
                output: 30, text: "How do I reset my password?")
        }
        for k in 0..<2 {
            b.single(
                "faq-q2-\(k)", at: f + 3 * day + Int64(k) * 2 * hour, feature: "faq", model: "gpt-4.1-mini",
                input: 200, output: 30, text: "What are your opening hours?")
        }
        for k in 0..<2 {
            b.single(
                "faq-q3-\(k)", at: f + 4 * day + Int64(k) * 5 * minute, feature: "faq", model: "gpt-4.1-mini",
                input: 200, output: 30, text: "Where is my invoice?",
                metadata: k == 1 ? ["cache_hit": .bool(true)] : [:])
        }
        for (k, tenant) in ["acme", "globex"].enumerated() {
            b.single(
                "faq-q4-\(k)", at: f + 5 * day + Int64(k) * 10 * minute, tenant: tenant, feature: "faq",
                model: "gpt-4.1-mini", input: 200, output: 30, text: "Do you ship abroad?")
        }
        // indexer: documents 1–5 embedded on day 1, 1–3 again (unchanged) and 6 on day 8.
        for (k, doc) in [1, 2, 3, 4, 5].enumerated() {
            b.single(
                "index-a\(doc)", at: day0 + day + Int64(k) * minute, feature: "indexer",
                model: "text-embedding-3-small", input: 1_000, output: 0, text: "document \(doc)", type: .embedding)
        }
        for (k, doc) in [1, 2, 3, 6].enumerated() {
            b.single(
                "index-b\(doc)", at: day0 + 8 * day + Int64(k) * minute, feature: "indexer",
                model: "text-embedding-3-small", input: 1_000, output: 0, text: "document \(doc)", type: .embedding)
        }
        return b.events + scores(for: b.events)
    }
}
