/// A model call made for several tenants at once (a batch of their requests in one call), attributed to them pro
/// rata. The call names each tenant's contribution (tokens, items, any unit) in its metadata `tenantShares`
/// (`{"acme": 1200, "beta": 800}`) or the OTLP attribute `tally.tenant_shares` (the same object as JSON text); every
/// figure of the call is then split between those tenants in proportion, exactly (`split`).
///
/// Weights: numbers in 0…10^12, kept to 6 decimal places; at least one above 0; at most `maxTenants` tenants, each
/// named by a non-empty string of at most `maxTenantLength` characters without control characters (`EntityID`). A
/// tenant with weight 0 gets nothing.
public struct TenantShares: Sendable, Hashable {
    /// One tenant's weight, in millionths.
    public struct Weight: Sendable, Hashable {
        public var tenant: String
        public var micros: UInt64
    }

    /// Tenants in name order with their weights.
    public private(set) var weights: [Weight]

    public static let maxTenants = 1_000
    public static let maxTenantLength = 256
    static let maxWeight: Double = 1e12

    /// The metadata keys read, in order: the Langfuse metadata key, then the attribute name (as a metadata key, or
    /// under `attributes` where the OTLP mapper keeps the span's other attributes).
    public static let metadataKey = "tenantShares"
    public static let attributeKey = "tally.tenant_shares"

    /// The shares `metadata` names; nil when it names none. Throws `IngestionError.invalid` naming the problem
    /// when it names them wrongly (the call is refused rather than billed to the wrong tenant).
    public init?(metadata: [String: JSONValue]) throws(IngestionError) {
        var attributes: [String: JSONValue] = [:]
        if case .object(let a)? = metadata["attributes"] { attributes = a }
        guard
            let value = metadata[Self.metadataKey] ?? metadata[Self.attributeKey] ?? attributes[Self.attributeKey],
            value != .null
        else { return nil }
        var object: [String: JSONValue]
        switch value {
        case .object(let o): object = o
        case .string(let text):
            guard case .object(let o)? = try? JSONValue.parse(text) else {
                throw Self.invalid("is text that is not a JSON object")
            }
            object = o
        default: throw Self.invalid("must be an object of tenant → weight")
        }
        guard !object.isEmpty else { throw Self.invalid("names no tenant") }
        guard object.count <= Self.maxTenants else { throw Self.invalid("names more than \(Self.maxTenants) tenants") }
        var weights: [Weight] = []
        for (tenant, raw) in object.sorted(by: { $0.key < $1.key }) {
            guard !tenant.isEmpty, tenant.count <= Self.maxTenantLength else {
                throw Self.invalid("has a tenant name that is empty or longer than \(Self.maxTenantLength) characters")
            }
            // Tenant names become rollup keys, metric labels and billing subjects: the client-id rule applies.
            if let problem = EntityID.problem(tenant) {
                throw Self.invalid("has a tenant name that is not valid: \(problem)")
            }
            let weight: Double
            switch raw {
            case .int(let i): weight = Double(i)
            case .double(let d): weight = d
            case .string(let s) where Double(s) != nil: weight = Double(s)!
            default: throw Self.invalid("gives \(tenant.debugDescription) a weight that is not a number")
            }
            guard weight.isFinite, weight >= 0, weight <= Self.maxWeight else {
                throw Self.invalid("gives \(tenant.debugDescription) a weight outside 0…1000000000000")
            }
            weights.append(Weight(tenant: tenant, micros: UInt64((weight * 1e6).rounded())))
        }
        guard weights.contains(where: { $0.micros > 0 }) else { throw Self.invalid("gives every tenant weight 0") }
        self.weights = weights
    }

    /// Shares from tenant → weight (millionths) pairs; for tests and callers that already hold numbers.
    public init(micros: [String: UInt64]) {
        weights = micros.sorted { $0.key < $1.key }.map { Weight(tenant: $0.key, micros: $0.value) }
    }

    static func invalid(_ problem: String) -> IngestionError {
        .invalid("metadata.\(metadataKey) (or attribute \(attributeKey)) \(problem)")
    }

