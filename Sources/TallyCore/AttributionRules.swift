/// Which metadata keys and tags name a trace's tenant and feature. Extracted at ingest into indexed columns so
/// analytics never scan JSON.
public struct AttributionRules: Sendable, Hashable {
    /// Metadata keys tried in order for the tenant.
    public var tenantKeys: [String]
    /// A tag `<prefix><tenant>` names the tenant when no metadata key does.
    public var tenantTagPrefix: String
    /// Metadata keys tried in order for the feature.
    public var featureKeys: [String]

    public init(
        tenantKeys: [String] = ["tenantId", "tenant_id", "tenant"],
        tenantTagPrefix: String = "tenant:",
        featureKeys: [String] = ["feature"]
    ) {
        self.tenantKeys = tenantKeys
        self.tenantTagPrefix = tenantTagPrefix
        self.featureKeys = featureKeys
    }

    public static let standard = AttributionRules()

    public func tenant(metadata: [String: JSONValue], tags: [String]) -> String? {
        if let value = firstScalar(in: metadata, keys: tenantKeys) { return value }
        for tag in tags where tag.hasPrefix(tenantTagPrefix) && tag.count > tenantTagPrefix.count {
            return String(tag.dropFirst(tenantTagPrefix.count))
        }
        return nil
    }

    public func feature(metadata: [String: JSONValue]) -> String? {
        firstScalar(in: metadata, keys: featureKeys)
    }

    /// The first key whose value is a non-empty string or a number, as text.
    private func firstScalar(in metadata: [String: JSONValue], keys: [String]) -> String? {
        for key in keys {
            switch metadata[key] {
            case .string(let s) where !s.isEmpty: return s
            case .int(let i): return String(i)
            default: continue
            }
        }
        return nil
    }
}
