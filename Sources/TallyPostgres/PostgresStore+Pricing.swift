import Foundation
import PostgresNIO
import TallyCore
import TallySQL
import TallyStoreAPI

/// Model prices and pricing settings (schema/postgres 0002). Every change bumps the project's `pricing_version`, so
/// each collector's cached price table is re-read at the first request after a change made on any collector.
extension PostgresStore: PricingStore {
    /// The project's pricing: cached while its `pricing_version` is unchanged.
    func pricing(projectID: String) async throws -> ProjectPricing {
        var version: Int64 = 0
        for try await v in try await client.query(
            "SELECT pricing_version FROM project_setting WHERE project_id = \(projectID)", logger: logger
        ).decode(Int64.self) {
            version = v
        }
        if let hit = pricingCache.get(projectID, version: version) { return hit }
        // Read after the version: a change in between is cached under the older version and re-read next time.
        let settings = try await pricingSettings(projectID: projectID)
        let pricing = (
            PriceTable(projectModels: try await models(projectID: projectID), builtinEnabled: settings.builtinPrices),
            settings.priceBy
        )
        pricingCache.put(projectID, version: version, pricing)
        return pricing
    }

    public func pricingSettings(projectID: String) async throws -> PricingSettings {
        for try await (builtin, priceBy) in try await client.query(
            "SELECT builtin_prices, price_by FROM project_setting WHERE project_id = \(projectID)", logger: logger
        ).decode((Bool, String).self) {
            return PricingSettings(builtinPrices: builtin, priceBy: PriceBy(rawValue: priceBy) ?? .requested)
        }
        return PricingSettings()
    }

    public func setPricingSettings(projectID: String, _ settings: PricingSettings) async throws {
        try await client.query(
            """
            INSERT INTO project_setting (project_id, builtin_prices, price_by, pricing_version)
            VALUES (\(projectID), \(settings.builtinPrices), \(settings.priceBy.rawValue), 1)
            ON CONFLICT (project_id) DO UPDATE SET builtin_prices = excluded.builtin_prices,
                price_by = excluded.price_by, pricing_version = project_setting.pricing_version + 1
            """, logger: logger)
    }

    /// The project's own models, oldest first.
    public func models(projectID: String) async throws -> [ModelPrice] {
        var out: [ModelPrice] = []
        for try await (definition, created) in try await client.query(
            "SELECT definition::text, created_at FROM model WHERE project_id = \(projectID) ORDER BY created_at, id",
            logger: logger
        ).decode((String, Int64).self) {
            guard let json = try? JSONValue.parse(definition),
                var model = try? ModelPrice(json: json, projectID: projectID)
            else { continue }
            model.createdAt = Timestamp(microseconds: created)
            out.append(model)
        }
        return out
    }

    /// Stores a project model (the same id replaces it and keeps its `createdAt`); returns it as stored.
    public func saveModel(projectID: String, _ model: ModelPrice) async throws -> ModelPrice {
        let definition = model.json.serialized()
        let now = Timestamp.now().microseconds
        let created = try await transaction { connection in
            var created: Int64 = now
            for try await c in try await connection.query(
                """
                INSERT INTO model (project_id, id, model_name, definition, created_at)
                VALUES (\(projectID), \(model.id), \(model.modelName), \(definition)::jsonb, \(now))
                ON CONFLICT (project_id, id) DO UPDATE SET model_name = excluded.model_name,
                    definition = excluded.definition
                RETURNING created_at
                """, logger: logger
            ).decode(Int64.self) {
                created = c
            }
            try await bumpPricingVersion(projectID: projectID, connection)
            return created
        }
        var stored = model
        stored.createdAt = Timestamp(microseconds: created)
        return stored
    }

    @discardableResult
    public func deleteModel(projectID: String, id: String) async throws -> Bool {
        try await transaction { connection in
            var deleted = false
            for try await _ in try await connection.query(
                "DELETE FROM model WHERE project_id = \(projectID) AND id = \(id) RETURNING id", logger: logger)
            {
                deleted = true
            }
            if deleted { try await bumpPricingVersion(projectID: projectID, connection) }
            return deleted
        }
    }

    /// Re-prices every observation of the project whose start time is in [from, to) and that has no client-given
    /// cost, with the current prices and settings, and splits calls that name tenant shares but were stored unsplit.
    /// Works through the observations 500 at a time, each batch one transaction under the observations' locks (so a
    /// concurrent ingest of one of them merges before or after, never in between). Returns how many changed.
    public func recomputeCosts(projectID: String, from: Timestamp?, to: Timestamp?) async throws -> Int {
        let pricing = try await pricing(projectID: projectID)
        var conditions = SQLConditions()
        conditions.add("project_id = ?", .text(projectID))
        // Calls with a client-given cost only when they may name shares not yet split.
        conditions.add(
            "(provided_cost_details = '{}'::jsonb OR (NOT shared AND (metadata::text LIKE '%tenantShares%' "
                + "OR metadata::text LIKE '%tally.tenant_shares%')))")
        if let from { conditions.add("start_time >= ?", .int(from.microseconds)) }
        if let to { conditions.add("start_time < ?", .int(to.microseconds)) }
        var changed = 0
        var after: (start: Int64, id: String)?
        while true {
            var page = conditions
            if let after {
                page.keyset(
                    column: "start_time", ascending: true, key: .int(after.start), tie: "id", tieAscending: true,
                    after: after.id)
            }
            var binds = PGBinds()
            let predicate = binds.render(page)
            var batch: [(start: Int64, id: String)] = []
            for try await row in try await client.query(
                binds.query(
                    "SELECT start_time, id FROM observation WHERE \(predicate) ORDER BY start_time, id LIMIT 500"),
                logger: logger
            ).decode((Int64, String).self) {
                batch.append(row)
            }
            guard let last = batch.last else { return changed }
            let now = Timestamp.now()
            changed += try await retryingConflicts {
                try await self.transaction { connection in
                    try await IngestPass(
                        connection, logger: self.logger, projectID: projectID, rules: .standard, pricing: pricing,
                        now: now
                    ).reprice(batch.map(\.id))
                }
            }
            after = last
        }
    }

    private func bumpPricingVersion(projectID: String, _ connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO project_setting (project_id, pricing_version) VALUES (\(projectID), 1)
            ON CONFLICT (project_id) DO UPDATE SET pricing_version = project_setting.pricing_version + 1
            """, logger: logger)
    }
}

/// Per-project price tables with the `pricing_version` they were read at.
final class PostgresPricingCache: @unchecked Sendable {  // `entries` is only touched under `lock`
    private let lock = NSLock()
    private var entries: [String: (version: Int64, pricing: ProjectPricing)] = [:]

    func get(_ projectID: String, version: Int64) -> ProjectPricing? {
        lock.withLock {
            guard let entry = entries[projectID], entry.version == version else { return nil }
            return entry.pricing
        }
    }

    func put(_ projectID: String, version: Int64, _ pricing: ProjectPricing) {
        lock.withLock {
            if entries.count >= 10_000 { entries.removeAll() }
            entries[projectID] = (version, pricing)
        }
    }
}
