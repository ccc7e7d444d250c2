import Foundation
import PostgresNIO
import TallyCore
import TallyStoreAPI

/// Alerts (schema/postgres 0005, 0007), with the SQLite store's rules, for many collectors: each project's rules are
/// evaluated by the collector that claims the interval (`claimWork`), a rule's cycle is recorded under its lock (a subject fires
/// once), and due deliveries are leased with FOR UPDATE SKIP LOCKED (each sent by one collector at a time).
extension PostgresStore: AlertStore {
    // MARK: Channels

    public func createChannel(projectID: String, _ c: AlertInput.Channel, now: Timestamp) async throws -> AlertChannel {
        let id = UUID().uuidString.lowercased()
        var inserted = false
        for try await _ in try await client.query(
            """
            INSERT INTO alert_channel VALUES (\(projectID), \(id), \(c.name), \(c.type), \(c.url), \(c.secret),
                \(now.microseconds))
            ON CONFLICT (project_id, name) DO NOTHING RETURNING 1
            """, logger: logger)
        {
            inserted = true
        }
        guard inserted else { throw AlertWriteError.duplicateChannel(c.name) }
        return AlertChannel(id: id, name: c.name, type: c.type, url: c.url, hasSecret: c.secret != nil)
    }

    public func channels(projectID: String) async throws -> [AlertChannel] {
        var out: [AlertChannel] = []
        for try await (id, name, type, url, hasSecret) in try await client.query(
            """
            SELECT id, name, type, url, secret IS NOT NULL FROM alert_channel WHERE project_id = \(projectID)
            ORDER BY name
            """, logger: logger
        ).decode((String, String, String, String, Bool).self) {
            out.append(AlertChannel(id: id, name: name, type: type, url: url, hasSecret: hasSecret))
        }
        return out
    }

    /// Deletes a channel by id or name; its pending deliveries are dropped.
    public func deleteChannel(projectID: String, idOrName: String) async throws -> Bool {
        try await transaction { connection in
            var found: String?
            for try await id in try await connection.query(
                """
                SELECT id FROM alert_channel WHERE project_id = \(projectID) AND (id = \(idOrName) OR name = \(idOrName))
                ORDER BY id = \(idOrName) DESC LIMIT 1 FOR UPDATE
                """, logger: self.logger
            ).decode(String.self) {
                found = id
            }
            guard let id = found else { return false }
            try await connection.query(
                """
                DELETE FROM alert_delivery WHERE project_id = \(projectID) AND channel_id = \(id) AND status = 'pending'
                """, logger: self.logger)
            try await connection.query(
                "DELETE FROM alert_channel WHERE project_id = \(projectID) AND id = \(id)", logger: self.logger)
            return true
        }
    }

    // MARK: Rules

    /// Creates (`rule.id` new) or replaces a rule; every channel it names must exist (and stays until commit).
    public func putRule(projectID: String, _ rule: AlertRule, now: Timestamp) async throws {
        try await transaction { connection in
            var existing = Set<String>()
            for try await name in try await connection.query(
                """
                SELECT name FROM alert_channel WHERE project_id = \(projectID) AND name = ANY(\(rule.channels))
                FOR SHARE
                """, logger: self.logger
            ).decode(String.self) {
                existing.insert(name)
            }
            if let missing = rule.channels.first(where: { !existing.contains($0) }) {
                throw AlertWriteError.unknownChannel(missing)
            }
            let params = JSONValue.object(rule.params).serialized()
            let channels = JSONValue.array(rule.channels.map(JSONValue.string)).serialized()
            let actions = JSONValue.array(rule.actions.map(\.json)).serialized()
            try await connection.query(
                """
                INSERT INTO alert_rule VALUES (\(projectID), \(rule.id), \(rule.name), \(rule.type.rawValue),
                    \(params)::jsonb, \(channels)::jsonb, \(actions)::jsonb, \(rule.enabled), \(now.microseconds),
                    \(now.microseconds))
                ON CONFLICT (project_id, id) DO UPDATE SET name = excluded.name, type = excluded.type,
                    params = excluded.params, channels = excluded.channels, actions = excluded.actions,
                    enabled = excluded.enabled, updated_at = excluded.updated_at
                """, logger: self.logger)
        }
    }

    public func rules(projectID: String) async throws -> [AlertRule] {
        try await rules("WHERE project_id = \(projectID) ORDER BY created_at, id")
    }

    public func rule(projectID: String, id: String) async throws -> AlertRule? {
        try await rules("WHERE project_id = \(projectID) AND id = \(id)").first
    }

