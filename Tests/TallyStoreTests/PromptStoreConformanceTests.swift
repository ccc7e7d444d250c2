import Foundation
import TallyCore
import TallyStoreAPI
import Testing

@testable import TallyPostgres
@testable import TallyStore

@Suite("Store conformance: prompts")
struct PromptStoreConformanceTests {
    static func create(
        _ store: any StoreUnderTest, _ name: String, _ text: String, labels: [String] = [], tags: [String]? = nil,
        type: String = "text", at seconds: Int64 = 0
    ) async throws -> Prompt {
        var json: [String: JSONValue] = [
            "name": .string(name), "type": .string(type), "labels": .array(labels.map { .string($0) }),
            "prompt": type == "chat" ? [["role": "system", "content": .string(text)]] : .string(text),
            "config": ["temperature": 0.2, "model": "gpt-4o"], "commitMessage": "v",
        ]
        if let tags { json["tags"] = .array(tags.map { .string($0) }) }
        return try await store.createPrompt(
            projectID: "p", try PromptInput.create(.object(json)),
            now: Timestamp(microseconds: 1_795_000_000_000_000 + seconds * 1_000_000))
    }

    @Test(
        "versions number up, labels move, latest is the highest, tags belong to the name, types never mix",
        arguments: Backend.available)
    func versionsAndLabels(_ backend: Backend) async throws {
        try await backend.withStore { store in
            _ = try await store.ensureProject(id: "p", name: "p")
            let v1 = try await Self.create(store, "answer", "Hi {{name}}", labels: ["production"], tags: ["support"])
            #expect(v1.version == 1 && v1.labels == ["latest", "production"] && v1.tags == ["support"])
            #expect(v1.config == ["temperature": 0.2, "model": "gpt-4o"] && v1.prompt == "Hi {{name}}")
            let v2 = try await Self.create(store, "answer", "Hello {{name}}", labels: ["staging"], at: 1)
            #expect(v2.version == 2 && v2.labels == ["latest", "staging"] && v2.tags == ["support"])
            let v3 = try await Self.create(store, "answer", "Hey", labels: ["production"], tags: ["a", "b"], at: 2)
            #expect(v3.version == 3 && v3.labels == ["latest", "production"])
            // Tags given on a create apply to every version; the label moved off version 1.
            let versions = try await store.promptVersions(projectID: "p", name: "answer")
            #expect(versions.map(\.version) == [1, 2, 3] && versions.allSatisfy { $0.tags == ["a", "b"] })
            #expect(versions[0].labels == [] && versions[1].labels == ["staging"])
            #expect(try await store.prompt(projectID: "p", name: "answer", .label("production"))?.version == 3)
            #expect(try await store.prompt(projectID: "p", name: "answer", .label("latest"))?.version == 3)
            #expect(try await store.prompt(projectID: "p", name: "answer", .version(2))?.prompt == "Hello {{name}}")
            #expect(try await store.prompt(projectID: "p", name: "answer", .label("nope")) == nil)
            #expect(try await store.prompt(projectID: "p", name: "absent", .label("latest")) == nil)
            // PATCH labels: version 1 takes production back and keeps its own.
            let patched = try await store.addPromptLabels(
                projectID: "p", name: "answer", version: 1, labels: ["production", "old"],
                now: Timestamp(microseconds: 1_795_000_010_000_000))
            #expect(patched?.labels == ["old", "production"])
            #expect(try await store.prompt(projectID: "p", name: "answer", .version(3))?.labels == ["latest"])
            #expect(
                try await store.addPromptLabels(
                    projectID: "p", name: "answer", version: 9, labels: ["x"], now: .now()) == nil)
            await #expect(throws: IngestionError.self) {
                try await Self.create(store, "answer", "chat now", type: "chat")
            }
            let chat = try await Self.create(store, "assistant", "You help.", type: "chat", at: 3)
            #expect(chat.prompt == [["role": "system", "content": "You help."]])
        }
    }

    @Test(
        "lists filter by name, label, tag and update time; deletes by version, label, latest or all",
        arguments: Backend.available)
    func listAndDelete(_ backend: Backend) async throws {
        try await backend.withStore { store in
            _ = try await store.ensureProject(id: "p", name: "p")
            _ = try await Self.create(store, "b-prompt", "one", labels: ["production"], tags: ["x"])
            _ = try await Self.create(store, "b-prompt", "two", at: 5)
            _ = try await Self.create(store, "a-prompt", "only", tags: ["y"], at: 10)
            var q = PromptListQuery()
            let all = try await store.prompts(projectID: "p", query: q)
            #expect(all.totalItems == 2 && all.items.map(\.name) == ["a-prompt", "b-prompt"])
            #expect(all.items[1].versions == [1, 2] && all.items[1].labels == ["latest", "production"])
            q.label = "production"
            #expect(try await store.prompts(projectID: "p", query: q).items.map(\.versions) == [[1]])
            q = PromptListQuery()
            q.tag = "y"
            #expect(try await store.prompts(projectID: "p", query: q).items.map(\.name) == ["a-prompt"])
            q = PromptListQuery()
            q.fromUpdatedAt = Timestamp(microseconds: 1_795_000_004_000_000)
            let recent = try await store.prompts(projectID: "p", query: q)
            #expect(recent.items.map(\.name) == ["a-prompt", "b-prompt"] && recent.items[1].versions == [2])
            q = PromptListQuery()
            q.page = PageRequest(page: 2, limit: 1)
            #expect(try await store.prompts(projectID: "p", query: q).items.map(\.name) == ["b-prompt"])

            #expect(try await store.deletePrompt(projectID: "p", name: "b-prompt", .label("latest")) == 1)
            #expect(try await store.prompt(projectID: "p", name: "b-prompt", .label("latest"))?.version == 1)
            #expect(try await store.deletePrompt(projectID: "p", name: "b-prompt", .label("production")) == 1)
            #expect(try await store.deletePrompt(projectID: "p", name: "a-prompt", .version(7)) == 0)
            #expect(try await store.deletePrompt(projectID: "p", name: "a-prompt", nil) == 1)
            #expect(try await store.prompts(projectID: "p", query: PromptListQuery()).totalItems == 0)
        }
    }

    @Test(
        "PostgreSQL: concurrent creates of one name on two collectors get distinct versions",
        .enabled(if: Backend.postgresURL != nil))
    func concurrentCreates() async throws {
        try await PostgresHarness.withDatabase { a, url in
            try await PostgresHarness.running(try PostgresStore(url: url, poolSize: 4)) { b in
                _ = try await a.ensureProject(id: "p", name: "p")
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for i in 0..<20 {
                        let store: PostgresStore = i.isMultiple(of: 2) ? a : b
                        group.addTask {
                            try await Self.create(store, "busy", "text \(i)", labels: ["production"]).version
                        }
                    }
                    var versions: [Int] = []
                    for try await v in group { versions.append(v) }
                    #expect(versions.sorted() == Array(1...20))
                }
                let withLabel = try await a.promptVersions(projectID: "p", name: "busy").filter {
                    $0.labels.contains("production")
                }
                #expect(withLabel.count == 1)
            }
        }
    }
}
