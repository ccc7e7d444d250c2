import Testing

@testable import TallyCore

@Suite("Merge rules")
struct MergeTests {
    let t0 = Timestamp(microseconds: 1_000_000)
    let t1 = Timestamp(microseconds: 2_000_000)
    let rules = AttributionRules.standard

    func traceCreate(_ edit: (inout TraceUpsert) -> Void) -> TraceUpsert {
        var u = TraceUpsert(id: "t")
        edit(&u)
        return u
    }

    @Test("trace.update() as a partial trace-create keeps name, user and first timestamp/environment")
    func partialTraceUpdate() {
        let first = Trace.merge(
            nil,
            traceCreate {
                $0.name = "copilot-request"; $0.userID = "u"; $0.environment = "production"; $0.timestamp = t0
                $0.metadata = ["tenantId": "acme", "nested": ["a": 1]]; $0.tags = ["copilot", "tenant:acme"]
                $0.input = ["q": "hi"]
            }, eventTime: t0, rules: rules)
        let second = Trace.merge(
            first,
            traceCreate {
                $0.output = "answer"; $0.metadata = ["resolved": true, "nested": ["b": 2]];
                $0.tags = ["resolved", "copilot"]
                $0.environment = "staging"; $0.timestamp = t1; $0.input = ""
            }, eventTime: t1, rules: rules)
        #expect(second.name == "copilot-request")
        #expect(second.userID == "u")
        #expect(second.timestamp == t0)
        #expect(second.environment == "production")
        #expect(second.input == ["q": "hi"])
        #expect(second.output == "answer")
        #expect(second.metadata == ["tenantId": "acme", "resolved": true, "nested": ["a": 1, "b": 2]])
        #expect(second.tags == ["copilot", "resolved", "tenant:acme"])
        #expect(second.tenant == "acme")
        #expect(!second.isPlaceholder)
    }

    @Test("a placeholder trace takes timestamp and environment from the first real trace-create")
    func placeholderTrace() {
        let placeholder = Trace.placeholder(id: "t", timestamp: t1, environment: "default")
        let merged = Trace.merge(
            placeholder,
            traceCreate {
                $0.timestamp = t0; $0.environment = "prod"
            }, eventTime: t1, rules: rules)
        #expect(merged.timestamp == t0)
        #expect(merged.environment == "prod")
        #expect(!merged.isPlaceholder)
    }

    @Test("non-object metadata is kept under the key metadata")
    func scalarMetadata() {
        let merged = Trace.merge(nil, traceCreate { $0.metadata = "just text" }, eventTime: t0, rules: rules)
        #expect(merged.metadata == ["metadata": "just text"])
    }

    @Test("the tenant tag names the tenant when metadata does not")
    func tenantFromTag() {
        let merged = Trace.merge(
            nil,
            traceCreate {
                $0.tags = ["tenant:globex"]; $0.metadata = ["feature": "chat"]
            }, eventTime: t0, rules: rules)
        #expect(merged.tenant == "globex")
        #expect(merged.feature == "chat")
    }

    func obs(_ type: ObservationType = .generation, update: Bool = false, _ edit: (inout ObservationUpsert) -> Void)
        -> ObservationUpsert
    {
        var u = ObservationUpsert(id: "o", type: type, isUpdate: update)
        edit(&u)
        return u
    }

    @Test("an update without usage or cost never wipes them; a later usage replaces the earlier one")
    func usageKept() {
        let a = Observation.merge(
            nil,
            obs {
                $0.traceID = "t"; $0.startTime = t0; $0.usage = ["input": 1, "total": 1]; $0.cost = ["total": 0.5]
            }, eventTime: t0, newTraceID: { "x" })
        let b = Observation.merge(
            a,
            obs(update: true) {
                $0.endTime = t1; $0.usage = [:]
            }, eventTime: t1, newTraceID: { "x" })
        #expect(b.usage == ["input": 1, "total": 1])
        #expect(b.providedCost == ["total": 0.5])
        #expect(b.endTime == t1)
        let c = Observation.merge(
            b, obs(update: true) { $0.usage = ["input": 2, "total": 2] }, eventTime: t1, newTraceID: { "x" })
        #expect(c.usage == ["input": 2, "total": 2])
    }

