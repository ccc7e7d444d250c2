import Crypto
import Foundation

/// A short fingerprint of content for grouping equal payloads (not for secrets): the first 8 bytes of SHA-256 over
/// the parts joined by NUL, read as a big-endian signed 64-bit integer. Two different contents share one with
/// probability ~2⁻⁶⁴ per pair.
public enum ContentHash {
    public static func int64(_ parts: [String]) -> Int64 {
        var hasher = SHA256()
        for (i, part) in parts.enumerated() {
            if i > 0 { hasher.update(data: [0]) }
            hasher.update(data: Array(part.utf8))
        }
        var value: UInt64 = 0
        for byte in hasher.finalize().prefix(8) { value = value << 8 | UInt64(byte) }
        return Int64(bitPattern: value)
    }
}
