import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

@Suite("Cursor lists: GET /v2/observations and /v3/scores")
struct CursorListTests {
    let router = RouterTests()

    /// Three traces (two in session s1, user u1), nine observations; o3 and o4 share a start time (the cursor must
    /// break the tie by id); each trace has one root.
    static let batch: String = {
        var events: [String] = []
        for t in 1...3 {
            events.append(
                """
                {"id":"et\(t)","type":"trace-create","timestamp":"2026-11-23T10:00:00Z","body":{"id":"t\(t)",
                 "name":"chat \(t)","userId":"u\(t == 3 ? 2 : 1)","sessionId":"s\(t == 3 ? 2 : 1)","tags":["x","t\(t)"],
                 "release":"r1","metadata":{"tenantId":"acme"}}}
                """)
        }
        for n in 1...9 {
            let trace = (n - 1) / 3 + 1
            let second = n == 4 ? 3 : n  // o3 and o4 start at the same second
            let parent = (n - 1) % 3 == 0 ? "null" : "\"o\((trace - 1) * 3 + 1)\""
            events.append(
                """
                {"id":"eo\(n)","type":"generation-create","timestamp":"2026-11-23T10:00:0\(second)Z","body":{
                 "id":"o\(n)","traceId":"t\(trace)","parentObservationId":\(parent),"name":"gen \(n % 2)",
                 "startTime":"2026-11-23T10:00:0\(second)Z","endTime":"2026-11-23T10:00:0\(second).500Z",
                 "model":"gpt-4o-mini","usage":{"input":\(n * 100),"output":10},
                 "input":{"q":"\(String(repeating: "long ", count: n == 9 ? 60 : 1))"},"metadata":{"note":"\(String(repeating: "m", count: n == 9 ? 300 : 3))"}}}
                """)
        }
        return #"{"batch":["# + events.joined(separator: ",") + "]}"
    }()

    /// The ids of every page of two, following `meta.cursor` (at most 10 pages); each page answers 200.
    static func walk(
        _ get: (String) async throws -> (HTTPResponse.Status, [String: JSONValue]),
        _ ids: ([String: JSONValue]) -> [String]
    ) async throws -> [String] {
        var seen: [String] = []
        var cursor: String?
        for _ in 0..<10 {
            let (status, body) = try await get("limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(status == .ok)
            seen += ids(body)
            cursor = body["meta"]?.objectValue?["cursor"]?.stringValue
            if cursor == nil { break }
        }
        return seen
    }

    @Test("observations page by cursor newest first, ties by id, with the field groups and filters asked for")
    func observations() async throws {
        let env = try await router.makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        try await env.app.test(.router) { client throws in
            let ingest = try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: h, body: ByteBuffer(string: Self.batch))
            #expect(ingest.status.code == 207)
            func get(_ query: String) async throws -> (HTTPResponse.Status, [String: JSONValue]) {
                let r = try await client.execute(uri: "/api/public/v2/observations?\(query)", method: .get, headers: h)
                return (r.status, try JSONValue.parse(Data(buffer: r.body)).objectValue ?? [:])
            }
            func ids(_ body: [String: JSONValue]) -> [String] {
                (body["data"]?.arrayValue ?? []).compactMap { $0.objectValue?["id"]?.stringValue }
            }
            // All pages of two: every observation once, newest first; o4 before o3 (same start, id descending).
            #expect(try await Self.walk(get, ids) == ["o9", "o8", "o7", "o6", "o5", "o4", "o3", "o2", "o1"])

            // Default groups: core and basic, prices present but null; no io, usage or model.
            let (_, first) = try await get("limit=1")
            let item = try #require(first["data"]?.arrayValue?.first?.objectValue)
            #expect(item["userId"] == "u2" && item["sessionId"] == "s2" && item["isRootObservation"] == false)
            #expect(item["modelId"] == .null && item["inputPrice"] == .null && item["input"] == nil)
            #expect(item["usageDetails"] == nil && item["projectId"] == "proj-1")
            let (_, full) = try await get(
                "limit=1&fields=core,io,model,usage,metadata,trace_context,metrics,time,prompt")
            let o9 = try #require(full["data"]?.arrayValue?.first?.objectValue)
            #expect(o9["input"]?.stringValue?.hasPrefix(#"{"q":"long long"#) == true)  // raw JSON text
            #expect(o9["inputPrice"] == "0.00000015" && o9["outputPrice"] == "0.0000006")
            #expect(o9["modelId"] == "gpt-4o-mini" && o9["usageDetails"]?.objectValue?["input"] == 900)
            #expect(o9["metadata"]?.objectValue?["note"]?.stringValue?.count == 200)
            #expect(o9["traceName"] == "chat 3" && o9["tags"] == ["t3", "x"] && o9["latency"] == 0.5)
            #expect(o9["name"] == nil)  // basic was not asked for
            let (_, expanded) = try await get("limit=1&fields=metadata&expandMetadata=note")
            #expect(
                expanded["data"]?.arrayValue?.first?.objectValue?["metadata"]?.objectValue?["note"]?.stringValue?.count
                    == 300)

            // Filters: session, user, roots, children of a parent, trace, name and Langfuse's filter JSON.
            #expect(ids(try await get("sessionId=s1").1).count == 6)
            #expect(ids(try await get("userId=u2").1) == ["o9", "o8", "o7"])
            #expect(ids(try await get("isRootObservation=true").1) == ["o7", "o4", "o1"])
            #expect(ids(try await get("parentObservationId=").1) == ["o7", "o4", "o1"])
            #expect(ids(try await get("parentObservationId=o1").1) == ["o3", "o2"])
            #expect(ids(try await get("name=gen+1&traceId=t1").1) == ["o3", "o1"])
            let filter =
                #"[{"type":"number","column":"inputTokens","operator":">=","value":500},"#
                + #"{"type":"stringOptions","column":"traceName","operator":"any of","value":["chat 2"]}]"#
            #expect(
                ids(try await get("filter=" + filter.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!).1)
                    == ["o6", "o5"])

