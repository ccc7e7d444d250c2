import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

@Suite("LangSmith SDK ingestion: /api/langsmith")
struct LangSmithRouterTests {
    let router = RouterTests()
    static let fixtures = RouterTests.fixtures.appendingPathComponent("langsmith")

    /// The recorded requests of langsmith 0.15.1 (see Tests/Fixtures/README.md), in order.
    static func recorded() throws -> [(method: HTTPRequest.Method, path: String, headers: HTTPFields, body: Data)] {
        try FileManager.default.contentsOfDirectory(atPath: fixtures.path).filter { $0.hasSuffix(".request.json") }
            .sorted().map { name in
                let meta =
                    try JSONValue.parse(Data(contentsOf: fixtures.appendingPathComponent(name))).objectValue ?? [:]
                let body = try Data(
                    contentsOf: fixtures.appendingPathComponent(
                        name.replacingOccurrences(of: ".request.json", with: ".bin")))
                var headers: HTTPFields = [.init("x-api-key")!: "pk-lf-test:sk-lf-test"]
                if let type = meta["contentType"]?.stringValue { headers[.contentType] = type }
                if let encoding = meta["contentEncoding"]?.stringValue { headers[.contentEncoding] = encoding }
                let method: HTTPRequest.Method = meta["method"] == "PATCH" ? .patch : .post
                return (method, "/api/langsmith" + (meta["path"]?.stringValue ?? ""), headers, body)
            }
    }

