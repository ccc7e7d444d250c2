import Foundation
import TallyCore

/// Writes metric families in the Prometheus text format 0.0.4 or OpenMetrics 1.0, for the families whose values
/// /metrics reads from the store at each scrape (the model-call counters and the store's gauges). The live process
/// instruments live in swift-prometheus (`ServerMetrics`); its output is folded in by `append(registryText:)`.
///
/// Why not swift-prometheus for these too: its instruments are objects fed one observation at a time, so a
/// histogram cannot be set from stored bucket counts, and a scrape of 10^5 series would allocate an object per
/// series per scrape; it also writes only the 0.0.4 format.
struct Exposition {
    enum Format: Sendable {
        case prometheus, openMetrics

        var contentType: String {
            switch self {
            case .prometheus: "text/plain; version=0.0.4; charset=utf-8"
            case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
        }

        /// OpenMetrics when the `Accept` header lists it (Prometheus does, first), else the 0.0.4 text format.
        static func negotiate(accept: String?) -> Format {
            guard let accept else { return .prometheus }
            let offered = accept.split(separator: ",").compactMap { part -> (String, Double)? in
                let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard let type = fields.first?.lowercased() else { return nil }
                let q = fields.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
                return (type, q)
            }
            let om = offered.filter { $0.0 == "application/openmetrics-text" }.map(\.1).max() ?? 0
            let text = offered.filter { $0.0 == "text/plain" || $0.0 == "*/*" || $0.0 == "text/*" }.map(\.1).max() ?? 0
            return om > 0 && om >= text ? .openMetrics : .prometheus
        }
    }

    enum Kind: String { case counter, gauge, histogram }

    let format: Format
    private(set) var bytes: [UInt8] = []

    init(format: Format) {
        self.format = format
        bytes.reserveCapacity(1 << 16)
    }

    /// The `# HELP` and `# TYPE` lines of a family. `name` is the family name: a counter's samples add `_total`
    /// (`sample(_:...)` is given the full sample name).
    mutating func family(_ name: String, _ kind: Kind, help: String) {
        let declared = kind == .counter && format == .prometheus ? name + "_total" : name
        append("# HELP \(declared) ")
        for byte in help.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): append("\\\\")
            case UInt8(ascii: "\n"): append("\\n")
            default: bytes.append(byte)
            }
        }
        append("\n# TYPE \(declared) \(kind.rawValue)\n")
    }

    /// One sample line with an integer value.
    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Int64) {
        sampleStart(name, labels)
        append(String(value))
        bytes.append(UInt8(ascii: "\n"))
    }

    /// One sample line with a floating-point value (non-finite values as +Inf, -Inf, NaN).
    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        sampleStart(name, labels)
        append(Self.float(value))
        bytes.append(UInt8(ascii: "\n"))
    }

    /// `labels` rendered once (`key="value",…`, escaped), for a series written in several families.
    static func render(_ labels: KeyValuePairs<String, String>) -> [UInt8] {
        var out = Exposition(format: .prometheus)
        out.bytes.removeAll(keepingCapacity: false)
        for (i, (key, value)) in labels.enumerated() {
            if i > 0 { out.bytes.append(UInt8(ascii: ",")) }
            out.label(key, value)
        }
        return out.bytes
    }

    /// One sample line with labels rendered by `render(_:)`, an optional label after them, and an integer value or
    /// (`nanos`) the exact decimal of value × 10^-9.
    mutating func sample(
        _ name: String, rendered: [UInt8], extra: (String, String)? = nil, _ value: Int64, nanos: Bool = false
    ) {
        append(name)
        bytes.append(UInt8(ascii: "{"))
        bytes.append(contentsOf: rendered)
        if let (key, value) = extra {
            if !rendered.isEmpty { bytes.append(UInt8(ascii: ",")) }
            label(key, value)
        }
        append("} ")
        append(nanos ? Money.shortDecimal(nanos: value) : String(value))
        bytes.append(UInt8(ascii: "\n"))
    }

    /// A histogram's `_bucket` (cumulative, ending with +Inf), `_sum` and `_count` lines. `counts` has one entry per
    /// bound plus the overflow bucket, not cumulative.
    mutating func histogram(
        _ name: String, _ labels: KeyValuePairs<String, String>, bounds: [Double], counts: [Int64], sum: Double
    ) {
        var cumulative: Int64 = 0
        for (i, count) in counts.enumerated() {
            cumulative = cumulative.addingReportingOverflow(count).partialValue
            let le = i < bounds.count ? Self.float(bounds[i]) : "+Inf"
            sampleStart(name + "_bucket", labels, extra: ("le", le))
            append(String(cumulative))
            bytes.append(UInt8(ascii: "\n"))
        }
        sample(name + "_sum", labels, sum)
        sample(name + "_count", labels, cumulative)
    }

    /// Adds swift-prometheus' 0.0.4 output, renaming its counter families for OpenMetrics (`x_total` → `x`).
    mutating func append(registryText text: String) {
        guard format == .openMetrics else { return append(text) }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        for i in lines.indices where lines[i].hasPrefix("# TYPE ") && lines[i].hasSuffix("_total counter") {
            let name = String(lines[i].dropFirst(7).dropLast(8))
            lines[i] = "# TYPE \(name.dropLast(6)) counter"
            if i > 0, lines[i - 1].hasPrefix("# HELP \(name) ") {
                lines[i - 1] = "# HELP \(name.dropLast(6)) " + lines[i - 1].dropFirst(8 + name.utf8.count)
            }
        }
        for line in lines { append(line + "\n") }
    }

    /// Ends the exposition (OpenMetrics requires `# EOF`).
    mutating func finish() {
        if format == .openMetrics { append("# EOF\n") }
    }

    private mutating func sampleStart(
        _ name: String, _ labels: KeyValuePairs<String, String>, extra: (String, String)? = nil
    ) {
        append(name)
        if !labels.isEmpty || extra != nil {
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for (key, value) in labels {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                label(key, value)
            }
            if let (key, value) = extra {
                if !first { bytes.append(UInt8(ascii: ",")) }
                label(key, value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: " "))
    }

    /// `key="value"` with the value's backslashes, double quotes and line feeds escaped (both formats' rule).
    private mutating func label(_ key: String, _ value: String) {
        append(key)
        append("=\"")
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): append("\\\\")
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\n"): append("\\n")
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }

    static func float(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        return "\(v)"
    }
}
