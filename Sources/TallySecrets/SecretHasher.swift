import Crypto
import Foundation

/// Secrets are hashed as HMAC-SHA256 keyed by a random per-key salt, compared in constant time.
public enum SecretHasher {
    /// A salt and hash no secret matches, for unknown public keys.
    public static let decoy: (salt: String, hash: String) = {
        let decoySalt = salt()
        return (decoySalt, hash(secret: salt() + salt(), salt: decoySalt))
    }()

    public static func salt() -> String {
        SymmetricKey(size: .bits128).withUnsafeBytes { Data($0).hex }
    }

    public static func hash(secret: String, salt: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(secret.utf8), using: SymmetricKey(data: Data(salt.utf8)))
        return Data(mac).hex
    }

    /// Constant-time in the length of the hash.
    public static func matches(secret: String, salt: String, hash: String) -> Bool {
        guard let expected = Data(hex: hash) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(
            expected, authenticating: Data(secret.utf8), using: SymmetricKey(data: Data(salt.utf8)))
    }

    public static func display(_ secret: String) -> String {
        guard secret.count > 10 else { return "…" }
        return "\(secret.prefix(6))...\(secret.suffix(4))"
    }

    /// A fresh `pk-lf-<uuid>` / `sk-lf-<uuid>` pair.
    public static func generatedPair() -> (publicKey: String, secretKey: String) {
        ("pk-lf-\(UUID().uuidString.lowercased())", "sk-lf-\(UUID().uuidString.lowercased())")
    }

    /// A new UI session token: 32 random bytes as 64 hex characters.
    public static func sessionToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// A UI session token as stored: hex SHA-256 (the token itself is never stored).
    public static func sessionHash(_ token: String) -> String { Data(SHA256.hash(data: Data(token.utf8))).hex }
}

extension Data {
    public var hex: String { map { String(format: "%02x", $0) }.joined() }

    public init?(hex: String) {
        guard hex.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let b = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(b)
            index = next
        }
        self.init(bytes)
    }
}
