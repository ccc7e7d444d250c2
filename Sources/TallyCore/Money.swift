/// Money has one set of units in Tally, and every conversion between them is here. Amounts (costs, budgets, savings,
/// invoices) are integer nano-USD (`Int64`, 10^-9 USD) wherever they are stored, summed or compared — sums are
/// exact and checked; prices are integer pico-USD per unit (`Picos`, 10^-12 USD), so a price times a token count
/// is exact before it is rounded to nano-USD once. `Double` USD exists only at the edges: JSON a client sends and
/// JSON an API answers. Exact decimal strings (billing exports, prices) are built from the integers, never from a
/// `Double`.
public enum Money {
    public static let nanosPerUSD: Int64 = 1_000_000_000
    public static let picosPerUSD: Int64 = 1_000_000_000_000

    /// nano-USD as a JSON number of USD.
    public static func usd(nanos: Int64) -> Double { Double(nanos) / 1e9 }

    /// pico-USD (a price per unit) as a JSON number of USD.
    public static func usd(picos: Picos) -> Double { Double(picos) / 1e12 }

    /// USD → nano-USD, rounded half away from zero. Exact for every amount with ≤ 9 decimal places. Amounts are
    /// range-checked before a write (`Observation.checkLimits`); anything else is clamped here rather than trapping
    /// (+∞ → .max, −∞ and NaN → 0, finite values past Int64 → .max or .min).
    public static func nanos(usd: Double) -> Int64 {
        let n = (usd * 1e9).rounded()
        guard n.isFinite else { return n > 0 ? .max : 0 }
        return Int64(exactly: n) ?? (n > 0 ? .max : .min)
    }

    /// USD per unit → pico-USD per unit, exact for prices with up to 12 decimal places (prices are range-checked,
    /// 0…1 USD, before they get here).
    public static func picos(usd: Double) -> Picos { Picos((usd * 1e12).rounded()) }

    /// The exact decimal of `nanos` with nine places ("0.000512000"), as billing systems take money.
    public static func decimal(nanos: Int64) -> String {
        let magnitude = nanos.magnitude
        let fraction = String(magnitude % UInt64(nanosPerUSD))
        return (nanos < 0 ? "-" : "") + String(magnitude / UInt64(nanosPerUSD)) + "."
            + String(repeating: "0", count: 9 - fraction.count) + fraction
    }

    /// `decimal(nanos:)` without trailing zeros (nor a bare point): 1_500_000_000 → "1.5", 0 → "0".
    public static func shortDecimal(nanos: Int64) -> String {
        var text = decimal(nanos: nanos)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// The exact decimal of a non-negative price in pico-USD, without trailing zeros ("0.00000015").
    public static func decimal(picos: Picos) -> String {
        let whole = picos / picosPerUSD
        var fraction = String(picos % picosPerUSD)
        fraction = String(repeating: "0", count: 12 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return fraction.isEmpty ? "\(whole)" : "\(whole).\(fraction)"
    }
}
