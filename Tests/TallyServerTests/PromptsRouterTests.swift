import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TallyCore
import TallyStore
import TallyStoreAPI
import Testing

@testable import TallyServer

@Suite("Prompt management: /api/public/v2/prompts")
struct PromptsRouterTests {
    let router = RouterTests()

    typealias Call = (HTTPRequest.Method, String, String?) async throws -> (HTTPResponse.Status, [String: JSONValue])

    /// Runs `body` against a fresh server; `call(method, path after /api/public/v2/prompts, JSON body or nil)`.
    func withPromptAPI(_ body: @escaping @Sendable (Call) async throws -> Void) async throws {
        let env = try await router.makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        try await env.app.test(.router) { client throws in
            try await body { method, path, text in
                let r = try await client.execute(
                    uri: "/api/public/v2/prompts\(path)", method: method, headers: h,
                    body: text.map { ByteBuffer(string: $0) })
                return (r.status, (try? JSONValue.parse(Data(buffer: r.body)))?.objectValue ?? [:])
            }
        }
    }

    @Test("versions number up, labels move, latest follows the highest version, tags belong to the name")
    func versionsAndLabels() async throws {
        try await withPromptAPI { call in
            let name = "support%2Fanswer"  // the folder separator, encoded as the SDKs do
            var (status, v1) = try await call(
                .post, "",
                #"{"name":"support/answer","prompt":"Answer {{q}}","labels":["production"],"tags":["cs"],"config":{"temperature":0.2},"commitMessage":"first"}"#
            )
            #expect(status == .created)
            #expect(v1["version"] == 1 && v1["type"] == "text" && v1["labels"] == ["latest", "production"])
            #expect(v1["config"] == ["temperature": 0.2] && v1["commitMessage"] == "first")
            (status, _) = try await call(
                .post, "", #"{"name":"support/answer","prompt":"Answer {{q}} briefly","labels":["staging"]}"#)
            #expect(status == .created)
            // Default read: production (v1); by label, by version, latest.
            #expect(try await call(.get, "/\(name)", nil).1["version"] == 1)
            #expect(try await call(.get, "/\(name)?label=staging", nil).1["prompt"] == "Answer {{q}} briefly")
            #expect(try await call(.get, "/\(name)?label=latest", nil).1["version"] == 2)
            let v2 = try await call(.get, "/\(name)?version=2", nil).1
            #expect(v2["labels"] == ["latest", "staging"] && v2["tags"] == ["cs"])  // tags kept from the name
            // Moving production to v2 takes it off v1; v2 keeps staging.
            (status, _) = try await call(.patch, "/\(name)/versions/2", #"{"newLabels":["production"]}"#)
            #expect(status == .ok)
            #expect(try await call(.get, "/\(name)", nil).1["labels"] == ["latest", "production", "staging"])
            #expect(try await call(.get, "/\(name)?version=1", nil).1["labels"] == [])
            // The 2.x SDK sends the folder separator raw: the rest of the path is the name.
            #expect(try await call(.get, "/support/answer?version=1", nil).1["name"] == "support/answer")
            #expect(try await call(.patch, "/support/answer/versions/1", #"{"newLabels":["old"]}"#).0 == .ok)
            #expect(try await call(.get, "/support/answer?label=old", nil).1["version"] == 1)
            // New tags replace the name's on every version.
            _ = try await call(.post, "", #"{"name":"support/answer","prompt":"v3","tags":["cs","new"]}"#)
            #expect(try await call(.get, "/\(name)?version=1", nil).1["tags"] == ["cs", "new"])

            // A chat prompt with a placeholder; a text version of a chat name is refused.
            (status, _) = try await call(
                .post, "",
                #"{"name":"chatty","type":"chat","prompt":[{"role":"system","content":"You are {{who}}"},{"type":"placeholder","name":"history"}]}"#
            )
            #expect(status == .created)
            #expect(try await call(.post, "", #"{"name":"chatty","prompt":"text now"}"#).0 == .badRequest)

            // Lists: by name, label and tag; versions and labels of the passing versions.
            let (_, all) = try await call(.get, "?limit=10", nil)
            #expect(all["meta"]?.objectValue?["totalItems"] == 2)
            let support = all["data"]?.arrayValue?.last?.objectValue
            #expect(
                support?["versions"] == [1, 2, 3] && support?["labels"] == ["latest", "old", "production", "staging"])
            #expect(try await call(.get, "?label=staging", nil).1["data"]?.arrayValue?.count == 1)
            #expect(
                try await call(.get, "?tag=new", nil).1["data"]?.arrayValue?.first?.objectValue?["name"]
                    == "support/answer")
            #expect(try await call(.get, "?label=nope", nil).1["data"] == [])

            // Deletes: by label, by version, then the rest; the next version numbers after the highest left.
            #expect(try await call(.delete, "/\(name)?label=latest", nil).0 == .noContent)
            #expect(try await call(.get, "/\(name)?label=latest", nil).1["version"] == 2)
            _ = try await call(.post, "", #"{"name":"support/answer","prompt":"again"}"#)
            #expect(try await call(.get, "/\(name)?label=latest", nil).1["version"] == 3)
            #expect(try await call(.delete, "/\(name)?version=1", nil).0 == .noContent)
            #expect(try await call(.delete, "/\(name)?version=1", nil).0 == .notFound)
            #expect(try await call(.delete, "/\(name)", nil).0 == .noContent)
            let (missing, body) = try await call(.get, "/\(name)", nil)
            #expect(missing == .notFound && body["message"]?.stringValue?.hasPrefix("Prompt not found") == true)
        }
    }

    @Test("references to other text prompts resolve on read (resolve=false keeps the tags); bad references refused")
    func composition() async throws {
        try await withPromptAPI { call in
            _ = try await call(.post, "", #"{"name":"tone","prompt":"Be brief.","labels":["production"]}"#)
            _ = try await call(.post, "", #"{"name":"tone","prompt":"Be very brief."}"#)
            _ = try await call(
                .post, "",
                #"{"name":"intro","prompt":"You are Tally's helper. @@@langfusePrompt:name=tone|label=production@@@","labels":["production"]}"#
            )
            let (status, _) = try await call(
                .post, "",
                #"{"name":"chat","type":"chat","labels":["production"],"prompt":[{"role":"system","content":"@@@langfusePrompt:name=intro|label=production@@@ Answer {{q}}. @@@langfusePrompt:name=tone|version=2@@@"},{"role":"user","content":"{{q}}"}]}"#
            )
            #expect(status == .created)
            let (_, chat) = try await call(.get, "/chat", nil)
            #expect(
                chat["prompt"]?.arrayValue?.first?.objectValue?["content"]
                    == "You are Tally's helper. Be brief. Answer {{q}}. Be very brief.")
            let graph = chat["resolutionGraph"]?.objectValue
            #expect(graph?["root"] == ["name": "chat", "version": 1])
            #expect(graph?["dependencies"]?.objectValue?["intro@1"] == [["name": "tone", "version": 1]])
            let (_, raw) = try await call(.get, "/chat?resolve=false", nil)
            #expect(
                raw["prompt"]?.arrayValue?.first?.objectValue?["content"]?.stringValue?.hasPrefix("@@@langfusePrompt:")
                    == true)
            #expect(raw["resolutionGraph"] == .null)
            // Missing, chat or malformed references are refused when the version is created.
            for body in [
                #"{"name":"x","prompt":"@@@langfusePrompt:name=nope|label=production@@@"}"#,
                #"{"name":"x","prompt":"@@@langfusePrompt:name=chat|version=1@@@"}"#,
                #"{"name":"x","prompt":"@@@langfusePrompt:name=tone@@@"}"#,
                #"{"name":"x","prompt":"@@@langfusePrompt:name=tone|version=1"}"#,
            ] {
                #expect(try await call(.post, "", body).0 == .badRequest, "\(body)")
            }
        }
    }

    @Test("bad prompt requests are 400s naming the field")
    func refusals() async throws {
        let env = try await router.makeEnv()
        let h: HTTPFields = [.authorization: env.auth, .contentType: "application/json"]
        try await env.app.test(.router) { client throws in
            let bodies = [
                #"{"prompt":"no name"}"#,
                #"{"name":"a","prompt":"x","labels":["latest"]}"#,
                #"{"name":"a","prompt":"x","labels":["Prod"]}"#,
                #"{"name":"a","prompt":["not text"],"type":"text"}"#,
                #"{"name":"a","prompt":[{"role":"user"}],"type":"chat"}"#,
                #"{"name":"a","prompt":"x","type":"image"}"#,
                #"{"name":"a","prompt":"x","colour":"red"}"#,
                #"{"name":"","prompt":"x"}"#,
                #"[1]"#,
            ]
            for body in bodies {
                let r = try await client.execute(
                    uri: "/api/public/v2/prompts", method: .post, headers: h, body: ByteBuffer(string: body))
                #expect(r.status == .badRequest, "\(body)")
            }
            _ = try await client.execute(
                uri: "/api/public/v2/prompts", method: .post, headers: h,
                body: ByteBuffer(string: #"{"name":"a","prompt":"x"}"#))
            for (method, uri, body) in [
                (HTTPRequest.Method.get, "/api/public/v2/prompts/a?version=1&label=production", nil),
                (.get, "/api/public/v2/prompts/a?version=zero", nil),
                (.patch, "/api/public/v2/prompts/a/versions/1", #"{"newLabels":["latest"]}"#),
                (.patch, "/api/public/v2/prompts/a/versions/x", #"{"newLabels":["prod"]}"#),
                (.patch, "/api/public/v2/prompts/a/versions/1", #"{"labels":["prod"]}"#),
            ] as [(HTTPRequest.Method, String, String?)] {
                let r = try await client.execute(
                    uri: uri, method: method, headers: h, body: body.map { ByteBuffer(string: $0) })
                #expect(r.status == .badRequest, "\(method) \(uri)")
            }
            let missing = try await client.execute(
                uri: "/api/public/v2/prompts/a/versions/9", method: .patch, headers: h,
                body: ByteBuffer(string: #"{"newLabels":["prod"]}"#))
            #expect(missing.status == .notFound)
        }
    }
}