    private func rules(_ condition: PostgresQuery) async throws -> [AlertRule] {
        let query = PostgresQuery.prefixed(
            "SELECT id, name, type, params::text, channels::text, actions::text, enabled FROM alert_rule ", condition)
        var out: [AlertRule] = []
        for try await (id, name, type, params, channels, actions, enabled) in try await client.query(
            query, logger: logger
        ).decode((String, String, String, String, String, String, Bool).self) {
            if let rule = AlertRule.stored(
                id: id, name: name, type: type, params: params, channels: channels, actions: actions, enabled: enabled)
            {
                out.append(rule)
            }
        }
        return out
    }

    /// Deletes a rule; its open firings are resolved (without notifications).
    public func deleteRule(projectID: String, id: String, now: Timestamp) async throws -> Bool {
        try await transaction { connection in
            try await connection.query(
                """
                UPDATE alert_firing SET resolved_at = \(now.microseconds)
                WHERE project_id = \(projectID) AND rule_id = \(id) AND resolved_at IS NULL
                """, logger: self.logger)
            var deleted = false
            for try await _ in try await connection.query(
                "DELETE FROM alert_rule WHERE project_id = \(projectID) AND id = \(id) RETURNING 1", logger: self.logger
            ) {
                deleted = true
            }
            return deleted
        }
    }

    /// Gives project `projectID` the seed rules unless it had them once (`alert_seed`).
    func seedAlertRules(projectID: String, now: Timestamp = .now()) async throws {
        try await transaction { connection in
            var fresh = false
            for try await _ in try await connection.query(
                "INSERT INTO alert_seed VALUES (\(projectID)) ON CONFLICT DO NOTHING RETURNING 1", logger: self.logger)
            {
                fresh = true
            }
            guard fresh else { return }
            for seed in AlertRule.seeds {
                let params = JSONValue.object((try? AlertInput.params(seed.type, [:])) ?? [:]).serialized()
                try await connection.query(
                    """
                    INSERT INTO alert_rule VALUES (\(projectID), \(seed.id), \(seed.name), \(seed.type.rawValue),
                        \(params)::jsonb, '[]', '[]', true, \(now.microseconds), \(now.microseconds))
                    ON CONFLICT DO NOTHING
                    """, logger: self.logger)
            }
        }
    }

    // MARK: Evaluation

    public func evaluateAlerts(projectID: String, baseURL: String, now: Timestamp) async throws
        -> (fired: [AlertFiring], resolved: [AlertFiring], failures: [(rule: String, error: String)])
    {
        try await AlertEvaluation(self).run(projectID: projectID, baseURL: baseURL, now: now)
    }

    public func recordAlertCycle(
        projectID: String, rule: AlertRule, findings: [AlertFinding], baseURL: String, now: Timestamp
    ) async throws -> (fired: [AlertFiring], resolved: [AlertFiring]) {
        // Most evaluations change nothing: a read settles that; the transaction decides again under the rule's lock.
        let openNow = try await client.withConnection { try await self.openFirings($0, projectID, rule.id) }
        if Set(openNow.keys) == Set(findings.map(\.subjectKey)) { return ([], []) }
        let (fired, resolved) = try await retryingConflicts {
            try await transaction { connection in
                try await EntityLocks.lock(
                    [EntityLocks.key("alert-rule", projectID, rule.id)], connection, logger: self.logger)
                return try await self.record(
                    connection, projectID: projectID, rule: rule, findings: findings, baseURL: baseURL, now: now)
            }
        }
        let all = try await firings(projectID: projectID, ids: fired + resolved)
        return (all.filter { fired.contains($0.id) }, all.filter { resolved.contains($0.id) })
    }

    /// The rule's open firings: subject key → firing id.
    private func openFirings(_ connection: PostgresConnection, _ projectID: String, _ ruleID: String) async throws
        -> [String: String]
    {
        var out: [String: String] = [:]
        for try await (id, key) in try await connection.query(
            """
            SELECT id, subject_key FROM alert_firing
            WHERE project_id = \(projectID) AND rule_id = \(ruleID) AND resolved_at IS NULL
            """, logger: logger
        ).decode((String, String).self) {
            out[key] = id
        }
        return out
    }

