import Foundation
import Hummingbird
import TallyCore

/// Typed access to query parameters; a malformed value is a 400 naming the parameter. Every list is capped, so
/// no request can build a query larger than SQLite's expression limits (it answers 400, never 500).
struct QueryReader {
    /// Query parameters in one request.
    static let maxParameters = 200
    /// Values of one list filter (`tags=a&tags=b`, `model=a,b`).
    static let maxValues = 100
    /// `metadata.<key>=<value>` filters in one request.
    static let maxMetadataFilters = 20

    let parameters: Parameters

    init(_ request: Request) throws {
        parameters = request.uri.queryParameters
        guard parameters.count <= Self.maxParameters else {
            throw APIError.invalid(
                "\(parameters.count) query parameters; at most \(Self.maxParameters) are accepted per request")
        }
    }

    func string(_ name: String) -> String? {
        guard let v = parameters.get(name), !v.isEmpty else { return nil }
        return v
    }

    /// Every value of a repeated parameter (`tags=a&tags=b`), empty values dropped; at most `maxValues`.
    func all(_ name: String) throws -> [String] {
        try capped(name, parameters.getAll(name).filter { !$0.isEmpty })
    }

    /// A comma-separated list, possibly repeated (`scoreIds=a,b`); at most `maxValues`.
    func list(_ name: String) throws -> [String] {
        try capped(
            name,
            parameters.getAll(name).flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                .filter { !$0.isEmpty })
    }

    private func capped(_ name: String, _ values: [String]) throws -> [String] {
        guard values.count <= Self.maxValues else {
            throw APIError.invalid("\(name): \(values.count) values; at most \(Self.maxValues) are accepted")
        }
        return values
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

    /// `true` or `false`; anything else is a 400.
    func bool(_ name: String) throws -> Bool? {
        guard let raw = string(name) else { return nil }
        switch raw.lowercased() {
        case "true": return true
        case "false": return false
        default: throw APIError.invalid("\(name): expected true or false, got \"\(raw.prefix(40))\"")
        }
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

    /// A sort parameter `[-|+]key` with key one of `E`'s raw values: the key and whether it sorts ascending (no
    /// `-`); nil when absent, a 400 naming the keys when unknown.
    func sort<E: RawRepresentable & CaseIterable>(_ name: String, _: E.Type) throws -> (key: E, ascending: Bool)?
    where E.RawValue == String {
        guard let raw = string(name) else { return nil }
        let key = raw.hasPrefix("-") || raw.hasPrefix("+") ? String(raw.dropFirst()) : raw
        guard let e = E(rawValue: key) else {
            throw APIError.invalid(
                "\(name): expected [-]<key> with key one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return (e, !raw.hasPrefix("-"))
    }

    /// A comma-separated list (`list`) of `E`'s raw values; an unknown one is a 400 naming the allowed ones.
    func enumList<E: RawRepresentable & CaseIterable>(_ name: String, _: E.Type) throws -> [E]
    where E.RawValue == String {
        try list(name).map { raw in
            guard let e = E(rawValue: raw) else {
                throw APIError.invalid(
                    "\(name): \"\(raw.prefix(40))\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            return e
        }
    }

    func page() throws -> PageRequest {
        PageRequest(
            page: try int("page", in: 1...1_000_000) ?? 1,
            limit: try int("limit", in: 1...PageRequest.maxLimit) ?? 50)
    }
}

extension TallyRequestContext {
    /// A path parameter that names an entity, percent-decoded (`/traces/a%20b` is the trace `a b`; `%2F` a `/`
    /// inside the id). An id that cannot be decoded or breaks `EntityID` is a 400.
    func pathID(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        guard let id = raw.removingPercentEncoding else {
            throw APIError.invalid("\(name): not a valid percent-encoded id")
        }
        if let problem = EntityID.problem(id) { throw APIError.invalid("\(name): \(problem)") }
        return id
    }
}