    @Test("trace id, start time and environment are immutable after a create; updates never change the type")
    func immutableObservationFields() {
        let a = Observation.merge(
            nil,
            obs {
                $0.traceID = "t"; $0.startTime = t0; $0.environment = "prod"
            }, eventTime: t0, newTraceID: { "x" })
        let b = Observation.merge(
            a,
            obs(.span, update: true) {
                $0.traceID = "other"; $0.startTime = t1; $0.environment = "dev"
            }, eventTime: t1, newTraceID: { "x" })
        #expect(b.traceID == "t")
        #expect(b.startTime == t0)
        #expect(b.environment == "prod")
        #expect(b.type == .generation)
    }

    @Test("an update arriving before its create is a placeholder the create completes")
    func updateBeforeCreate() {
        let a = Observation.merge(
            nil,
            obs(update: true) {
                $0.traceID = "t"; $0.endTime = t1; $0.output = "done"
            }, eventTime: t1, newTraceID: { "x" })
        #expect(a.isPlaceholder)
        #expect(a.startTime == t1)
        let b = Observation.merge(
            a,
            obs {
                $0.startTime = t0; $0.name = "gen"; $0.environment = "prod"
            }, eventTime: t0, newTraceID: { "x" })
        #expect(!b.isPlaceholder)
        #expect(b.startTime == t0)
        #expect(b.endTime == t1)
        #expect(b.output == "done")
        #expect(b.environment == "prod")
    }

    @Test("an observation without traceId gets a new trace id; endTime before startTime is clamped")
    func missingTraceAndClamp() {
        let a = Observation.merge(
            nil,
            obs {
                $0.startTime = t1; $0.endTime = t0
            }, eventTime: t1, newTraceID: { "generated" })
        #expect(a.traceID == "generated")
        #expect(a.endTime == t1)
    }

    @Test("applying the same events twice gives the same entity")
    func idempotent() {
        let events = [
            obs {
                $0.traceID = "t"; $0.startTime = t0; $0.metadata = ["a": 1]; $0.input = "in"
            },
            obs(update: true) {
                $0.endTime = t1; $0.output = "out"; $0.usage = ["input": 3, "total": 3]
            },
        ]
        var once: Observation?
        for e in events { once = Observation.merge(once, e, eventTime: t0, newTraceID: { "x" }) }
        var twice = once
        for e in events { twice = Observation.merge(twice, e, eventTime: t0, newTraceID: { "x" }) }
        #expect(once == twice)
    }

    @Test("application order: creates before updates, then by timestamp, stable")
    func order() {
        let upd = IngestionEvent(eventID: "u", timestamp: t0, body: .observation(obs(update: true) { _ in }))
        let c1 = IngestionEvent(eventID: "c1", timestamp: t1, body: .trace(TraceUpsert(id: "t")))
        let c0 = IngestionEvent(eventID: "c0", timestamp: t0, body: .observation(obs { _ in }))
        let c0b = IngestionEvent(eventID: "c0b", timestamp: t0, body: .log)
        let events = [upd, c1, c0, c0b]
        #expect(IngestionEvent.applicationOrder(events).map { events[$0].eventID } == ["c0", "c0b", "c1", "u"])
    }

    @Test("totals: keys containing input/output, given or summed total")
    func totals() {
        var o = Observation(id: "o", traceID: "t", type: .generation, startTime: t0, isPlaceholder: false)
        o.usage = ["input": 4200, "output": 380, "cache_read_input_tokens": 1000, "total": 5580]
        o.providedCost = ["input": 0.00168, "output": 0.000608]
        let t = o.totals
        #expect(t.inputTokens == 5200)
        #expect(t.outputTokens == 380)
        #expect(t.totalTokens == 5580)
        #expect(t.totalCost == 0.00168 + 0.000608)
    }
}
