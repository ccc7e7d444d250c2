/// Invoice reconciliation and allocation (`POST /api/tally/v1/reconcile`): a provider's invoice for a period set
/// against what Tally metered for the same scope, and the invoice distributed to tenants. All money is integer
/// nano-USD; every split uses the largest-remainder method, so the parts add up to the whole exactly.
public enum Reconciliation {
    /// One line of the provider's invoice: `amountNanos` for `provider`'s calls (of `model` only, when given).
    public struct InvoiceLine: Sendable, Hashable {
        public var provider: String
        public var model: String?
        public var amountNanos: Int64

        public init(provider: String, model: String?, amountNanos: Int64) {
            self.provider = provider
            self.model = model
            self.amountNanos = amountNanos
        }
    }

    /// Metered model calls of one tenant ("" when none is named), model and provider (nil when unknown).
    public struct Usage: Sendable, Hashable {
        public var tenant: String
        public var model: String
        public var provider: String?
        public var calls: Int64
        public var costNanos: Int64

        public init(tenant: String, model: String, provider: String?, calls: Int64, costNanos: Int64) {
            self.tenant = tenant
            self.model = model
            self.provider = provider
            self.calls = calls
            self.costNanos = costNanos
        }
    }

    public enum Method: String, Sendable, CaseIterable {
        /// Each tenant's own metered cost, scaled to the invoice.
        case direct
        /// By share of calls.
        case activity
        /// By calls weighted with each model's mean metered cost per call.
        case weighted
    }

    public struct LineResult: Sendable, Hashable {
        public var line: InvoiceLine
        public var calls: Int64
        public var meteredNanos: Int64
        /// Metered spend in scope that names no tenant.
        public var unattributedNanos: Int64
        /// Invoice minus metered.
        public var varianceNanos: Int64 { line.amountNanos &- meteredNanos }
        /// The variance as a percentage of the metered amount; nil when nothing was metered.
        public var variancePercent: Double? {
            meteredNanos == 0 ? nil : Double(varianceNanos) / Double(meteredNanos) * 100
        }
        /// The line's amount per tenant (the unattributed share spread over the tenants by the same rule; kept under
        /// "" only when no tenant is in scope).
        public var allocation: [String: Int64]
    }

    /// Matching calls of `line`: same provider (case-insensitive), and same model when the line names one.
    public static func matches(_ u: Usage, _ line: InvoiceLine) -> Bool {
        guard let provider = u.provider, provider.lowercased() == line.provider.lowercased() else { return false }
        return line.model.map { $0 == u.model } ?? true
    }

    /// Reconciles every line and allocates it with `method`.
    public static func reconcile(_ lines: [InvoiceLine], usage: [Usage], method: Method) -> [LineResult] {
        lines.map { line in
            let scope = usage.filter { matches($0, line) }
            var result = LineResult(
                line: line, calls: scope.reduce(0) { $0.addingSaturating($1.calls) },
                meteredNanos: scope.reduce(0) { $0.addingSaturating($1.costNanos) },
                unattributedNanos: scope.filter { $0.tenant.isEmpty }.reduce(0) { $0.addingSaturating($1.costNanos) },
                allocation: [:])
            result.allocation = allocate(line.amountNanos, scope: scope, method: method)
            return result
        }
    }

    /// `amount` split over the tenants of `scope` by `method`. Calls that name no tenant carry no weight, so their
    /// share is spread over the named tenants by the same rule; with no named tenant in scope everything stays under
    /// "", and with no weight at all (nothing metered) the split falls back to calls, then to equal parts.
    public static func allocate(_ amount: Int64, scope: [Usage], method: Method) -> [String: Int64] {
        let named = scope.filter { !$0.tenant.isEmpty }
        guard !named.isEmpty else { return amount == 0 && scope.isEmpty ? [:] : ["": amount] }
        var weights: [String: Double] = [:]
        switch method {
        case .direct:
            for u in named { weights[u.tenant, default: 0] += Double(u.costNanos) }
        case .activity:
            for u in named { weights[u.tenant, default: 0] += Double(u.calls) }
        case .weighted:
            var perModel: [String: (calls: Double, cost: Double)] = [:]
            for u in scope {
                perModel[u.model, default: (0, 0)].calls += Double(u.calls)
                perModel[u.model, default: (0, 0)].cost += Double(u.costNanos)
            }
            for u in named {
                let m = perModel[u.model]!
                weights[u.tenant, default: 0] += Double(u.calls) * (m.calls == 0 ? 0 : m.cost / m.calls)
            }
        }
        if weights.values.reduce(0, +) <= 0 {
            weights = [:]
            for u in named { weights[u.tenant, default: 0] += Double(u.calls) }
            if weights.values.reduce(0, +) <= 0 { weights = weights.mapValues { _ in 1 } }
        }
        return largestRemainder(amount, weights: weights)
    }

    /// `amount` in parts proportional to `weights` (non-negative, not all zero), each part the floor of its exact
    /// share plus one unit for the largest remainders until the parts sum to `amount` (ties by key). A negative
    /// amount (a credit) is split like its magnitude.
    public static func largestRemainder(_ amount: Int64, weights: [String: Double]) -> [String: Int64] {
        let total = weights.values.reduce(0, +)
        guard total > 0 else { return [:] }
        let sign: Int64 = amount < 0 ? -1 : 1
        let magnitude = Double(amount.magnitude)
        let keys = weights.keys.sorted()
        var parts: [String: Int64] = [:]
        var remainders: [(key: String, rest: Double)] = []
        var given: Int64 = 0
        for key in keys {
            let exact = magnitude * weights[key]! / total
            let floor = Int64(exact.rounded(.down))
            parts[key] = floor
            given += floor
            remainders.append((key, exact - Double(floor)))
        }
        var left = Int64(amount.magnitude) - given
        for entry in remainders.sorted(by: { $0.rest != $1.rest ? $0.rest > $1.rest : $0.key < $1.key }) {
            guard left > 0 else { break }
            parts[entry.key]! += 1
            left -= 1
        }
        // Floating-point shares can be off by more than one unit in total (amounts past 2^53): even out on the keys
        // in order, never below zero.
        var i = 0
        while left != 0 {
            let key = keys[i % keys.count]
            if left > 0 {
                parts[key]! += 1
                left -= 1
            } else if parts[key]! > 0 {
                parts[key]! -= 1
                left += 1
            }
            i += 1
        }
        return parts.mapValues { $0 * sign }
    }
}