    /// `total` (≥ 0) split in proportion to the weights by the largest-remainder method: each tenant gets
    /// ⌊total·w/W⌋, and the units left over go one each to the largest remainders (ties: tenant name order). The
    /// parts sum to `total` exactly. In the weights' order.
    public func split(_ total: Int64) -> [Int64] {
        let sum = weights.reduce(UInt128(0)) { $0 + UInt128($1.micros) }
        let t = UInt128(UInt64(max(total, 0)))
        var parts: [Int64] = []
        var remainders: [(index: Int, remainder: UInt128)] = []
        var given: UInt128 = 0
        for (i, w) in weights.enumerated() {
            let product = t * UInt128(w.micros)
            let (q, r) = product.quotientAndRemainder(dividingBy: sum)
            parts.append(Int64(q))
            given += q
            remainders.append((i, r))
        }
        let left = Int(t - given)  // < number of tenants
        remainders.sort { $0.remainder != $1.remainder ? $0.remainder > $1.remainder : $0.index < $1.index }
        for k in 0..<left { parts[remainders[k].index] += 1 }
        return parts
    }

    /// The tenant that carries the call itself (its count, error and latency): the largest weight, the first by
    /// name among equals. A call counts once, however many tenants share it.
    public var carrier: Int {
        var best = 0
        for i in weights.indices where weights[i].micros > weights[best].micros { best = i }
        return best
    }

    /// One tenant's part of a call: every figure of the call split by `split`.
    public struct Share: Sendable, Hashable {
        public var tenant: String
        /// 1 for the `carrier`, else 0.
        public var calls: Int64
        public var inputTokens: Int64
        public var outputTokens: Int64
        public var totalTokens: Int64
        public var cacheReadTokens: Int64
        public var cacheWriteTokens: Int64
        public var reasoningTokens: Int64
        /// nano-USD; nil when the call has no such figure.
        public var inputCostNanos: Int64?
        public var outputCostNanos: Int64?
        public var totalCostNanos: Int64?
        public var savingsNanos: Int64?

        public init(
            tenant: String, calls: Int64, inputTokens: Int64, outputTokens: Int64, totalTokens: Int64,
            cacheReadTokens: Int64, cacheWriteTokens: Int64, reasoningTokens: Int64, inputCostNanos: Int64?,
            outputCostNanos: Int64?, totalCostNanos: Int64?, savingsNanos: Int64?
        ) {
            self.tenant = tenant
            self.calls = calls
            self.inputTokens = inputTokens
            self.outputTokens = outputTokens
            self.totalTokens = totalTokens
            self.cacheReadTokens = cacheReadTokens
            self.cacheWriteTokens = cacheWriteTokens
            self.reasoningTokens = reasoningTokens
            self.inputCostNanos = inputCostNanos
            self.outputCostNanos = outputCostNanos
            self.totalCostNanos = totalCostNanos
            self.savingsNanos = savingsNanos
        }

        /// Whether the share carries nothing at all (such shares are not stored).
        var isEmpty: Bool {
            calls == 0 && inputTokens == 0 && outputTokens == 0 && totalTokens == 0 && cacheReadTokens == 0
                && cacheWriteTokens == 0 && reasoningTokens == 0 && (inputCostNanos ?? 0) == 0
                && (outputCostNanos ?? 0) == 0 && (totalCostNanos ?? 0) == 0 && (savingsNanos ?? 0) == 0
        }
    }

    /// The call `o` (with `totals`) split into its tenants' shares, in tenant order; shares that carry nothing are
    /// left out. Each figure's shares sum to the call's figure exactly.
    public func shares(of o: Observation, totals: Observation.Totals) -> [Share] {
        let nanos = { (usd: Double?) in usd.map(Money.nanos(usd:)) }
        let inputCost = nanos(totals.inputCost)
        let outputCost = nanos(totals.outputCost)
        let totalCost = nanos(totals.totalCost)
        let columns: [[Int64]] = [
            totals.inputTokens, totals.outputTokens, totals.totalTokens, o.usageUnits([.cacheRead]),
            o.usageUnits([.cacheWrite, .cacheWrite1h]), o.usageUnits([.reasoning]), inputCost ?? 0, outputCost ?? 0,
            totalCost ?? 0, o.savingsNanos ?? 0,
        ].map(split)
        let carrier = carrier
        return weights.indices.map { i in
            Share(
                tenant: weights[i].tenant, calls: i == carrier ? 1 : 0, inputTokens: columns[0][i],
                outputTokens: columns[1][i], totalTokens: columns[2][i], cacheReadTokens: columns[3][i],
                cacheWriteTokens: columns[4][i], reasoningTokens: columns[5][i],
                inputCostNanos: inputCost == nil ? nil : columns[6][i],
                outputCostNanos: outputCost == nil ? nil : columns[7][i],
                totalCostNanos: totalCost == nil ? nil : columns[8][i],
                savingsNanos: o.savingsNanos == nil ? nil : columns[9][i])
        }.filter { !$0.isEmpty }
    }
}
