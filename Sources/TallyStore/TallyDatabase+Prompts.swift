import Foundation
import GRDB
import TallyCore
import TallySQL
import TallyStoreAPI

/// Prompt management (schema 0016). Every write is one transaction, so concurrent creates of one name get distinct
/// versions and a label is never on two versions.
extension TallyDatabase {
    /// Stores `p` as the next version of its name (1 for a new name) and returns it. Its labels move to it from
    /// other versions; given tags replace the name's tags on every version. Throws `IngestionError.invalid` when
    /// the name's latest version has another type (Langfuse refuses that too).
    public func createPrompt(projectID: String, _ p: NewPrompt, now: Timestamp) async throws -> Prompt {
        try await writer.write { db in
            let latest = try Row.fetchOne(
                db,
                sql:
                    "SELECT version, type, tags FROM prompt WHERE project_id = ? AND name = ? ORDER BY version DESC LIMIT 1",
                arguments: [projectID, p.name])
            if let latest, let type = latest["type"] as String?, type != p.type.rawValue {
                throw IngestionError.invalid(
                    "type: the versions of \(p.name.prefix(80)) are \(type) prompts; a new version must be one too")
            }
            let version = (latest?["version"] as Int? ?? 0) + 1
            let tags = p.tags ?? Rows.strings(latest?["tags"])
            let tagsJSON = JSONValue.array(tags.map { .string($0) }).serialized()
            try db.execute(
                sql: """
                    INSERT INTO prompt (project_id, name, version, type, prompt, config, tags, commit_message,
                        created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    projectID, p.name, version, p.type.rawValue, p.prompt.serialized(), p.config.serialized(), tagsJSON,
                    p.commitMessage, now.microseconds, now.microseconds,
                ])
            if p.tags != nil {
                try db.execute(
                    sql: "UPDATE prompt SET tags = ? WHERE project_id = ? AND name = ? AND tags <> ?",
                    arguments: [tagsJSON, projectID, p.name, tagsJSON])
            }
            try Self.moveLabels(db, projectID: projectID, name: p.name, version: version, labels: p.labels)
            return try Self.prompt(db, projectID: projectID, name: p.name, version: version)!
        }
    }

    /// The version `selector` names (`latest`: the highest), or nil.
    public func prompt(projectID: String, name: String, _ selector: PromptSelector) async throws -> Prompt? {
        try await writer.read { db in
            let version: Int?
            switch selector {
            case .version(let v): version = v
            case .label(PromptInput.latest):
                version = try Int.fetchOne(
                    db, sql: "SELECT max(version) FROM prompt WHERE project_id = ? AND name = ?",
                    arguments: [projectID, name])
            case .label(let label):
                version = try Int.fetchOne(
                    db, sql: "SELECT version FROM prompt_label WHERE project_id = ? AND name = ? AND label = ?",
                    arguments: [projectID, name, label])
            }
            return try version.flatMap { try Self.prompt(db, projectID: projectID, name: name, version: $0) }
        }
    }

    /// Every stored version of `name`, oldest first.
    public func promptVersions(projectID: String, name: String) async throws -> [Prompt] {
        try await writer.read { db in
            try Int.fetchAll(
                db, sql: "SELECT version FROM prompt WHERE project_id = ? AND name = ? ORDER BY version",
                arguments: [projectID, name]
            ).compactMap { try Self.prompt(db, projectID: projectID, name: name, version: $0) }
        }
    }

    /// Adds `labels` to one version (moving them from the others; its own labels stay, as Langfuse's PATCH does).
    /// nil when the version does not exist.
    public func addPromptLabels(
        projectID: String, name: String, version: Int, labels: [String], now: Timestamp
    ) async throws -> Prompt? {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE prompt SET updated_at = ? WHERE project_id = ? AND name = ? AND version = ?",
                arguments: [now.microseconds, projectID, name, version])
            guard db.changesCount > 0 else { return nil }
            try Self.moveLabels(db, projectID: projectID, name: name, version: version, labels: labels)
            return try Self.prompt(db, projectID: projectID, name: name, version: version)
        }
    }

    /// Deletes every version of `name`, or the one `selector` names (a label: the version holding it; `latest`:
    /// the highest). Returns how many versions went; the next create numbers after the highest that is left.
    public func deletePrompt(projectID: String, name: String, _ selector: PromptSelector?) async throws -> Int {
        try await writer.write { db in
            switch selector {
            case nil:
                try db.execute(
                    sql: "DELETE FROM prompt WHERE project_id = ? AND name = ?", arguments: [projectID, name])
            case .version(let v):
                try db.execute(
                    sql: "DELETE FROM prompt WHERE project_id = ? AND name = ? AND version = ?",
                    arguments: [projectID, name, v])
            case .label(PromptInput.latest):
                try db.execute(
                    sql: """
                        DELETE FROM prompt WHERE project_id = ?1 AND name = ?2
                            AND version = (SELECT max(version) FROM prompt WHERE project_id = ?1 AND name = ?2)
                        """, arguments: [projectID, name])
            case .label(let label):
                try db.execute(
                    sql: """
                        DELETE FROM prompt WHERE project_id = ?1 AND name = ?2 AND version =
                            (SELECT version FROM prompt_label WHERE project_id = ?1 AND name = ?2 AND label = ?3)
                        """, arguments: [projectID, name, label])
            }
            return db.changesCount
        }
    }

    /// Names whose versions pass the filters, by name, each with those versions, their labels (`latest` where the
    /// highest version of the name passes) and the config of the newest passing version.
    public func prompts(projectID: String, query q: PromptListQuery) async throws -> Paged<PromptSummary> {
        var f = SQLFilter()
        f.add(
            ReadFilters.prompt(
                projectID: projectID, q, hasTag: "EXISTS (SELECT 1 FROM json_each(p.tags) WHERE value = ?)"))
        let filter = f
        return try await writer.read { db in
            let total =
                try Int.fetchOne(
                    db, sql: "SELECT count(DISTINCT p.name) FROM prompt p WHERE \(filter.sql)",
                    arguments: filter.arguments) ?? 0
            let names = try String.fetchAll(
                db,
                sql: "SELECT DISTINCT p.name FROM prompt p WHERE \(filter.sql) ORDER BY p.name LIMIT ? OFFSET ?",
                arguments: filter.arguments + [q.page.limit, q.page.offset])
            var items: [PromptSummary] = []
            for name in names {
                let versions = try Row.fetchAll(
                    db,
                    sql: "SELECT p.* FROM prompt p WHERE \(filter.sql) AND p.name = ? ORDER BY p.version",
                    arguments: filter.arguments + [name])
                guard let newest = versions.last else { continue }
                var labels: Set<String> = []
                for row in versions {
                    labels.formUnion(try Self.labels(db, projectID: projectID, name: name, version: row["version"]))
                }
                items.append(
                    PromptSummary(
                        name: name, type: PromptType(rawValue: newest["type"]) ?? .text,
                        versions: versions.map { $0["version"] }, labels: labels.sorted(),
                        tags: Rows.strings(newest["tags"]),
                        lastUpdatedAt: Timestamp(microseconds: versions.map { $0["updated_at"] as Int64 }.max() ?? 0),
                        lastConfig: Rows.jsonValue(newest["config"]) ?? .object([:])))
            }
            return Paged(items: items, totalItems: total, page: q.page)
        }
    }

    /// Puts `labels` on `version`, taking each off whichever other version of `name` held it.
    static func moveLabels(_ db: Database, projectID: String, name: String, version: Int, labels: [String]) throws {
        for label in labels {
            try db.execute(
                sql: """
                    INSERT INTO prompt_label (project_id, name, label, version) VALUES (?, ?, ?, ?)
                    ON CONFLICT (project_id, name, label) DO UPDATE SET version = excluded.version
                    """, arguments: [projectID, name, label, version])
        }
    }

    /// The labels of one version, `latest` included when it is the highest.
    static func labels(_ db: Database, projectID: String, name: String, version: Int) throws -> [String] {
        var labels = try String.fetchAll(
            db, sql: "SELECT label FROM prompt_label WHERE project_id = ? AND name = ? AND version = ?",
            arguments: [projectID, name, version])
        let highest = try Int.fetchOne(
            db, sql: "SELECT max(version) FROM prompt WHERE project_id = ? AND name = ?", arguments: [projectID, name])
        if highest == version { labels.append(PromptInput.latest) }
        return labels.sorted()
    }

    static func prompt(_ db: Database, projectID: String, name: String, version: Int) throws -> Prompt? {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT * FROM prompt WHERE project_id = ? AND name = ? AND version = ?",
                arguments: [projectID, name, version])
        else { return nil }
        return Prompt(
            name: row["name"], version: row["version"], type: PromptType(rawValue: row["type"]) ?? .text,
            prompt: Rows.jsonValue(row["prompt"]) ?? .null, config: Rows.jsonValue(row["config"]) ?? .object([:]),
            labels: try labels(db, projectID: projectID, name: name, version: version), tags: Rows.strings(row["tags"]),
            commitMessage: row["commit_message"], createdAt: Timestamp(microseconds: row["created_at"]),
            updatedAt: Timestamp(microseconds: row["updated_at"]))
    }
}
