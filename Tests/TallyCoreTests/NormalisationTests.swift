import Foundation
import Testing

@testable import TallyCore

@Suite("Normalisation rules")
struct NormalisationTests {
    @Test(
        "usage shapes become Langfuse usage keys",
        arguments: [
            (#"{"input":9,"unit":"TOKENS"}"#, "null", ["input": 9, "total": 9] as UsageDetails),
            (
                #"{"input":800,"output":120,"total":920,"unit":"TOKENS"}"#, "null",
                ["input": 800, "output": 120, "total": 920]
            ),
            (
                #"{"promptTokens":10,"completionTokens":5,"totalTokens":15}"#, "null",
                ["input": 10, "output": 5, "total": 15]
            ),
            (
                #"{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}"#, "null",
                ["input": 10, "output": 5, "total": 15]
            ),
            (
                "null",
                #"{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":30},"completion_tokens_details":{"reasoning_tokens":20}}"#,
                ["input": 70, "input_cached_tokens": 30, "output": 30, "output_reasoning_tokens": 20, "total": 150]
            ),
            (
                "null",
                #"{"input_tokens":100,"output_tokens":50,"total_tokens":150,"input_tokens_details":{"cached_tokens":120}}"#,
                ["input": 0, "input_cached_tokens": 120, "output": 50, "total": 150]
            ),
            (
                "null", #"{"input":5,"output":"7","weird":-1,"frac":1.5,"cache_read_input_tokens":2}"#,
                ["input": 5, "output": 7, "cache_read_input_tokens": 2, "total": 14]
            ),
            (
                #"{"input":4200,"output":380}"#, #"{"input":4200,"output":380,"cache_read_input_tokens":1000}"#,
                ["input": 4200, "output": 380, "cache_read_input_tokens": 1000, "total": 5580]
            ),
            ("{}", "{}", [:]),
        ])
    func usage(usage: String, details: String, expected: UsageDetails) throws {
        let result = try UsageNormaliser.normalise(
            usage: try JSONValue.parse(usage), usageDetails: try JSONValue.parse(details), costDetails: nil)
        #expect((result.usage ?? [:]) == expected)
    }

    @Test("legacy usage costs and costDetails: costDetails laid over, total derived when missing")
    func costs() throws {
        let r1 = try UsageNormaliser.normalise(
            usage: try JSONValue.parse(#"{"input":1,"inputCost":0.5,"outputCost":0.25}"#), usageDetails: nil,
            costDetails: try JSONValue.parse(#"{"output":0.125,"bad":-1}"#))
        #expect(r1.cost == ["input": 0.5, "output": 0.125, "total": 0.625])
        let r2 = try UsageNormaliser.normalise(
            usage: nil, usageDetails: nil, costDetails: try JSONValue.parse(#"{"total":2}"#))
        #expect(r2.cost == ["total": 2])
    }

    @Test(
        "environment names are normalised as Langfuse does",
        arguments: [
            (nil, "default"), ("production", "production"), ("PRODUCTION", "production"), ("langfuse-prod", "prod"),
            ("langfuse_langfuse-x", "x"), ("langfuse", "default"), ("has space", "default"), ("", "default"),
            (String(repeating: "a", count: 50), String(repeating: "a", count: 40)), ("stag_ing-2", "stag_ing-2"),
        ] as [(String?, String)])
    func environment(raw: String?, expected: String) {
        #expect(Environment.normalise(raw) == expected)
    }

    @Test("tenant comes from the first metadata key, else a tenant: tag; feature from metadata")
    func attribution() {
        let rules = AttributionRules.standard
        #expect(rules.tenant(metadata: ["tenant_id": "b", "tenantId": "a"], tags: ["tenant:c"]) == "a")
        #expect(rules.tenant(metadata: ["tenant": "z"], tags: []) == "z")
        #expect(rules.tenant(metadata: [:], tags: ["x", "tenant:c"]) == "c")
        #expect(rules.tenant(metadata: ["tenantId": ""], tags: ["tenant:"]) == nil)
        #expect(rules.tenant(metadata: ["tenantId": 42], tags: []) == "42")
        #expect(rules.feature(metadata: ["feature": "copilot"]) == "copilot")
        let custom = AttributionRules(tenantKeys: ["org"], featureKeys: ["product"])
        #expect(custom.tenant(metadata: ["org": "o1", "tenantId": "a"], tags: []) == "o1")
        #expect(custom.feature(metadata: ["product": "p", "feature": "f"]) == "p")
    }

    @Test(
        "ISO-8601 timestamps parse to microseconds",
        arguments: [
            ("2026-11-23T12:43:59.878756Z", "2026-11-23T12:43:59.878756Z"),
            ("2026-11-23T12:43:59Z", "2026-11-23T12:43:59.000000Z"),
            ("2026-11-23T14:43:59.5+02:00", "2026-11-23T12:43:59.500000Z"),
            ("2026-11-23T12:43:59.123456789Z", "2026-11-23T12:43:59.123456Z"),
            ("2026-11-23", "2026-11-23T00:00:00.000000Z"),
            ("1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"),
            ("2024-02-29T00:00:00-05:30", "2024-02-29T05:30:00.000000Z"),
        ])
    func timestamps(text: String, expected: String) throws {
        let t = try #require(Timestamp(iso8601: text))
        #expect(t.iso8601Micros == expected)
    }

    @Test(
        "malformed timestamps are rejected",
        arguments: [
            "", "yesterday", "2026-13-01T00:00:00Z", "2026-02-30", "2026-11-23T25:00:00Z", "2026-11-23T12:00:00Zjunk",
            "2026-11-23T12:00:00.",
        ])
    func badTimestamps(text: String) {
        #expect(Timestamp(iso8601: text) == nil)
    }

    @Test("JSON parses exactly and serialises compactly with sorted keys")
    func json() throws {
        let v = try JSONValue.parse(#" {"b": [1, 2.5, -0.001, 1e3, true, null], "a": "x\"\u00e9\ud83d\ude00\n"} "#)
        #expect(v == ["b": [1, 2.5, -0.001, 1000.0, true, nil], "a": "x\"é😀\n"])
        #expect(v.serialized() == #"{"a":"x\"é😀\n","b":[1,2.5,-0.001,1000.0,true,null]}"#)
        #expect(try JSONValue.parse("9223372036854775807") == .int(Int64.max))
        #expect(try JSONValue.parse("9223372036854775808") == .double(9223372036854775808))
        for bad in [
            "{", "[1,]", "{\"a\" 1}", "01", "\"\u{01}\"", "tru", "1 2", "{'a':1}",
            String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
        ] {
            #expect(throws: JSONValueError.self, "\(bad.prefix(20))") { try JSONValue.parse(bad) }
        }
    }
}

@Suite("Exact cost totals")
struct DecimalSumTests {
    @Test("a total the client did not give is the decimal sum of its cost keys, not the binary one")
    func decimalSum() {
        #expect(0.000115 + 0.00023 != 0.000345)  // what binary addition gives
        #expect(NumericLimits.decimalSum([0.000115, 0.00023]) == 0.000345)
        #expect(NumericLimits.decimalSum([0.1, 0.2]) == 0.3)
        #expect(NumericLimits.decimalSum([1e-05, 2.5e-07]) == 0.00001025)
        #expect(NumericLimits.decimalSum([]) == 0)
        #expect(NumericLimits.decimalSum([999_999.999999, 0.000001]) == 1_000_000)
    }
}
