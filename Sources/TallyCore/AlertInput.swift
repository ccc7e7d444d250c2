/// The alert API's request bodies, read and checked; every refusal is an `IngestionError.invalid` naming the field.
public enum AlertInput {
    /// `{"name", "type", "params"?, "channels"?, "actions"?, "enabled"?}`. Unknown params are refused; missing ones
    /// take the type's default (a required one without a default is refused).
    public static func rule(id: String, _ body: JSONValue) throws -> AlertRule {
        let r = FieldReader(
            try FieldReader.body(body, allowed: ["name", "type", "params", "channels", "actions", "enabled"]),
            path: "body")
        guard let name = try r.string("name", maxLength: BudgetInput.maxNameLength), !name.isEmpty else {
            throw IngestionError.invalid("body.name: required")
        }
        guard let type = try r.enumValue("type", AlertRuleType.self) else {
            throw IngestionError.invalid("body.type: required (one of \(allTypes))")
        }
        let channels = try r.stringArray("channels") ?? []
        guard channels.count <= maxChannels else {
            throw IngestionError.invalid("body.channels: at most \(maxChannels) channels")
        }
        for channel in channels { _ = try BudgetInput.name(channel, field: "body.channels") }
        let actions = try
            (r.raw("actions").map { v -> [JSONValue] in
                guard case .array(let items) = v else { throw r.fail("actions", "an array", v) }
                return items
            } ?? []).enumerated().map { i, item in try action(item, path: "body.actions[\(i)]") }
        guard actions.count <= maxActions else {
            throw IngestionError.invalid("body.actions: at most \(maxActions) actions")
        }
        return AlertRule(
            id: id, name: name, type: type, params: try params(type, r.object("params") ?? [:]), channels: channels,
            actions: actions, enabled: try r.bool("enabled") ?? true)
    }

    static let allTypes = AlertRuleType.allCases.map(\.rawValue).joined(separator: "|")
    /// Channels and actions one rule may name.
    public static let maxChannels = 20
    public static let maxActions = 10

    /// The type's parameters from `given`, with defaults for the missing ones.
    public static func params(_ type: AlertRuleType, _ given: [String: JSONValue]) throws -> [String: JSONValue] {
        let specs = type.params
        if let unknown = given.keys.sorted().first(where: { key in !specs.contains { $0.name == key } }) {
            let known = specs.map(\.name).joined(separator: ", ")
            throw IngestionError.invalid("body.params.\(unknown): unknown parameter of \(type.rawValue) (\(known))")
        }
        var out: [String: JSONValue] = [:]
        let r = FieldReader(given, path: "body.params")
        for spec in specs {
            guard let value = r.raw(spec.name) else {
                if let d = spec.defaultValue {
                    out[spec.name] = d
                } else if !spec.optional {
                    throw IngestionError.invalid("body.params.\(spec.name): required for \(type.rawValue)")
                }
                continue
            }
            out[spec.name] = try checked(value, spec, r)
        }
        if type == .threshold, out["exceptPlans"]?.arrayValue?.isEmpty == false, out["groupBy"] != "tenant" {
            throw IngestionError.invalid("body.params.exceptPlans: only with groupBy tenant")
        }
        if let filters = out["filters"]?.objectValue {
            for (key, value) in filters {
                guard AlertThreshold.filters.contains(key) else {
                    throw IngestionError.invalid(
                        "body.params.filters.\(key): unknown filter (\(AlertThreshold.filters.joined(separator: ", ")))"
                    )
                }
                guard let v = value.stringValue else {
                    throw IngestionError.invalid("body.params.filters.\(key): expected a string")
                }
                _ = try BudgetInput.name(v, field: "body.params.filters.\(key)")
            }
        }
        return out
    }

    private static func checked(_ v: JSONValue, _ spec: AlertRuleType.Param, _ r: FieldReader) throws -> JSONValue {
        func number(_ v: JSONValue, _ range: ClosedRange<Double>) -> Double? {
            guard let d = v.doubleValue, d.isFinite, range.contains(d) else { return nil }
            return d
        }
        switch spec.kind {
        case .number(let range):
            guard let d = number(v, range) else {
                throw r.fail(spec.name, "a number from \(range.lowerBound) to \(range.upperBound)", v)
            }
            return .double(d)
        case .integer(let range):
            guard let d = v.doubleValue, d == d.rounded(), d >= Double(range.lowerBound), d <= Double(range.upperBound)
            else { throw r.fail(spec.name, "a whole number from \(range.lowerBound) to \(range.upperBound)", v) }
            return .int(Int64(d))
        case .boolean:
            guard case .bool = v else { throw r.fail(spec.name, "true or false", v) }
            return v
        case .string(let allowed):
            guard case .string(let s) = v, !s.isEmpty, s.count <= BudgetInput.maxNameLength,
                allowed?.contains(s) ?? true
            else { throw r.fail(spec.name, allowed.map { "one of \($0.joined(separator: "|"))" } ?? "a name", v) }
            _ = try BudgetInput.name(s, field: "body.params.\(spec.name)")
            return v
        case .numbers(let range):
            guard case .array(let items) = v, !items.isEmpty, items.count <= 10,
                items.allSatisfy({ number($0, range) != nil })
            else { throw r.fail(spec.name, "1 to 10 numbers from \(range.lowerBound) to \(range.upperBound)", v) }
            return .array(items.map { .double($0.doubleValue!) })
        case .strings:
            guard case .array(let items) = v, items.count <= 100, items.allSatisfy({ $0.stringValue != nil }) else {
                throw r.fail(spec.name, "an array of at most 100 names", v)
            }
            for item in items { _ = try BudgetInput.name(item.stringValue!, field: "body.params.\(spec.name)") }
            return v
        case .object:
            guard case .object = v else { throw r.fail(spec.name, "an object", v) }
            return v
        }
    }

    public static func action(_ v: JSONValue, path: String) throws -> AlertAction {
        guard case .object(let o) = v else { throw IngestionError.invalid("\(path): expected an object") }
        let r = FieldReader(o, path: path)
        switch try r.string("type") {
        case "throttle_tenant":
            guard let minutes = try r.int("minutes"), (1...525_600).contains(minutes) else {
                throw IngestionError.invalid("\(path).minutes: required, 1…525600")
            }
            return .throttleTenant(minutes: minutes)
        case "disable_feature":
            guard let feature = try r.string("feature") else {
                throw IngestionError.invalid("\(path).feature: required")
            }
            return .disableFeature(feature: try BudgetInput.name(feature, field: "\(path).feature"))
        default:
            throw IngestionError.invalid("\(path).type: expected throttle_tenant or disable_feature")
        }
    }

    /// A channel: `{"name", "type": "webhook"|"slack", "url": http(s), "secret"?}`.
    public struct Channel: Sendable, Equatable {
        public var name: String
        public var type: String
        public var url: String
        public var secret: String?
    }

    public static func channel(_ body: JSONValue) throws -> Channel {
        let r = FieldReader(try FieldReader.body(body, allowed: ["name", "type", "url", "secret"]), path: "body")
        guard let name = try r.string("name") else { throw IngestionError.invalid("body.name: required") }
        guard let type = try r.string("type"), ["webhook", "slack"].contains(type) else {
            throw IngestionError.invalid("body.type: expected webhook or slack")
        }
        guard let url = try r.httpURL("url") else { throw IngestionError.invalid("body.url: required") }
        return Channel(
            name: try BudgetInput.name(name, field: "body.name"), type: type, url: url,
            secret: try r.string("secret", maxLength: 1_000))
    }
}
