import CompressNIO
import Foundation
import Hummingbird
import NIOCore

/// Reads a request body with a cap on the bytes received and, for `Content-Encoding: gzip`, a cap on the
/// decoded size (a gzip bomb stops at the cap). Over a cap → 413; undecodable gzip → 400.
struct RequestBodyReader: Sendable {
    /// Bytes accepted on the wire.
    var maxBodyBytes: Int
    /// Bytes accepted after decompression.
    var maxDecodedBytes: Int

    func read(_ request: Request) async throws -> Data {
        // A declared length over the cap is refused before a byte of the body is awaited.
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > maxBodyBytes {
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
                buffer = try buffer.decompress(with: ZlibAlgorithm.gzip, maxSize: maxDecodedBytes)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                throw APIError.tooLarge(maxDecodedBytes)
            } catch {
                throw APIError(
                    status: .badRequest,
                    body: ["message": "Failed to decompress request body", "error": .string("\(error)")])
            }
        } else if !encoding.isEmpty, encoding != "identity" {
            throw APIError(
                status: .unsupportedMediaType,
                body: ["message": .string("Unsupported Content-Encoding \(encoding.prefix(40)); use gzip or none")])
        }
        return Data(buffer: buffer)
    }
}
