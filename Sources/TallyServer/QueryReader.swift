import Hummingbird
import TallyCore

/// Typed access to query parameters; a malformed value is a 400 naming the parameter.
struct QueryReader {
    let parameters: Parameters

    init(_ request: Request) { parameters = request.uri.queryParameters }

    func string(_ name: String) -> String? {
        guard let v = parameters.get(name), !v.isEmpty else { return nil }
        return v
    }

    /// Every value of a repeated parameter (`tags=a&tags=b`), empty values dropped.
    func all(_ name: String) -> [String] {
        parameters.getAll(name).filter { !$0.isEmpty }
    }

    /// A comma-separated list, possibly repeated (`scoreIds=a,b`).
    func list(_ name: String) -> [String] {
        all(name).flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let raw = string(name) else { return nil }
        guard let v = Int(raw), range.contains(v) else {
            throw APIError.invalid(
                "\(name): expected an integer in \(range.lowerBound)…\(range.upperBound), got \"\(raw.prefix(40))\"")
        }
        return v
    }

    func double(_ name: String) throws -> Double? {
        guard let raw = string(name) else { return nil }
        guard let v = Double(raw), v.isFinite else { throw APIError.invalid("\(name): expected a number") }
        return v
    }

    func timestamp(_ name: String) throws -> Timestamp? {
        guard let raw = string(name) else { return nil }
        guard let t = Timestamp(iso8601: raw) else {
            throw APIError.invalid("\(name): expected an ISO-8601 date-time, got \"\(raw.prefix(40))\"")
        }
        return t
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ name: String, _: E.Type) throws -> E?
    where E.RawValue == String {
        guard let raw = string(name) else { return nil }
        guard let e = E(rawValue: raw) else {
            throw APIError.invalid("\(name): expected one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return e
    }

    func page() throws -> PageRequest {
        PageRequest(
            page: try int("page", in: 1...1_000_000) ?? 1,
            limit: try int("limit", in: 1...PageRequest.maxLimit) ?? 50)
    }
}
