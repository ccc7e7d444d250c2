import Foundation

/// The valid range of every number Tally stores or sums. The bounds sit far above any real LLM call (the largest
/// context windows are ~10^7 tokens, the dearest single calls ~10^3 USD) and far enough below Int64 that every
/// per-observation figure, and every sum a rollup or query makes of them, fits with room to spare. A value outside
/// a range is refused for its event (400, or a span in `partial_success`) with a message naming the field; it is
/// never clamped, never stored, and never reaches arithmetic that could trap.
public enum NumericLimits {
    /// Units of one usage key of one observation (tokens, characters, images, ms): 0…10^12.
    public static let maxUnits: Int64 = 1_000_000_000_000
    /// Usage keys, and cost keys, of one observation.
    public static let maxKeys = 100
    /// USD of one cost key, and of one observation's total cost (given or inferred): 0…10^6.
    public static let maxCostUSD: Double = 1_000_000
    /// `maxCostUSD` in nano-USD.
    public static let maxCostNanos: Int64 = 1_000_000_000_000_000
    /// Magnitude of a numeric score value: |v| ≤ 10^15 and finite (sums over any number of rows stay finite).
    public static let maxScoreMagnitude: Double = 1e15
    /// A model price in USD per unit: 0…1 (exclusive), so prices are integer pico-USD below 10^12.
    public static let maxPriceUSD: Double = 1
    /// A usage-tier threshold in units (`value` of a usage condition), and a tier priority.
    public static let maxTierValue: Double = 1e15
    public static let maxTierPriority = 1_000_000

    /// `v` as a count of units if it is a whole number in 0…`maxUnits` (numeric strings too); nil for values
    /// that are not counts at all (negative, fractional, text).
    /// Throws `RangeError` for a whole number above `maxUnits`, so a caller can name the field.
    public static func units(_ v: JSONValue?) throws(RangeError) -> Int64? {
        let n: Int64
        switch v {
        case .int(let i)?:
            guard i >= 0 else { return nil }
            n = i
        case .double(let d)?:
            guard d >= 0, d == d.rounded() else { return nil }
            guard d <= Double(maxUnits) else { throw RangeError(found: JSONValue.double(d).serialized()) }
            n = Int64(d)
        case .string(let s)?:
            if let i = Int64(s) {
                guard i >= 0 else { return nil }
                n = i
            } else if !s.isEmpty, s.allSatisfy(\.isNumber) {
                throw RangeError(found: String(s.prefix(40)))  // digits past Int64
            } else {
                return nil
            }
        default:
            return nil
        }
        guard n <= maxUnits else { throw RangeError(found: String(n)) }
        return n
    }

    /// `usd` if it is a finite cost in 0…`maxCostUSD`; throws otherwise.
    public static func cost(_ usd: Double) throws(RangeError) -> Double {
        guard usd.isFinite, usd >= 0, usd <= maxCostUSD else {
            throw RangeError(found: JSONValue.double(usd).serialized())
        }
        return usd
    }

    /// Why a number was refused: what was found, for the message that names the field.
    public struct RangeError: Error, Sendable, Hashable {
        public var found: String
    }

    /// Phrases for messages: "expected a whole number of units in 0…1000000000000".
    public static let unitsRange = "a whole number of units in 0…\(maxUnits)"
    public static let costRange = "a cost in USD in 0…\(Int64(maxCostUSD))"
}

extension Sequence where Element == Int64 {
    /// The exact sum, or nil when it leaves Int64 (never traps).
    public func checkedSum() -> Int64? {
        var total: Int64 = 0
        for v in self {
            let (s, overflow) = total.addingReportingOverflow(v)
            if overflow { return nil }
            total = s
        }
        return total
    }

    /// The sum clamped to Int64's range (for comparisons on values that may predate validation).
    public func saturatingSum() -> Int64 {
        var total: Int64 = 0
        for v in self { total = total.addingSaturating(v) }
        return total
    }
}

extension Int64 {
    /// `self + other`, clamped to Int64's range instead of trapping.
    public func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self - other`, clamped to Int64's range instead of trapping.
    public func subtractingSaturating(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }

    /// `self += other`, clamped as `addingSaturating`.
    public mutating func addSaturating(_ other: Int64) { self = addingSaturating(other) }
}

extension NumericLimits {
    /// The sum of USD amounts as their decimal spellings add up (`0.000115 + 0.00023` is `0.000345`, where binary
    /// floating point gives `0.00034500000000000004`): each value is read as its shortest round-trip decimal, summed
    /// exactly, and the result read back as the nearest Double. For a cost total the client did not give.
    public static func decimalSum(_ values: some Sequence<Double>) -> Double {
        var total = Decimal()
        for v in values {
            guard let d = Decimal(string: String(v), locale: Locale(identifier: "en_US_POSIX")) else {
                return values.reduce(0, +)
            }
            total += d
        }
        return Double(NSDecimalNumber(decimal: total).stringValue) ?? values.reduce(0, +)
    }
}
