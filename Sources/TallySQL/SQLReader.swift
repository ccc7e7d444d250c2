import Foundation
import TallyStoreAPI

/// One value of a result row, as either store hands it over.
public enum SQLCell: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
}

/// A result row by column name.
public struct SQLRow: Sendable {
    public var cells: [String: SQLCell]

    public init(_ cells: [String: SQLCell]) { self.cells = cells }

    /// An integer column (a whole double, or integer text, counts); nil for NULL or a missing column.
    public func int(_ name: String) -> Int64? {
        switch cells[name] {
        case .int(let v)?: v
        case .double(let v)?: Int64(exactly: v)
        case .text(let v)?: Int64(v)
        default: nil
        }
    }

    public func double(_ name: String) -> Double? {
        switch cells[name] {
        case .int(let v)?: Double(v)
        case .double(let v)?: v
        case .text(let v)?: Double(v)
        default: nil
        }
    }

    public func text(_ name: String) -> String? {
        switch cells[name] {
        case .text(let v)?: v
        case .int(let v)?: String(v)
        case .double(let v)?: String(v)
        default: nil
        }
    }
}

/// A store that runs the shared queries: binds a query's values to its `?` in order, in its own dialect.
public protocol SQLReader: Sendable {
    var dialect: SQLDialect { get }
    func rows(_ query: SQLQuery) async throws -> [SQLRow]
}
