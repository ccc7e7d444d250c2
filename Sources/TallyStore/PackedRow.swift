import Foundation
import GRDB

/// Column values packed into one byte buffer, for rows that wait in the ingest queue: about the size of the values
/// themselves, where a `[DatabaseValue]` costs 24 bytes per value plus an allocation per text or blob.
///
/// Layout per value: a tag byte (`Tag`), then for integers and doubles their 8-byte bit pattern, for text and blobs a
/// 4-byte length and the bytes (all little-endian). Text is kept up to its first NUL, as GRDB binds a `String`.
struct PackedRow: Sendable {
    enum Tag: UInt8 {
        case null = 0
        case int64 = 1
        case double = 2
        case text = 3
        case blob = 4
    }

    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    init(_ values: some Collection<DatabaseValue>) {
        // One allocation of the exact size: rows are built by the thousand while requests wait, and a buffer grown
        // by doubling leaves freed blocks of every size behind in the heap.
        bytes.reserveCapacity(
            values.reduce(0) { size, value in
                switch value.storage {
                case .null: size + 1
                case .int64, .double: size + 9
                case .string(let s): size + 5 + s.utf8.count
                case .blob(let data): size + 5 + data.count
                }
            })
        for value in values {
            count += 1
            switch value.storage {
            case .null: bytes.append(Tag.null.rawValue)
            case .int64(let n): append(.int64, UInt64(bitPattern: n))
            case .double(let d): append(.double, d.bitPattern)
            case .string(var s):
                s.withUTF8 { utf8 in
                    append(.text, UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8.prefix { $0 != 0 })))
                }
            case .blob(let data): data.withUnsafeBytes { append(.blob, $0) }
            }
        }
    }

    private mutating func append(_ tag: Tag, _ bits: UInt64) {
        bytes.append(tag.rawValue)
        withUnsafeBytes(of: bits.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private mutating func append(_ tag: Tag, _ content: UnsafeRawBufferPointer) {
        bytes.append(tag.rawValue)
        withUnsafeBytes(of: UInt32(content.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: content)
    }

    /// Calls `body` with each value in order: its tag and, for integers and doubles, the bit pattern, for text and
    /// blobs the bytes (valid during the call only).
    func forEach(_ body: (Tag, UInt64, UnsafeRawBufferPointer) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            for _ in 0..<count {
                let tag = Tag(rawValue: raw[offset])!
                offset += 1
                switch tag {
                case .null:
                    try body(tag, 0, UnsafeRawBufferPointer(start: nil, count: 0))
                case .int64, .double:
                    let bits = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    offset += 8
                    try body(tag, bits, UnsafeRawBufferPointer(start: nil, count: 0))
                case .text, .blob:
                    let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                    offset += 4
                    try body(tag, 0, UnsafeRawBufferPointer(rebasing: raw[offset..<offset + length]))
                    offset += length
                }
            }
        }
    }

    /// The value at `index` (a walk from the start: for the rare reader, not the binding path).
    subscript(index: Int) -> DatabaseValue {
        var position = 0
        var found = DatabaseValue.null
        forEach { tag, bits, content in
            defer { position += 1 }
            guard position == index else { return }
            switch tag {
            case .null: found = .null
            case .int64: found = Int64(bitPattern: bits).databaseValue
            case .double: found = Double(bitPattern: bits).databaseValue
            case .text: found = String(decoding: content, as: UTF8.self).databaseValue
            case .blob: found = Data(content).databaseValue
            }
        }
        return found
    }
}
