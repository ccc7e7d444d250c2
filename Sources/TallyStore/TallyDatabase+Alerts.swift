import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

/// Alerts: channels, rules, the firings an evaluation records and the outbox of their deliveries (schema 0014).
extension TallyDatabase {
    public typealias AlertWriteError = TallyStoreAPI.AlertWriteError

    // MARK: Channels

    public func createChannel(projectID: String, _ c: AlertInput.Channel, now: Timestamp) async throws
        -> AlertChannel
    {
        let id = UUID().uuidString.lowercased()
        try await writer.write { db in
            if try Bool.fetchOne(
                db, sql: "SELECT 1 FROM alert_channel WHERE project_id = ? AND name = ?",
                arguments: [projectID, c.name])
                != nil
            {
                throw AlertWriteError.duplicateChannel(c.name)
            }
            try db.execute(
                sql: "INSERT INTO alert_channel VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [projectID, id, c.name, c.type, c.url, c.secret, now.microseconds])
        }
        return AlertChannel(id: id, name: c.name, type: c.type, url: c.url, hasSecret: c.secret != nil)
    }

    public func channels(projectID: String) async throws -> [AlertChannel] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM alert_channel WHERE project_id = ? ORDER BY name", arguments: [projectID]
            ).map { r in
                AlertChannel(
                    id: r["id"], name: r["name"], type: r["type"], url: r["url"],
                    hasSecret: (r["secret"] as String?) != nil)
            }
        }
    }

    /// Deletes a channel by id or name; its pending deliveries are dropped.
    public func deleteChannel(projectID: String, idOrName: String) async throws -> Bool {
        try await writer.write { db in
            guard
                let id = try String.fetchOne(
                    db, sql: "SELECT id FROM alert_channel WHERE project_id = ? AND (id = ? OR name = ?)",
                    arguments: [projectID, idOrName, idOrName])
            else { return false }
            try db.execute(
                sql: "DELETE FROM alert_delivery WHERE project_id = ? AND channel_id = ? AND status = 'pending'",
                arguments: [projectID, id])
            try db.execute(
                sql: "DELETE FROM alert_channel WHERE project_id = ? AND id = ?", arguments: [projectID, id])
            return true
        }
    }

    // MARK: Rules

    /// Creates (`rule.id` new) or replaces a rule; every channel it names must exist.
    public func putRule(projectID: String, _ rule: AlertRule, now: Timestamp) async throws {
        try await writer.write { db in
            for name in rule.channels {
                guard
                    try Bool.fetchOne(
                        db, sql: "SELECT 1 FROM alert_channel WHERE project_id = ? AND name = ?",
                        arguments: [projectID, name]) != nil
                else { throw AlertWriteError.unknownChannel(name) }
            }
            try db.execute(
                sql: """
                    INSERT INTO alert_rule VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, id) DO UPDATE SET
                    name = excluded.name, type = excluded.type, params = excluded.params, channels = excluded.channels,
                    actions = excluded.actions, enabled = excluded.enabled, updated_at = excluded.updated_at
                    """,
                arguments: [
                    projectID, rule.id, rule.name, rule.type.rawValue, JSONValue.object(rule.params).serialized(),
                    JSONValue.array(rule.channels.map(JSONValue.string)).serialized(),
                    JSONValue.array(rule.actions.map(\.json)).serialized(), rule.enabled, now.microseconds,
                    now.microseconds,
                ])
        }
    }

    public func rules(projectID: String) async throws -> [AlertRule] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM alert_rule WHERE project_id = ? ORDER BY created_at, id", arguments: [projectID]
            ).compactMap(Self.rule)
        }
    }

    public func rule(projectID: String, id: String) async throws -> AlertRule? {
        try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM alert_rule WHERE project_id = ? AND id = ?", arguments: [projectID, id]
            ).flatMap(Self.rule)
        }
    }

    /// Deletes a rule; its open firings are resolved (without notifications).
    public func deleteRule(projectID: String, id: String, now: Timestamp) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql:
                    "UPDATE alert_firing SET resolved_at = ? WHERE project_id = ? AND rule_id = ? AND resolved_at IS NULL",
                arguments: [now.microseconds, projectID, id])
            try db.execute(sql: "DELETE FROM alert_rule WHERE project_id = ? AND id = ?", arguments: [projectID, id])
            return db.changesCount > 0
        }
    }

    static func rule(_ row: Row) -> AlertRule? {
        AlertRule.stored(
            id: row["id"], name: row["name"], type: row["type"], params: row["params"], channels: row["channels"],
            actions: row["actions"], enabled: row["enabled"])
    }

    /// Gives every project not yet seeded (`alert_seed`) the seed rules, inside the caller's transaction.
    static func seedAlertRules(_ db: Database, now: Timestamp = .now()) throws {
        let projects = try String.fetchAll(
            db, sql: "SELECT id FROM project WHERE id NOT IN (SELECT project_id FROM alert_seed)")
        for project in projects {
            for seed in AlertRule.seeds {
                let params = (try? AlertInput.params(seed.type, [:])) ?? [:]
                try db.execute(
                    sql: "INSERT INTO alert_rule VALUES (?, ?, ?, ?, ?, '[]', '[]', 1, ?, ?) ON CONFLICT DO NOTHING",
                    arguments: [
                        project, seed.id, seed.name, seed.type.rawValue, JSONValue.object(params).serialized(),
                        now.microseconds, now.microseconds,
                    ])
            }
            try db.execute(sql: "INSERT INTO alert_seed VALUES (?)", arguments: [project])
        }
    }

    // MARK: Evaluation records

    /// Records one evaluation of `rule` in one transaction: a finding with no open firing opens one (with a
    /// pending delivery per channel and the rule's actions applied); an open firing no finding names is resolved
    /// (with a pending `alert.resolved` delivery per channel). Returns what fired and what resolved.
    public func recordAlertCycle(
        projectID: String, rule: AlertRule, findings: [AlertFinding], baseURL: String, now: Timestamp
    ) async throws -> (fired: [AlertFiring], resolved: [AlertFiring]) {
        // Most evaluations change nothing (nothing found, or the same subjects still firing): a read settles that
        // without taking the writer from ingestion. The write below decides again from what it reads itself.
        let openSQL =
            "SELECT id, subject_key FROM alert_firing WHERE project_id = ? AND rule_id = ? AND resolved_at IS NULL"
        let openKeys = try await writer.read { db in
            try Row.fetchAll(db, sql: openSQL, arguments: [projectID, rule.id]).map { $0["subject_key"] as String }
        }
        if Set(openKeys) == Set(findings.map(\.subjectKey)) { return ([], []) }
        let outcome = try await writer.write { db -> ([String], [String], Bool) in
            let open = try Row.fetchAll(db, sql: openSQL, arguments: [projectID, rule.id])
            let openByKey = Dictionary(open.map { ($0["subject_key"] as String, $0["id"] as String) }) { a, _ in a }
            let channels = try Row.fetchAll(
                db, sql: "SELECT id, name, type FROM alert_channel WHERE project_id = ?", arguments: [projectID]
            ).filter { rule.channels.contains($0["name"]) }
            var fired: [String] = []
            var resolved: [String] = []
            var changedPolicy = false
            let seen = Set(findings.map(\.subjectKey))
            for f in findings where openByKey[f.subjectKey] == nil {
                let id = UUID().uuidString.lowercased()
                try db.execute(
                    sql: "INSERT INTO alert_firing VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    arguments: [
                        projectID, id, rule.id, f.subjectKey, f.subject.serialized(), f.value, f.threshold, f.message,
                        now.microseconds,
                    ])
                for c in channels {
                    let body = AlertPayload.body(
                        rule: rule, firingID: id, channelID: c["id"], channelType: c["type"], event: "alert.firing",
                        subject: f.subject, value: f.value, threshold: f.threshold, message: f.message,
                        firedAt: now, resolvedAt: nil, details: f.details, baseURL: baseURL)
                    try Self.enqueue(
                        db, projectID: projectID, firingID: id, channelID: c["id"], event: "alert.firing", body: body,
                        now: now)
                }
                changedPolicy = try Self.applyActions(rule, f, db, projectID: projectID, now: now) || changedPolicy
                fired.append(id)
            }
            for (key, id) in openByKey where !seen.contains(key) {
                try db.execute(
                    sql: "UPDATE alert_firing SET resolved_at = ? WHERE project_id = ? AND id = ?",
                    arguments: [now.microseconds, projectID, id])
                guard
                    let row = try Row.fetchOne(
                        db, sql: "SELECT * FROM alert_firing WHERE project_id = ? AND id = ?",
                        arguments: [projectID, id])
                else { continue }
                let subject = (try? JSONValue.parse(row["subject"] as String)) ?? [:]
                for c in channels {
                    let body = AlertPayload.body(
                        rule: rule, firingID: id, channelID: c["id"], channelType: c["type"], event: "alert.resolved",
                        subject: subject, value: row["value"], threshold: row["threshold"], message: row["message"],
                        firedAt: Timestamp(microseconds: row["fired_at"]), resolvedAt: now, details: [:],
                        baseURL: baseURL)
                    try Self.enqueue(
                        db, projectID: projectID, firingID: id, channelID: c["id"], event: "alert.resolved", body: body,
                        now: now)
                }
                resolved.append(id)
            }
            return (fired, resolved, changedPolicy)
        }
        if outcome.2 { try await reloadBudgetPolicies(ifChanged: true) }
        let all = try await firings(projectID: projectID, ids: outcome.0 + outcome.1)
        return (all.filter { outcome.0.contains($0.id) }, all.filter { outcome.1.contains($0.id) })
    }

    static func enqueue(
        _ db: Database, projectID: String, firingID: String, channelID: String, event: String, body: String,
        now: Timestamp
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO alert_delivery (project_id, firing_id, channel_id, event, body, next_attempt_at, gives_up_at,
                    created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """,
            arguments: [
                projectID, firingID, channelID, event, body, now.microseconds,
                now.microseconds + AlertDelivery.lifetimeMicros, now.microseconds,
            ])
    }

    /// Sets the throttle or switch a firing's actions ask for, in the firing's transaction. True if any was set.
    static func applyActions(_ rule: AlertRule, _ f: AlertFinding, _ db: Database, projectID: String, now: Timestamp)
        throws -> Bool
    {
        var changed = false
        for action in rule.actions {
            switch action {
            case .throttleTenant(let minutes):
                guard let tenant = f.tenant else { continue }
                try db.execute(
                    sql: """
                        INSERT INTO tenant_throttle VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id, tenant) DO UPDATE
                        SET reason = excluded.reason, until = max(coalesce(until, excluded.until), excluded.until),
                        updated_at = excluded.updated_at
                        """,
                    arguments: [
                        projectID, tenant, "alert \(rule.name): \(f.message)",
                        now.microseconds + Int64(minutes) * 60_000_000,
                        now.microseconds,
                    ])
                changed = true
            case .disableFeature(let feature):
                try db.execute(
                    sql: """
                        INSERT INTO feature_switch VALUES (?, ?, ?, 0, ?, NULL, ?) ON CONFLICT (project_id, feature, tenant)
                        DO UPDATE SET enabled = 0, reason = excluded.reason, until = NULL, updated_at = excluded.updated_at
                        """,
                    arguments: [
                        projectID, feature, f.tenant ?? "", "alert \(rule.name): \(f.message)", now.microseconds,
                    ])
                changed = true
            }
        }
        return changed
    }

    // MARK: Reads

    /// Open firings first, then the newest `limit` of the history, each with its deliveries.
    public func firings(projectID: String, limit: Int) async throws -> [AlertFiring] {
        let ids = try await writer.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM alert_firing WHERE project_id = ?
                    ORDER BY resolved_at IS NOT NULL, fired_at DESC, id LIMIT ?
                    """, arguments: [projectID, limit])
        }
        let found = try await firings(projectID: projectID, ids: ids)
        let order = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        return found.sorted { order[$0.id, default: 0] < order[$1.id, default: 0] }
    }

    func firings(projectID: String, ids: [String]) async throws -> [AlertFiring] {
        guard !ids.isEmpty else { return [] }
        return try await writer.read { db in
            let marks = SQLFilter.marks(ids.count)
            let deliveries = try Row.fetchAll(
                db,
                sql: """
                    SELECT d.*, coalesce(c.name, d.channel_id) AS channel FROM alert_delivery d
                    LEFT JOIN alert_channel c ON c.project_id = d.project_id AND c.id = d.channel_id
                    WHERE d.project_id = ? AND d.firing_id IN (\(marks)) ORDER BY d.id
                    """, arguments: StatementArguments([projectID] + ids))
            var byFiring: [String: [AlertFiring.Delivery]] = [:]
            for d in deliveries {
                byFiring[d["firing_id"], default: []].append(
                    AlertFiring.Delivery(
                        channel: d["channel"], event: d["event"], status: d["status"], attempts: d["attempts"],
                        lastStatus: d["last_status"], lastError: d["last_error"],
                        deliveredAt: (d["delivered_at"] as Int64?).map(Timestamp.init(microseconds:))))
            }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT f.*, coalesce(r.name, f.rule_id) AS rule_name, coalesce(r.type, '') AS rule_type
                    FROM alert_firing f LEFT JOIN alert_rule r ON r.project_id = f.project_id AND r.id = f.rule_id
                    WHERE f.project_id = ? AND f.id IN (\(marks))
                    """, arguments: StatementArguments([projectID] + ids)
            ).map { r in
                AlertFiring(
                    id: r["id"], ruleID: r["rule_id"], ruleName: r["rule_name"], ruleType: r["rule_type"],
                    subject: (try? JSONValue.parse(r["subject"] as String)) ?? [:], value: r["value"],
                    threshold: r["threshold"], message: r["message"], firedAt: Timestamp(microseconds: r["fired_at"]),
                    resolvedAt: (r["resolved_at"] as Int64?).map(Timestamp.init(microseconds:)),
                    deliveries: byFiring[r["id"]] ?? [])
            }
        }
    }

    // MARK: Outbox

    public func evaluateAlerts(projectID: String, baseURL: String, now: Timestamp) async throws
        -> (fired: [AlertFiring], resolved: [AlertFiring], failures: [(rule: String, error: String)])
    {
        try await AlertEvaluation(self).run(projectID: projectID, baseURL: baseURL, now: now)
    }

    /// Pending deliveries whose next attempt is due, oldest first (one process delivers from a SQLite file: no
    /// lease is written).
    public func dueDeliveries(now: Timestamp, limit: Int) async throws -> [PendingDelivery] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT d.id, d.body, d.attempts, d.gives_up_at, c.url, c.type, c.secret FROM alert_delivery d
                    JOIN alert_channel c ON c.project_id = d.project_id AND c.id = d.channel_id
                    WHERE d.status = 'pending' AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at, d.id LIMIT ?
                    """, arguments: [now.microseconds, limit]
            ).map { r in
                PendingDelivery(
                    id: r["id"], url: r["url"], type: r["type"], secret: r["secret"], body: r["body"],
                    attempts: r["attempts"], givesUpAt: Timestamp(microseconds: r["gives_up_at"]))
            }
        }
    }

    /// Records an attempt: delivered, or retried at `retryAt` (nil: given up, status `failed`).
    public func recordDeliveryAttempt(
        id: Int64, delivered: Bool, httpStatus: Int?, error: String?, retryAt: Timestamp?, now: Timestamp
    ) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE alert_delivery SET attempts = attempts + 1, last_status = ?, last_error = ?,
                    status = ?, next_attempt_at = coalesce(?, next_attempt_at), delivered_at = ? WHERE id = ?
                    """,
                arguments: [
                    httpStatus, error.map { String($0.prefix(500)) },
                    delivered ? "delivered" : (retryAt == nil ? "failed" : "pending"), retryAt?.microseconds,
                    delivered ? now.microseconds : nil, id,
                ])
        }
    }
}
