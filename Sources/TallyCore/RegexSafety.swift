/// Keeps user-supplied model patterns out of catastrophic backtracking. ICU (behind NSRegularExpression) is a
/// backtracking engine without a time limit, so the guard is on the pattern: a repetition other than `?` may not
/// apply to a group that itself repeats or alternates (`(a+)+`, `(a|aa)*`, `(\w+\s?){2,}`: exponential), at most
/// three unbounded repetitions in all (`\d*\d*\d*…`: polynomial), no backreferences, and at most 500 characters.
/// Every built-in pattern passes. Text matched against patterns is capped too (`PatternCache.maxSubjectLength`).
public enum RegexSafety {
    public static let maxPatternLength = 500
    public static let maxUnboundedRepetitions = 3

    /// nil when `pattern` is safe to run on any model name; else why not.
    public static func problem(_ pattern: String) -> String? {
        guard pattern.count <= maxPatternLength else { return "longer than \(maxPatternLength) characters" }
        let chars = Array(pattern)
        // One frame per open group: whether something inside repeats or alternates.
        var stack: [(repeats: Bool, alternates: Bool)] = [(false, false)]
        var lastGroup: (repeats: Bool, alternates: Bool)?  // the group that just closed, if the last atom was one
        var unbounded = 0
        var inClass = false
        var i = 0
        func markRepeat() {
            for k in stack.indices { stack[k].repeats = true }
        }
        while i < chars.count {
            let c = chars[i]
            if c == "\\" {
                if i + 1 < chars.count, let d = chars[i + 1].wholeNumberValue, d > 0, !inClass {
                    return "backreferences (\\\(d)) are not allowed"
                }
                if i + 1 < chars.count, chars[i + 1] == "k", !inClass { return "named backreferences are not allowed" }
                i += 2
                lastGroup = nil
                continue
            }
            if inClass {
                if c == "]" { inClass = false }
                i += 1
                continue
            }
            var quantifier: (bounded: Bool, isOptional: Bool)?
            var length = 1
            switch c {
            case "[":
                inClass = true
                if i + 1 < chars.count, chars[i + 1] == "]" { i += 1 }  // a leading ] is literal
                lastGroup = nil
            case "(":
                stack.append((false, false))
                lastGroup = nil
            case ")":
                guard stack.count > 1, let frame = stack.popLast() else { return "unbalanced parentheses" }
                lastGroup = frame
                i += 1
                continue
            case "|":
                stack[stack.count - 1].alternates = true
                lastGroup = nil
            case "*", "+":
                quantifier = (false, false)
            case "?":
                quantifier = (true, true)
            case "{":
                var j = i + 1
                while j < chars.count, chars[j] != "}" { j += 1 }
                let body = j < chars.count ? String(chars[(i + 1)..<j]) : ""
                let parts = body.split(separator: ",", omittingEmptySubsequences: false)
                if j < chars.count, (1...2).contains(parts.count), parts.allSatisfy({ $0.allSatisfy(\.isNumber) }),
                    !parts[0].isEmpty
                {
                    let upperBounded = parts.count == 1 || !parts[1].isEmpty
                    quantifier = (upperBounded, parts.count == 2 && parts[0] == "0" && parts[1] == "1")
                    length = j - i + 1
                } else {
                    lastGroup = nil
                }
            default:
                lastGroup = nil
            }
            if let q = quantifier {
                // A lazy or possessive suffix (`+?`, `*+`) belongs to this quantifier.
                if i + length < chars.count, chars[i + length] == "?" || chars[i + length] == "+" { length += 1 }
                if let group = lastGroup, !q.isOptional, group.repeats || group.alternates {
                    return "a repeated group may not itself repeat or alternate (nested quantifiers backtrack "
                        + "exponentially)"
                }
                if !q.bounded {
                    unbounded += 1
                    if unbounded > maxUnboundedRepetitions {
                        return "more than \(maxUnboundedRepetitions) unbounded repetitions (*, +, {n,})"
                    }
                }
                if !q.isOptional { markRepeat() }
                lastGroup = nil
            }
            i += length
        }
        guard stack.count == 1 else { return "unbalanced parentheses" }
        return nil
    }
}
