import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

/// Router tests: the exact application `tally serve` runs, over HummingbirdTesting's router client.
@Suite("HTTP API")
struct RouterTests {
    init() {}
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    struct Env {
        let app: any ApplicationProtocol
        let database: TallyDatabase
        let auth: String
        let publicKey: String
    }

    /// Posts a Langfuse batch body with the project's keys and expects every event taken (207).
    static func ingest(_ client: some TestClientProtocol, _ env: Env, batch: String) async throws {
        let r = try await client.execute(
            uri: "/api/public/ingestion", method: .post,
            headers: [.authorization: env.auth, .contentType: "application/json"], body: ByteBuffer(string: batch))
        #expect(r.status.code == 207)
    }

    func makeEnv(_ edit: (inout ServerConfiguration) -> Void = { _ in }) async throws -> Env {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tally-router-\(UUID().uuidString)/t.db"
        ).path
        let database = try TallyDatabase(path: path)
        let outcome = try await ProjectBootstrap.run(
            database: database,
            environment: [
                "LANGFUSE_INIT_PROJECT_ID": "proj-1", "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": "pk-lf-test",
                "LANGFUSE_INIT_PROJECT_SECRET_KEY": "sk-lf-test",
            ])
        #expect(outcome.project.id == "proj-1")
        var config = ServerConfiguration()
        edit(&config)
        let app = buildApplication(configuration: config, database: database)
        return Env(
            app: app, database: database, auth: "Basic " + Data("pk-lf-test:sk-lf-test".utf8).base64EncodedString(),
            publicKey: "pk-lf-test")
    }

    func json(_ buffer: ByteBuffer) throws -> JSONValue { try JSONValue.parse(Data(buffer: buffer)) }

    @Test("health needs no key; everything else answers 401 without one, with Langfuse's messages")
    func auth() async throws {
        let env = try await makeEnv()
        try await env.app.test(.router) { client in
            try await client.execute(uri: "/api/public/health", method: .get) { r throws in
                #expect(r.status == .ok)
                #expect(try json(r.body).objectValue?["status"] == "OK")
            }
            try await client.execute(uri: "/api/public/traces", method: .get) { r throws in
                #expect(r.status == .unauthorized)
                #expect(try json(r.body) == ["message": "No authorization header"])
            }
            let wrong = "Basic " + Data("pk-lf-test:sk-wrong".utf8).base64EncodedString()
            try await client.execute(uri: "/api/public/traces", method: .get, headers: [.authorization: wrong]) {
                r throws in
                #expect(r.status == .unauthorized)
                #expect(try json(r.body).objectValue?["message"]?.stringValue?.hasPrefix("Invalid credentials") == true)
            }
            try await client.execute(uri: "/api/public/traces", method: .get, headers: [.authorization: "Basic !!!"]) {
                r throws in
                #expect(r.status == .unauthorized)
            }
            try await client.execute(
                uri: "/api/public/traces", method: .get, headers: [.authorization: "Bearer pk-lf-test"]
            ) { r throws in
                #expect(r.status == .forbidden)
            }
            try await client.execute(uri: "/api/public/projects", method: .get, headers: [.authorization: env.auth]) {
                r throws in
                #expect(r.status == .ok)
                let project = try json(r.body).objectValue?["data"]?.arrayValue?.first?.objectValue
                #expect(project?["id"] == "proj-1")
                #expect(project?["organization"]?.objectValue?["id"] != nil)
            }
        }
    }

    @Test("the v2 capture ingests with 207 and reads back through traces and observations")
    func ingestAndRead() async throws {
        let env = try await makeEnv()
        try await env.app.test(.router) { client in
            for file in ["002", "003"] {
                let body = try Data(
                    contentsOf: Self.fixtures.appendingPathComponent("langfuse-v2/\(file)-ingestion-batch.json"))
                try await client.execute(
                    uri: "/api/public/ingestion", method: .post,
                    headers: [.authorization: env.auth, .contentType: "application/json"], body: ByteBuffer(data: body)
                ) { r throws in
                    #expect(r.status.code == 207)
                    let out = try json(r.body).objectValue
                    #expect(out?["errors"] == [])
                    #expect(out?["successes"]?.arrayValue?.count == (file == "002" ? 15 : 4))
                }
            }
            try await client.execute(
                uri: "/api/public/traces?tags=tenant:acme&userId=user-42", method: .get,
                headers: [.authorization: env.auth]
            ) { r throws in
                let out = try json(r.body).objectValue
                let data = out?["data"]?.arrayValue ?? []
                #expect(data.count == 1)
                #expect(data.first?.objectValue?["totalCost"] == 0.00280018)  // 0.002288 given + 0.000512 + 0.00000018 inferred
                #expect(out?["meta"] == ["page": 1, "limit": 50, "totalItems": 1, "totalPages": 1])
            }
            try await client.execute(
                uri: "/api/public/observations?traceId=f50abe67-3dfd-5e3d-9047-94069b746bac&type=GENERATION",
                method: .get,
                headers: [.authorization: env.auth]
            ) { r throws in
                let data = try json(r.body).objectValue?["data"]?.arrayValue ?? []
                #expect(data.count == 3)
                let gen = data.first { $0.objectValue?["id"] == "d4c1f987-879f-51d6-9d85-570fea617c5b" }?.objectValue
                #expect(
                    gen?["usageDetails"] == [
                        "input": 4200, "output": 380, "cache_read_input_tokens": 1000, "total": 5580,
                    ])
                #expect(gen?["costDetails"] == ["input": 0.00168, "output": 0.000608, "total": 0.002288])
                #expect(gen?["calculatedTotalCost"] == 0.002288)
                #expect(gen?["startTime"] == "2026-11-23T12:43:59.889Z")
                #expect(gen?["promptName"] == "copilot-answer")
                #expect(gen?["tenant"] == "acme")
            }
            try await client.execute(uri: "/api/public/traces/nope", method: .get, headers: [.authorization: env.auth])
            { r throws in
                #expect(r.status == .notFound)
            }
            try await client.execute(
                uri: "/api/public/traces?limit=101", method: .get, headers: [.authorization: env.auth]
            ) { r throws in
                #expect(r.status == .badRequest)
            }
            try await client.execute(
                uri: "/api/public/traces?fromTimestamp=yesterday", method: .get, headers: [.authorization: env.auth]
            ) { r throws in
                #expect(r.status == .badRequest)
                #expect(try json(r.body).objectValue?["error"]?.stringValue?.contains("fromTimestamp") == true)
            }
            try await client.execute(
                uri: "/api/public/sessions/sess-acme-001", method: .get, headers: [.authorization: env.auth]
            ) { r throws in
                #expect(try json(r.body).objectValue?["traces"]?.arrayValue?.count == 1)
            }
            try await client.execute(
                uri: "/api/public/v2/scores?traceId=f50abe67-3dfd-5e3d-9047-94069b746bac", method: .get,
                headers: [.authorization: env.auth]
            ) { r throws in
                let data = try json(r.body).objectValue?["data"]?.arrayValue ?? []
                #expect(data.count == 3)
                #expect(data.allSatisfy { $0.objectValue?["trace"]?.objectValue?["userId"] == "user-42" })
            }
            try await client.execute(
                uri: "/api/public/traces/f50abe67-3dfd-5e3d-9047-94069b746bac", method: .delete,
                headers: [.authorization: env.auth]
            ) { r throws in
                #expect(r.status == .ok)
            }
            try await client.execute(
                uri: "/api/public/observations/d4c1f987-879f-51d6-9d85-570fea617c5b", method: .get,
                headers: [.authorization: env.auth]
            ) { r throws in
                #expect(r.status == .notFound)
            }
        }
    }

    @Test("bad bodies: malformed JSON 400, oversize 413, gzip decoded, bad gzip 400, gzip bomb 413")
    func badBodies() async throws {
        let env = try await makeEnv {
            $0.maxBodyBytes = 2_000; $0.maxDecodedBytes = 10_000
        }
        try await env.app.test(.router) { client in
            let headers: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
            try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: headers, body: ByteBuffer(string: "{\"batch\": [")
            ) { r throws in
                #expect(r.status == .badRequest)
                #expect(try json(r.body).objectValue?["message"] == "Invalid request data")
            }
            try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: headers,
                body: ByteBuffer(string: String(repeating: " ", count: 3_000))
            ) { r throws in
                #expect(r.status == .contentTooLarge)
            }
            let event =
                #"{"batch":[{"id":"e","type":"trace-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"gz"}}]}"#
            var gzHeaders = headers
            gzHeaders[.contentEncoding] = "gzip"
            try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: gzHeaders, body: try gzip(Data(event.utf8))
            ) { r throws in
                #expect(r.status.code == 207)
                #expect(try json(r.body).objectValue?["successes"]?.arrayValue?.count == 1)
            }
            try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: gzHeaders, body: ByteBuffer(string: "not gzip")
            ) { r throws in
                #expect(r.status == .badRequest)
            }
            let bomb = try gzip(Data(repeating: 0x20, count: 1_000_000))
            #expect(bomb.readableBytes < 2_000)
            try await client.execute(uri: "/api/public/ingestion", method: .post, headers: gzHeaders, body: bomb) {
                r throws in
                #expect(r.status == .contentTooLarge)
            }
            try await client.execute(uri: "/api/public/health", method: .get) { r throws in #expect(r.status == .ok) }
        }
    }

    @Test("public-key (Bearer) access stores scores and refuses everything else per event")
    func bearerScoresOnly() async throws {
        let env = try await makeEnv()
        try await env.app.test(.router) { client in
            let body = """
                {"batch":[{"id":"e1","type":"trace-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"t"}},
                {"id":"e2","type":"score-create","timestamp":"2026-01-01T00:00:00Z","body":{"id":"s","traceId":"t","name":"q","value":1}}]}
                """
            try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: [.authorization: "Bearer pk-lf-test"],
                body: ByteBuffer(string: body)
            ) { r throws in
                let out = try json(r.body).objectValue
                #expect(out?["successes"] == [["id": "e2", "status": 201]])
                #expect(out?["errors"]?.arrayValue?.first?.objectValue?["status"] == 401)
            }
            #expect(try await env.database.score(projectID: "proj-1", id: "s") != nil)
            #expect(try await env.database.trace(projectID: "proj-1", id: "t") == nil)
        }
    }

    @Test("POST /scores: one object → {id}; the v5 array → 202 Accepted, or 207 with per-item errors")
    func postScores() async throws {
        let env = try await makeEnv()
        try await env.app.test(.router) { client in
            let headers: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
            try await client.execute(
                uri: "/api/public/scores", method: .post, headers: headers,
                body: ByteBuffer(string: #"{"id":"s1","traceId":"t1","name":"helpfulness","value":0.9}"#)
            ) { r throws in
                #expect(r.status == .ok)
                #expect(try json(r.body) == ["id": "s1"])
            }
            try await client.execute(
                uri: "/api/public/scores", method: .post, headers: headers,
                body: ByteBuffer(
                    string:
                        #"[{"id":"s2","sessionId":"sess","name":"csat","value":4.5},{"id":"s3","traceId":"t1","name":"r","value":"resolved","dataType":"CATEGORICAL"}]"#
                )
            ) { r throws in
                #expect(r.status == .accepted)
                #expect(try json(r.body) == ["message": "Accepted"])
            }
            try await client.execute(
                uri: "/api/public/scores", method: .post, headers: headers,
                body: ByteBuffer(
                    string: #"[{"id":"s4","traceId":"t1","name":"ok","value":1},{"traceId":"t1","value":1}]"#)
            ) { r throws in
                #expect(r.status.code == 207)
                let out = try json(r.body).objectValue
                #expect(out?["accepted"] == 1)
                #expect(out?["rejected"] == 1)
            }
            try await client.execute(
                uri: "/api/public/scores", method: .post, headers: [.authorization: "Bearer pk-lf-test"],
                body: ByteBuffer(string: #"{"id":"s5","traceId":"t1","name":"b","value":true}"#)
            ) { r throws in
                #expect(r.status == .ok)
            }
            #expect(try await env.database.score(projectID: "proj-1", id: "s5")?.dataType == .boolean)
            #expect(try await env.database.score(projectID: "proj-1", id: "s3")?.stringValue == "resolved")
        }
    }
}

func gzip(_ data: Data) throws -> ByteBuffer {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gz-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let file = dir.appendingPathComponent("body")
    try data.write(to: file)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/gzip")
    p.arguments = ["-9", "-n", file.path]
    try p.run()
    p.waitUntilExit()
    return ByteBuffer(data: try Data(contentsOf: dir.appendingPathComponent("body.gz")))
}
