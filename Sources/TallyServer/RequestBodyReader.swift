import CCompressZlib
import CompressNIO
import Foundation
import Hummingbird
import NIOCore
import TallyCore

/// Reads a request body with a cap on the bytes received and, for `Content-Encoding: gzip` (or `zstd`, see `Zstd`),
/// a cap on the decoded size (a compression bomb stops at the cap). Over a cap → 413; undecodable body → 400.
struct RequestBodyReader: Sendable {
    /// Bytes accepted on the wire.
    var maxBodyBytes: Int
    /// Bytes accepted after decompression.
    var maxDecodedBytes: Int

    func read(_ request: Request) async throws -> Data {
        // A declared length far over the cap (4×) is refused before a byte of the body is awaited: such a body
        // may never come. A body nearer the cap is read up to the cap first, so a client that sends the whole
        // body before reading (urllib, requests) still gets the 413 instead of a reset connection.
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared / 4 > maxBodyBytes {
            throw APIError.tooLarge(maxBodyBytes)
        }
        var buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.tooLarge(maxBodyBytes)
        }
        let encoding = request.headers[.contentEncoding]?.lowercased() ?? ""
        if encoding.contains("gzip") {
            do {
                let compressed = buffer
                buffer = try buffer.decompress(with: ZlibAlgorithm.gzip, maxSize: maxDecodedBytes)
                guard Self.trailerMatches(compressed, decoded: buffer) else {
                    throw APIError(
                        status: .badRequest,
                        body: [
                            "message": "Failed to decompress request body",
                            "error": "the gzip stream is cut short: its CRC-32/length trailer is missing or wrong",
                        ])
                }
            } catch let error as APIError {
                throw error
            } catch let error as CompressNIOError where error == .bufferOverflow {
                throw APIError.tooLarge(maxDecodedBytes)
            } catch {
                throw APIError(
                    status: .badRequest,
                    body: ["message": "Failed to decompress request body", "error": .string("\(error)")])
            }
        } else if encoding == "zstd", Zstd.isAvailable {
            do {
                guard let decoded = try Zstd.decode(Data(buffer: buffer), maxSize: maxDecodedBytes) else {
                    throw APIError.tooLarge(maxDecodedBytes)
                }
                return decoded
            } catch let error as Zstd.Failure {
                throw APIError(
                    status: .badRequest,
                    body: ["message": "Failed to decompress request body", "error": .string(error.description)])
            }
        } else if !encoding.isEmpty, encoding != "identity" {
            throw APIError(
                status: .unsupportedMediaType,
                body: [
                    "message": .string(
                        "Unsupported Content-Encoding \(encoding.prefix(40)); use gzip"
                            + (Zstd.isAvailable ? ", zstd" : "") + " or none")
                ])
        }
        return Data(buffer: buffer)
    }

    /// The body (as `read` reads it) parsed as JSON; anything else is a 400 `body: not valid JSON`.
    func json(_ request: Request) async throws -> JSONValue {
        let data = try await read(request)
        do {
            return try JSONValue.parse(data)
        } catch {
            throw APIError.invalid("body: not valid JSON")
        }
    }

    /// A complete gzip member ends with the CRC-32 and the length (mod 2^32) of what it decodes to, both
    /// little-endian; a stream cut short before or inside them decodes "successfully" to a prefix, so both are
    /// checked.
    static func trailerMatches(_ compressed: ByteBuffer, decoded: ByteBuffer) -> Bool {
        guard compressed.readableBytes >= 18,
            let trailer = compressed.getBytes(at: compressed.writerIndex - 8, length: 8)
        else { return false }
        func le32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            bytes.reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        let crc = decoded.withUnsafeReadableBytes { raw -> UInt32 in
            var value = crc32(0, nil, 0)
            var offset = 0
            while offset < raw.count {  // zlib takes at most UInt32.max bytes a call
                let n = min(raw.count - offset, 1 << 30)
                value = crc32(value, raw.baseAddress?.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(n))
                offset += n
            }
            return UInt32(truncatingIfNeeded: value)
        }
        return le32(trailer[0..<4]) == crc && le32(trailer[4..<8]) == UInt32(truncatingIfNeeded: decoded.readableBytes)
    }
}
