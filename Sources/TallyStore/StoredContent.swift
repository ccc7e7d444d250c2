import CZlib
import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

/// How large JSON content (input, output, model parameters) is stored: as JSON text, or — above `threshold` bytes
/// when that saves at least an eighth — as a BLOB holding the text's UTF-8 length (4 bytes, little-endian) and its
/// zlib stream. Every read path decodes both forms (`decode`), so the choice is invisible above the store.
enum StoredContent {
    /// UTF-8 bytes from which content is compressed.
    static let threshold = 256
    /// A stored length above this is taken as a damaged value (never written: fields are capped far below it).
    static let maxDecodedBytes = 64 << 20

    static func encode(_ value: JSONValue?) -> DatabaseValue {
        guard let value else { return .null }
        let text = value.serialized()
        let count = text.utf8.count
        guard count >= threshold, count <= maxDecodedBytes else { return text.databaseValue }
        var bound = compressBound(uLong(count))
        var out = [UInt8](repeating: 0, count: 4 + Int(bound))
        let status = text.utf8.withContiguousStorageIfAvailable { source in
            out.withUnsafeMutableBufferPointer { dest in
                compress2(dest.baseAddress! + 4, &bound, source.baseAddress, uLong(count), 1)
            }
        }
        guard status == Z_OK, Int(bound) + 4 <= count - count / 8 else { return text.databaseValue }
        for i in 0..<4 { out[i] = UInt8(truncatingIfNeeded: UInt32(count) >> (8 * UInt32(i))) }
        return Data(out.prefix(4 + Int(bound))).databaseValue
    }

    /// The content of a stored column value: nil for NULL, unparsable text or a damaged blob.
    static func decode(_ value: DatabaseValue) -> JSONValue? {
        switch value.storage {
        case .string(let text):
            return try? JSONValue.parse(text)
        case .blob(let data):
            guard let text = inflate(data) else { return nil }
            return try? JSONValue.parse(text)
        default:
            return nil
        }
    }

    static func inflate(_ data: Data) -> String? {
        guard data.count > 4 else { return nil }
        let count = data.prefix(4).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard count <= maxDecodedBytes else { return nil }
        var out = [UInt8](repeating: 0, count: count)
        var length = uLong(count)
        let status = data.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { dest in
                uncompress(
                    dest.baseAddress, &length, raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + 4,
                    uLong(data.count - 4))
            }
        }
        guard status == Z_OK, Int(length) == count else { return nil }
        return String(decoding: out, as: UTF8.self)
    }
}