    /// The cycle's writes, under the rule's lock: returns the ids that fired and resolved.
    private func record(
        _ connection: PostgresConnection, projectID: String, rule: AlertRule, findings: [AlertFinding],
        baseURL: String, now: Timestamp
    ) async throws -> ([String], [String]) {
        let open = try await openFirings(connection, projectID, rule.id)
        var channels: [(id: String, type: String)] = []
        for try await (id, type) in try await connection.query(
            """
            SELECT id, type FROM alert_channel WHERE project_id = \(projectID) AND name = ANY(\(rule.channels))
            ORDER BY id
            """, logger: logger
        ).decode((String, String).self) {
            channels.append((id, type))
        }
        var fired: [String] = []
        var resolved: [String] = []
        for f in findings where open[f.subjectKey] == nil {
            let id = UUID().uuidString.lowercased()
            try await connection.query(
                """
                INSERT INTO alert_firing VALUES (\(projectID), \(id), \(rule.id), \(f.subjectKey),
                    \(f.subject.serialized())::jsonb, \(f.value), \(f.threshold), \(f.message), \(now.microseconds), NULL)
                """, logger: logger)
            for c in channels {
                let body = AlertPayload.body(
                    rule: rule, firingID: id, channelID: c.id, channelType: c.type, event: "alert.firing",
                    subject: f.subject, value: f.value, threshold: f.threshold, message: f.message, firedAt: now,
                    resolvedAt: nil, details: f.details, baseURL: baseURL)
                try await enqueue(connection, projectID, firingID: id, channelID: c.id, "alert.firing", body, now)
            }
            try await applyActions(connection, rule, f, projectID: projectID, now: now)
            fired.append(id)
        }
        let seen = Set(findings.map(\.subjectKey))
        for (key, id) in open.sorted(by: { $0.key < $1.key }) where !seen.contains(key) {
            for try await (subject, value, threshold, message, firedAt) in try await connection.query(
                """
                UPDATE alert_firing SET resolved_at = \(now.microseconds) WHERE project_id = \(projectID) AND id = \(id)
                RETURNING subject::text, value, threshold, message, fired_at
                """, logger: logger
            ).decode((String, Double, Double, String, Int64).self) {
                for c in channels {
                    let body = AlertPayload.body(
                        rule: rule, firingID: id, channelID: c.id, channelType: c.type, event: "alert.resolved",
                        subject: StoredJSON.jsonValue(subject) ?? [:], value: value, threshold: threshold,
                        message: message, firedAt: Timestamp(microseconds: firedAt), resolvedAt: now, details: [:],
                        baseURL: baseURL)
                    try await enqueue(connection, projectID, firingID: id, channelID: c.id, "alert.resolved", body, now)
                }
            }
            resolved.append(id)
        }
        return (fired, resolved)
    }

