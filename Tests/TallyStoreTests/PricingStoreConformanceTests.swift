import Foundation
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

@Suite("Store conformance: model prices and re-pricing")
struct PricingStoreConformanceTests {
    static func model(_ inputPerMillion: Double) throws -> ModelPrice {
        try ModelPrice(
            json: [
                "id": "house-model", "modelName": "house-model", "matchPattern": "(?i)^house-model$",
                "prices": ["input": .double(inputPerMillion / 1e6), "output": .double(2 * inputPerMillion / 1e6)],
            ], projectID: "p")
    }

    static func call(_ id: String, model: String, seconds: Int64) -> IngestionEvent {
        var o = ObservationUpsert(id: id, type: .generation, isUpdate: false)
        o.traceID = "t-\(id)"
        o.model = model
        o.startTime = Timestamp(microseconds: 1_795_000_000_000_000 + seconds * 1_000_000)
        o.usage = ["input": 1_000_000, "output": 1_000]
        return IngestionEvent(eventID: id, timestamp: o.startTime!, body: .observation(o))
    }

    @Test(
        "project models price new calls at once; recompute re-prices stored ones in a time range; settings round-trip",
        arguments: Backend.available)
    func modelsAndRecompute(_ backend: Backend) async throws {
        try await backend.withStore { store in
            _ = try await store.ensureProject(id: "p", name: "p")
            #expect(try await store.pricingSettings(projectID: "p") == PricingSettings())
            let saved = try await store.saveModel(projectID: "p", try Self.model(3))
            #expect(saved.createdAt != nil)
            _ = try await store.ingest(
                projectID: "p", events: (0..<3).map { Self.call("c\($0)", model: "house-model", seconds: Int64($0)) })
            // 1M input × $3/M + 1k output × $6/M.
            #expect(try await store.observation(projectID: "p", id: "c0")?.totals.totalCost == 3.006)
            // A new price: stored calls keep theirs until re-priced; only [1 s, 3 s) is.
            let again = try await store.saveModel(projectID: "p", try Self.model(5))
            #expect(again.createdAt == saved.createdAt)
            #expect(try await store.models(projectID: "p").map(\.id) == ["house-model"])
            _ = try await store.ingest(projectID: "p", events: [Self.call("c3", model: "house-model", seconds: 3)])
            #expect(try await store.observation(projectID: "p", id: "c3")?.totals.totalCost == 5.01)
            let changed = try await store.recomputeCosts(
                projectID: "p", from: Timestamp(microseconds: 1_795_000_001_000_000),
                to: Timestamp(microseconds: 1_795_000_003_000_000))
            #expect(changed == 2)
            #expect(try await store.observation(projectID: "p", id: "c0")?.totals.totalCost == 3.006)
            #expect(try await store.observation(projectID: "p", id: "c2")?.totals.totalCost == 5.01)
            #expect(try await store.trace(projectID: "p", id: "t-c2")?.0.totalCost == 5.01)
            #expect(try await store.recomputeCosts(projectID: "p", from: nil, to: nil) == 1)
            #expect(try await store.recomputeCosts(projectID: "p", from: nil, to: nil) == 0)
            // Without the model (and without built-in prices) a recompute leaves calls unpriced.
            #expect(try await store.deleteModel(projectID: "p", id: "house-model"))
            #expect(try await store.deleteModel(projectID: "p", id: "house-model") == false)
            let settings = PricingSettings(builtinPrices: false, priceBy: .response)
            try await store.setPricingSettings(projectID: "p", settings)
            #expect(try await store.pricingSettings(projectID: "p") == settings)
            #expect(try await store.recomputeCosts(projectID: "p", from: nil, to: nil) == 4)
            #expect(try await store.observation(projectID: "p", id: "c0")?.totals.totalCost == nil)
        }
    }

    @Test(
        "PostgreSQL: a price saved on one collector prices the next call on another",
        .enabled(if: Backend.postgresURL != nil))
    func pricesReachEveryCollector() async throws {
        try await PostgresHarness.withDatabase { a, url in
            try await PostgresHarness.running(try PostgresStore(url: url, poolSize: 2)) { b in
                _ = try await a.ensureProject(id: "p", name: "p")
                _ = try await a.saveModel(projectID: "p", try Self.model(3))
                _ = try await b.ingest(projectID: "p", events: [Self.call("x", model: "house-model", seconds: 0)])
                _ = try await a.saveModel(projectID: "p", try Self.model(5))
                _ = try await b.ingest(projectID: "p", events: [Self.call("y", model: "house-model", seconds: 1)])
                #expect(try await b.observation(projectID: "p", id: "x")?.totals.totalCost == 3.006)
                #expect(try await b.observation(projectID: "p", id: "y")?.totals.totalCost == 5.01)
            }
        }
    }
}
