import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

extension TallyDatabase {
    static func pricing(_ db: Database, projectID: String) throws -> (table: PriceTable, priceBy: PriceBy) {
        let settings = try settings(db, projectID: projectID)
        let models = try projectModels(db, projectID: projectID)
        return (PriceTable(projectModels: models, builtinEnabled: settings.builtinPrices), settings.priceBy)
    }

    static func settings(_ db: Database, projectID: String) throws -> PricingSettings {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT builtin_prices, price_by FROM project_setting WHERE project_id = ?"),
                arguments: [projectID])
        else { return PricingSettings() }
        return PricingSettings(builtinPrices: row[0], priceBy: PriceBy(rawValue: row[1]) ?? .requested)
    }

    static func projectModels(_ db: Database, projectID: String) throws -> [ModelPrice] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT definition, created_at FROM model WHERE project_id = ? ORDER BY created_at"),
            arguments: [projectID]
        ).compactMap { row in
            guard let json = try? JSONValue.parse(row["definition"] as String),
                var model = try? ModelPrice(json: json, projectID: projectID)
            else { return nil }
            model.createdAt = Timestamp(microseconds: row["created_at"])
            return model
        }
    }

    public func pricingSettings(projectID: String) async throws -> PricingSettings {
        try await writer.read { db in try Self.settings(db, projectID: projectID) }
    }

    public func setPricingSettings(projectID: String, _ settings: PricingSettings) async throws {
        defer { pricingCache.invalidate(projectID) }
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO project_setting (project_id, builtin_prices, price_by) VALUES (?, ?, ?)
                    ON CONFLICT (project_id) DO UPDATE SET builtin_prices = excluded.builtin_prices,
                        price_by = excluded.price_by
                    """, arguments: [projectID, settings.builtinPrices, settings.priceBy.rawValue])
        }
    }

    /// The project's own models, newest definitions last.
    public func models(projectID: String) async throws -> [ModelPrice] {
        try await writer.read { db in try Self.projectModels(db, projectID: projectID) }
    }

    /// Stores a project model (same id replaces). New prices apply to observations ingested from now on;
    /// `recomputeCosts` re-prices stored ones.
    /// Returns the model as stored: `createdAt` is when its id was first stored (a replacement keeps it).
    public func saveModel(projectID: String, _ model: ModelPrice) async throws -> ModelPrice {
        defer { pricingCache.invalidate(projectID) }
        let created = try await writer.write { db in
            try Int64.fetchOne(
                db,
                sql: """
                    INSERT INTO model (project_id, id, model_name, definition, created_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (project_id, id) DO UPDATE SET model_name = excluded.model_name,
                        definition = excluded.definition
                    RETURNING created_at
                    """,
                arguments: [
                    projectID, model.id, model.modelName, model.json.serialized(), Timestamp.now().microseconds,
                ])
        }
        var stored = model
        stored.createdAt = created.map(Timestamp.init(microseconds:))
        return stored
    }

    @discardableResult
    public func deleteModel(projectID: String, id: String) async throws -> Bool {
        defer { pricingCache.invalidate(projectID) }
        return try await writer.write { db in
            try db.execute(sql: "DELETE FROM model WHERE project_id = ? AND id = ?", arguments: [projectID, id])
            return db.changesCount > 0
        }
    }

    /// Re-prices every observation of the project whose start time is in [from, to) and that has no client-given
    /// cost, with the current prices and settings, in one transaction, and splits calls that name tenant shares but
    /// were stored before shares were split. Returns how many observations changed (cost, saving or split).
    public func recomputeCosts(projectID: String, from: Timestamp?, to: Timestamp?) async throws -> Int {
        let pricing = try await cachedPricing(projectID: projectID)
        return try await writer.write { db in
            var f = SQLFilter()
            f.add("project_id = ?", [projectID])
            // Calls with a client-given cost only when they may name shares not yet split (schema 0022).
            f.add(
                "(provided_cost_details = '{}' OR (NOT shared AND (metadata LIKE '%tenantShares%' "
                    + "OR metadata LIKE '%tally.tenant_shares%')))")
            if let from { f.add("start_time >= ?", [from.microseconds]) }
            if let to { f.add("start_time < ?", [to.microseconds]) }
            let rows = try Row.fetchCursor(db, sql: "SELECT * FROM observation WHERE \(f.sql)", arguments: f.arguments)
            var changed: [Observation] = []
            while let row = try rows.next() {
                var o = Observation(row: row)
                let before = (o.cost, o.savingsNanos)
                // A cost past the limit leaves the observation unpriced rather than failing the whole recompute.
                try? o.applyPricing(pricing.table, priceBy: pricing.priceBy)
                // A call stored before shares were split (schema 0022) that names them is split now.
                let unsplit = !(row["shared"] as Bool) && !Self.shares(of: o, totals: o.totals).isEmpty
                if o.cost != before.0 || o.savingsNanos != before.1 || unsplit { changed.append(o) }
            }
            let now = Timestamp.now()
            for o in changed { try Self.write(o, projectID: projectID, now: now, db) }
            var userRollup = UserRollupChanges()
            for traceID in Set(changed.map(\.traceID)).sorted() {
                try userRollup.noteBefore(traceID, projectID: projectID, db)
                try Self.refreshTraceTotals(db, projectID: projectID, traceID: traceID)
            }
            try userRollup.apply(projectID: projectID, db)
            return changed.count
        }
    }
}