    private func enqueue(
        _ connection: PostgresConnection, _ projectID: String, firingID: String, channelID: String, _ event: String,
        _ body: String, _ now: Timestamp
    ) async throws {
        try await connection.query(
            """
            INSERT INTO alert_delivery (project_id, firing_id, channel_id, event, body, next_attempt_at, gives_up_at,
                created_at)
            VALUES (\(projectID), \(firingID), \(channelID), \(event), \(body), \(now.microseconds),
                \(now.microseconds + AlertDelivery.lifetimeMicros), \(now.microseconds))
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    /// Sets the throttle or switch a firing's actions ask for, in the firing's transaction (every collector's next
    /// budget read sees the moved budget_revision).
    private func applyActions(
        _ connection: PostgresConnection, _ rule: AlertRule, _ f: AlertFinding, projectID: String, now: Timestamp
    ) async throws {
        let reason = "alert \(rule.name): \(f.message)"
        for action in rule.actions {
            switch action {
            case .throttleTenant(let minutes):
                guard let tenant = f.tenant else { continue }
                let until = now.microseconds + Int64(minutes) * 60_000_000
                try await connection.query(
                    """
                    INSERT INTO tenant_throttle VALUES (\(projectID), \(tenant), \(reason), \(until), \(now.microseconds))
                    ON CONFLICT (project_id, tenant) DO UPDATE SET reason = excluded.reason,
                        until = greatest(coalesce(tenant_throttle.until, excluded.until), excluded.until),
                        updated_at = excluded.updated_at
                    """, logger: logger)
            case .disableFeature(let feature):
                try await connection.query(
                    """
                    INSERT INTO feature_switch VALUES (\(projectID), \(feature), \(f.tenant ?? ""), false, \(reason),
                        NULL, \(now.microseconds))
                    ON CONFLICT (project_id, feature, tenant) DO UPDATE SET enabled = false,
                        reason = excluded.reason, until = NULL, updated_at = excluded.updated_at
                    """, logger: logger)
            }
        }
    }

    // MARK: Reads

    /// Open firings first, then the newest `limit` of the history, each with its deliveries.
    public func firings(projectID: String, limit: Int) async throws -> [AlertFiring] {
        var ids: [String] = []
        for try await id in try await client.query(
            """
            SELECT id FROM alert_firing WHERE project_id = \(projectID)
            ORDER BY resolved_at IS NOT NULL, fired_at DESC, id LIMIT \(Int64(limit))
            """, logger: logger
        ).decode(String.self) {
            ids.append(id)
        }
        let found = try await firings(projectID: projectID, ids: ids)
        let order = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        return found.sorted { order[$0.id, default: 0] < order[$1.id, default: 0] }
    }

    func firings(projectID: String, ids: [String]) async throws -> [AlertFiring] {
        guard !ids.isEmpty else { return [] }
        var byFiring: [String: [AlertFiring.Delivery]] = [:]
        for try await (firing, channel, event, status, attempts, lastStatus, lastError, deliveredAt)
            in try await client
            .query(
                """
                SELECT d.firing_id, coalesce(c.name, d.channel_id), d.event, d.status, d.attempts, d.last_status,
                    d.last_error, d.delivered_at
                FROM alert_delivery d
                LEFT JOIN alert_channel c ON c.project_id = d.project_id AND c.id = d.channel_id
                WHERE d.project_id = \(projectID) AND d.firing_id = ANY(\(ids)) ORDER BY d.id
                """, logger: logger
            ).decode((String, String, String, String, Int32, Int32?, String?, Int64?).self)
        {
            byFiring[firing, default: []].append(
                AlertFiring.Delivery(
                    channel: channel, event: event, status: status, attempts: Int(attempts),
                    lastStatus: lastStatus.map(Int.init), lastError: lastError,
                    deliveredAt: deliveredAt.map(Timestamp.init(microseconds:))))
        }
        var out: [AlertFiring] = []
        for try await row in try await client.query(
            """
            SELECT f.id, f.rule_id, coalesce(r.name, f.rule_id), coalesce(r.type, ''), f.subject::text, f.value,
                f.threshold, f.message, f.fired_at, f.resolved_at
            FROM alert_firing f LEFT JOIN alert_rule r ON r.project_id = f.project_id AND r.id = f.rule_id
            WHERE f.project_id = \(projectID) AND f.id = ANY(\(ids))
            """, logger: logger
        ).decode((String, String, String, String, String, Double, Double, String, Int64, Int64?).self) {
            let (id, ruleID, ruleName, ruleType, subject, value, threshold, message, firedAt, resolvedAt) = row
            out.append(
                AlertFiring(
                    id: id, ruleID: ruleID, ruleName: ruleName, ruleType: ruleType,
                    subject: StoredJSON.jsonValue(subject) ?? [:], value: value, threshold: threshold, message: message,
                    firedAt: Timestamp(microseconds: firedAt),
                    resolvedAt: resolvedAt.map(Timestamp.init(microseconds:)),
                    deliveries: byFiring[id] ?? []))
        }
        return out
    }

    // MARK: Outbox

    /// Leases due deliveries: rows another collector holds are skipped, and each taken row's next attempt moves
    /// `AlertDelivery.leaseMicros` ahead until `recordDeliveryAttempt` sets it.
    public func dueDeliveries(now: Timestamp, limit: Int) async throws -> [PendingDelivery] {
        var out: [PendingDelivery] = []
        for try await row in try await client.query(
            """
            WITH due AS (
                SELECT project_id, id FROM alert_delivery
                WHERE status = 'pending' AND next_attempt_at <= \(now.microseconds)
                ORDER BY next_attempt_at, id LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED
            ), leased AS (
                UPDATE alert_delivery d SET next_attempt_at = \(now.microseconds + AlertDelivery.leaseMicros)
                FROM due WHERE d.project_id = due.project_id AND d.id = due.id
                RETURNING d.project_id, d.id, d.channel_id, d.body, d.attempts, d.gives_up_at
            )
            SELECT l.id, l.body, l.attempts, l.gives_up_at, c.url, c.type, c.secret
            FROM leased l JOIN alert_channel c ON c.project_id = l.project_id AND c.id = l.channel_id
            ORDER BY l.id
            """, logger: logger
        ).decode((Int64, String, Int32, Int64, String, String, String?).self) {
            let (id, body, attempts, givesUp, url, type, secret) = row
            out.append(
                PendingDelivery(
                    id: id, url: url, type: type, secret: secret, body: body, attempts: Int(attempts),
                    givesUpAt: Timestamp(microseconds: givesUp)))
        }
        return out
    }

    /// Records an attempt: delivered, or retried at `retryAt` (nil: given up, status `failed`).
    public func recordDeliveryAttempt(
        id: Int64, delivered: Bool, httpStatus: Int?, error: String?, retryAt: Timestamp?, now: Timestamp
    ) async throws {
        let status = delivered ? "delivered" : (retryAt == nil ? "failed" : "pending")
        try await client.query(
            """
            UPDATE alert_delivery SET attempts = attempts + 1, last_status = \(httpStatus.map(Int32.init)),
                last_error = \(error.map { String($0.prefix(500)) }), status = \(status),
                next_attempt_at = coalesce(\(retryAt?.microseconds), next_attempt_at),
                delivered_at = \(delivered ? now.microseconds : nil)
            WHERE id = \(id)
            """, logger: logger)
    }
}