            // Refusals name the parameter.
            for bad in [
                "fields=core,everything", "cursor=bm90LWEtY3Vyc29y", "limit=1001", "parseIoAsJson=true",
                "isRootObservation=maybe", "filter=%5B%7B%7D%5D", "filter=nope", "type=LLM",
            ] {
                let (status, body) = try await get(bad)
                #expect(status == .badRequest, "\(bad)")
                #expect(body["message"]?.stringValue?.isEmpty == false, "\(bad)")
            }
            // v1 keeps its page/limit shape and is unaffected.
            let v1 = try await client.execute(uri: "/api/public/observations?limit=5", method: .get, headers: h)
            #expect(try JSONValue.parse(Data(buffer: v1.body)).objectValue?["meta"]?.objectValue?["totalItems"] == 9)
        }
    }

    @Test("scores page by cursor with typed values, subjects and comma-list filters")
    func scores() async throws {
        let env = try await router.makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        try await env.app.test(.router) { client throws in
            _ = try await client.execute(
                uri: "/api/public/ingestion", method: .post, headers: h, body: ByteBuffer(string: Self.batch))
            let scores: [String] = [
                #"{"id":"s1","traceId":"t1","name":"quality","value":0.9,"timestamp":"2026-11-23T10:01:00Z"}"#,
                #"{"id":"s2","traceId":"t1","observationId":"o2","name":"quality","value":0.2,"timestamp":"2026-11-23T10:02:00Z"}"#,
                #"{"id":"s3","sessionId":"s1","name":"resolved","value":1,"dataType":"BOOLEAN","timestamp":"2026-11-23T10:03:00Z"}"#,
                #"{"id":"s4","traceId":"t2","name":"tone","value":"friendly","dataType":"CATEGORICAL","timestamp":"2026-11-23T10:04:00Z"}"#,
                #"{"id":"s5","traceId":"t3","name":"quality","value":0.5,"timestamp":"2026-11-23T10:04:00Z"}"#,
            ]
            for body in scores {
                let r = try await client.execute(
                    uri: "/api/public/scores", method: .post, headers: h, body: ByteBuffer(string: body))
                #expect(r.status == .ok)
            }
            func get(_ query: String) async throws -> (HTTPResponse.Status, [String: JSONValue]) {
                let r = try await client.execute(uri: "/api/public/v3/scores?\(query)", method: .get, headers: h)
                return (r.status, try JSONValue.parse(Data(buffer: r.body)).objectValue ?? [:])
            }
            func ids(_ body: [String: JSONValue]) -> [String] {
                (body["data"]?.arrayValue ?? []).compactMap { $0.objectValue?["id"]?.stringValue }
            }
            #expect(try await Self.walk(get, ids) == ["s5", "s4", "s3", "s2", "s1"])
            #expect(try await get("limit=2").1["meta"]?.objectValue?["limit"] == 2)
            let (_, all) = try await get("limit=10")
            let byID = Dictionary(
                uniqueKeysWithValues: (all["data"]?.arrayValue ?? []).compactMap(\.objectValue).map {
                    ($0["id"]?.stringValue ?? "", $0)
                })
            #expect(byID["s3"]?["value"] == true && byID["s3"]?["subject"] == ["kind": "session", "id": "s1"])
            #expect(byID["s4"]?["value"] == "friendly" && byID["s4"]?["dataType"] == "CATEGORICAL")
            #expect(byID["s2"]?["subject"] == ["kind": "observation", "id": "o2", "traceId": "t1"])
            #expect(byID["s1"]?["value"] == 0.9 && byID["s1"]?["subject"] == ["kind": "trace", "id": "t1"])
            #expect(ids(try await get("name=quality,tone&valueMin=0.4").1) == ["s5", "s1"])
            #expect(ids(try await get("dataType=BOOLEAN,CATEGORICAL").1) == ["s4", "s3"])
            #expect(ids(try await get("traceId=t1&observationId=o2").1) == ["s2"])
            #expect(ids(try await get("value=friendly").1) == ["s4"])
            #expect(ids(try await get("authorUserId=someone").1).isEmpty)
            #expect(
                ids(try await get("fromTimestamp=2026-11-23T10:02:00Z&toTimestamp=2026-11-23T10:04:00Z").1) == [
                    "s3", "s2",
                ])
            for bad in ["limit=101", "dataType=NUMBER", "source=HUMAN", "cursor=abc", "valueMin=x"] {
                #expect(try await get(bad).0 == .badRequest, "\(bad)")
            }
        }
    }
}
