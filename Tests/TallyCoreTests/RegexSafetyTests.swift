import Foundation
import Testing

@testable import TallyCore

@Suite("Model pattern safety")
struct RegexSafetyTests {
    @Test("every built-in pattern passes the safety rules")
    func builtinsPass() {
        #expect(BuiltinPrices.models.count > 40)
        for model in BuiltinPrices.models {
            #expect(RegexSafety.problem(model.matchPattern) == nil, "\(model.id): \(model.matchPattern)")
        }
    }

    @Test("nested and alternating repetitions, too many unbounded ones, backreferences and huge patterns are refused")
    func hostileRefused() {
        for pattern in [
            "(a+)+$", "(a*)*", "(a|aa)*$", "(?:a+)+", "((ab)+)+", "(\\w+\\s?){2,}", "(x+x+)+y", "(a{2})+",
            "\\d*\\d*\\d*\\d*x", "(a)\\1", "(?<n>a)\\k<n>", String(repeating: "a", count: 501), "(a", "a)",
        ] {
            #expect(RegexSafety.problem(pattern) != nil, "\(pattern)")
        }
    }

    @Test("ordinary patterns pass: optional groups, bounded counts, classes, escapes, (?i)")
    func ordinaryPass() {
        for pattern in [
            "(?i)^(openai/)?gpt-4o(-\\d{4}-\\d{2}-\\d{2})?$", "^my-model$", "(ab)*", "[a+]+", "a{2,5}b+",
            "(?:x|y)?z", "\\(a+\\)+", "^(a|b)?(c|d)?$",
        ] {
            #expect(RegexSafety.problem(pattern) == nil, "\(pattern)")
        }
    }

    @Test("a hostile pattern is refused as a model; matching skips names longer than 256 bytes")
    func modelRefusesHostile() throws {
        let json: JSONValue = ["id": "evil", "matchPattern": "(a+)+$", "prices": ["input": 1e-6]]
        #expect(throws: PriceTableError.self) { try ModelPrice(json: json, projectID: "p") }
        let long = String(repeating: "a", count: 300)
        #expect(!PatternCache.shared.matchesWhole("a+", long))
        #expect(PatternCache.shared.matchesWhole("a+", "aaa"))
    }
}