    @Test(
        "the recorded traffic (zstd multipart, create_run, update_run) lands as three priced, attributed traces; a re-send changes nothing"
    )
    func recordedTraffic() async throws {
        let env = try await router.makeEnv()
        try await env.app.test(.router) { client throws in
            let info = try await client.execute(uri: "/api/langsmith/info", method: .get)
            let config = try JSONValue.parse(Data(buffer: info.body)).objectValue?["batch_ingest_config"]?.objectValue
            // Every key the SDK reads must be there, or its sender thread dies.
            for key in ["size_limit", "scale_up_nthreads_limit", "scale_up_qsize_trigger", "scale_down_nempty_trigger"]
            {
                #expect(config?[key]?.doubleValue != nil, "\(key)")
            }
            for round in 0..<2 {
                for r in try Self.recorded() {
                    let response = try await client.execute(
                        uri: r.path, method: r.method, headers: r.headers, body: ByteBuffer(data: r.body))
                    #expect(response.status == .accepted, "\(r.path), round \(round)")
                }
            }
        }
        let traces = try await env.database.traces(projectID: "proj-1", query: TraceQuery()).items
        let byName = Dictionary(uniqueKeysWithValues: traces.map { ($0.trace.name ?? "", $0) })
        #expect(Set(byName.keys) == ["answer_question", "refund_flow", "direct_request"])
        let answer = try #require(byName["answer_question"])
        #expect(answer.trace.tenant == "acme" && answer.trace.feature == "copilot" && answer.trace.userID == "user-42")
        #expect(answer.trace.tags == ["copilot", "tenant:acme"] && answer.trace.release == "copilot-1.4.0")
        #expect(answer.totalCost == 0.0007725 && answer.observationIDs.count == 6)
        let direct = try #require(byName["direct_request"])
        #expect(direct.totalCost == 0.000345 && direct.observationIDs.count == 2 && direct.trace.tenant == "acme")
        #expect(byName["refund_flow"]?.trace.tenant == "globex")

        let (_, observations, _) = try #require(try await env.database.trace(projectID: "proj-1", id: answer.trace.id))
        let types = Dictionary(grouping: observations, by: \.type).mapValues { $0.map { $0.name ?? "" }.sorted() }
        #expect(types[.generation] == ["ChatOpenAI", "ChatOpenAI", "plan_with_tools"])
        #expect(
            types[.tool] == ["lookup_plan"] && types[.retriever] == ["search_docs"]
                && types[.chain] == ["answer_question"])
        let chats = observations.filter { $0.name == "ChatOpenAI" }
        for chat in chats {
            #expect(chat.model == "gpt-4o-mini" && chat.responseModel == "gpt-4o-mini-2024-07-18")
            #expect(chat.usage == ["input": 1000, "input_cached_tokens": 200, "output": 300, "total": 1500])
            #expect(chat.cost["total"] == 0.000345 && chat.costSource == "inferred")
        }
        #expect(chats.filter { $0.completionStartTime != nil }.count == 1)  // the streamed one
        #expect(observations.first { $0.name == "lookup_plan" }?.model == nil)
        let (_, refund, _) = try #require(
            try await env.database.trace(projectID: "proj-1", id: byName["refund_flow"]!.trace.id))
        #expect(
            refund.allSatisfy {
                $0.level == .error && $0.statusMessage == "RuntimeError('card processor returned 503')"
            })
        let (_, directObs, _) = try #require(try await env.database.trace(projectID: "proj-1", id: direct.trace.id))
        let llm = try #require(directObs.first { $0.name == "direct_llm_call" })
        #expect(llm.parentObservationID == direct.trace.id && llm.endTime != nil && llm.model == "gpt-4o-mini")
    }

    @Test("wrong keys, damaged bodies and bombs are refused with a clear status; nothing half-stored")
    func refusals() async throws {
        let env = try await router.makeEnv { $0.maxDecodedBytes = 1_000_000 }
        try await env.app.test(.router) { client throws in
            let recorded = try Self.recorded()
            let zstdRequest = try #require(recorded.first { $0.headers[.contentEncoding] == "zstd" })
            var wrongKey = zstdRequest.headers
            wrongKey[.init("x-api-key")!] = "pk-lf-test:wrong"
            #expect(
                try await client.execute(
                    uri: zstdRequest.path, method: .post, headers: wrongKey, body: ByteBuffer(data: zstdRequest.body)
                ).status
                    == .unauthorized)
            wrongKey[.init("x-api-key")!] = "just-one-part"
            #expect(
                try await client.execute(
                    uri: zstdRequest.path, method: .post, headers: wrongKey, body: ByteBuffer(data: zstdRequest.body)
                ).status
                    == .unauthorized)
            // A cut zstd stream, garbage, a bomb over the decoded cap, a multipart body without its closing boundary.
            let cut = zstdRequest.body.prefix(zstdRequest.body.count / 2)
            for (body, expected) in [
                (Data(cut), HTTPResponse.Status.badRequest), (Data("not zstd at all".utf8), .badRequest),
            ] {
                let r = try await client.execute(
                    uri: zstdRequest.path, method: .post, headers: zstdRequest.headers, body: ByteBuffer(data: body))
                #expect(r.status == expected)
            }
            let plain = try #require(
                recorded.first { $0.path.hasSuffix("multipart") && $0.headers[.contentEncoding] == nil })
            let unclosed = plain.body.prefix(plain.body.count - 40)
            #expect(
                try await client.execute(
                    uri: plain.path, method: .post, headers: plain.headers, body: ByteBuffer(data: Data(unclosed))
                ).status
                    == .badRequest)
            var noBoundary = plain.headers
            noBoundary[.contentType] = "application/json"
            #expect(
                try await client.execute(
                    uri: plain.path, method: .post, headers: noBoundary, body: ByteBuffer(data: plain.body)
                ).status
                    == .unsupportedMediaType)
            // A run with usage past the limit is refused by id; its neighbour in the same batch is stored.
            let batch =
                #"{"post":[{"id":"ok-run","name":"a","run_type":"chain","start_time":"2026-11-30T06:21:53.226518+00:00"},{"id":"bad-run","name":"b","run_type":"llm","start_time":"2026-11-30T06:21:53.226518+00:00","outputs":{"usage_metadata":{"input_tokens":1e300,"output_tokens":1}}}]}"#
            var json = plain.headers
            json[.contentType] = "application/json"
            let r = try await client.execute(
                uri: "/api/langsmith/runs/batch", method: .post, headers: json, body: ByteBuffer(string: batch))
            #expect(r.status == .badRequest)
            #expect(String(buffer: r.body).contains("bad-run"))
            #expect(try await env.database.observation(projectID: "proj-1", id: "ok-run") != nil)
            #expect(try await env.database.observation(projectID: "proj-1", id: "bad-run") == nil)
        }
        // A bomb: 3 MB of zeros compress to a few hundred bytes; the cap is 1 MB.
        let bomb = try Self.zstdOfZeros(3_000_000)
        try await env.app.test(.router) { client throws in
            let r = try await client.execute(
                uri: "/api/langsmith/runs/multipart", method: .post,
                headers: [
                    .init("x-api-key")!: "pk-lf-test:sk-lf-test", .contentType: "multipart/form-data; boundary=x",
                    .contentEncoding: "zstd",
                ],
                body: ByteBuffer(data: bomb))
            #expect(r.status == .contentTooLarge)
        }
    }

    /// A zstd frame of `count` zero bytes, made by the `zstd` command when installed, else a handmade RLE frame.
    static func zstdOfZeros(_ count: Int) throws -> Data {
        // Frame: magic, header (single segment, 4-byte content size), one RLE block per 128 KiB.
        var frame = Data([0x28, 0xB5, 0x2F, 0xFD, 0xA0])
        withUnsafeBytes(of: UInt32(count).littleEndian) { frame.append(contentsOf: $0) }
        var left = count
        while left > 0 {
            let size = min(left, 128 * 1024)
            left -= size
            let header = UInt32(left == 0 ? 1 : 0) | (1 << 1) | (UInt32(size) << 3)  // last flag, RLE type, size
            withUnsafeBytes(of: header.littleEndian) { frame.append(contentsOf: $0.prefix(3)) }
            frame.append(0)
        }
        return frame
    }
}

@Suite("zstd decoding under random damage")
struct ZstdFuzzTests {
    @Test("flipped, cut and random zstd streams decode or fail cleanly, within the size cap")
    func damagedStreams() throws {
        let zstd = try #require(try LangSmithRouterTests.recorded().first { $0.headers[.contentEncoding] == "zstd" })
        let good = try #require(try Zstd.decode(zstd.body, maxSize: 1 << 20))
        #expect(good.count == 30_096)
        var state: UInt64 = 7
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1
            return Int((state >> 33) % UInt64(max(1, n)))
        }
        var failed = 0
        for round in 0..<500 {
            var bytes = [UInt8](zstd.body)
            switch round % 3 {
            case 0: bytes = Array(bytes.prefix(next(bytes.count)))
            case 1: for _ in 0..<1 + next(4) { bytes[next(bytes.count)] ^= UInt8(1 + next(255)) }
            default: bytes = (0..<next(3_000)).map { _ in UInt8(next(256)) }
            }
            do {
                if let out = try Zstd.decode(Data(bytes), maxSize: 40_000) { #expect(out.count <= 40_000) }
            } catch {
                failed += 1
            }
        }
        #expect(failed > 0)
    }
}
