import Foundation
import PostgresNIO
import TallyCore
import TallySQL
import TallyStoreAPI

/// Prompt management (schema/postgres 0003), with the SQLite store's rules. Every write is one transaction under the
/// name's lock (`EntityLocks`), so concurrent creates of one name on any collectors get distinct versions and a
/// label is never on two versions.
extension PostgresStore: PromptStore {
    static let promptColumns =
        "name, version, type, prompt, config, tags::text AS tags, commit_message, created_at, updated_at"

    /// Stores `p` as the next version of its name (1 for a new name). Its labels move to it from other versions;
    /// given tags replace the name's tags on every version. Throws `IngestionError.invalid` when the name's latest
    /// version has another type.
    public func createPrompt(projectID: String, _ p: NewPrompt, now: Timestamp) async throws -> Prompt {
        try await transaction { connection in
            try await EntityLocks.lock(
                [EntityLocks.key("prompt", projectID, p.name)], connection, logger: self.logger)
            var latest: (version: Int, type: String, tags: String)?
            for try await row in try await connection.query(
                """
                SELECT version, type, tags::text FROM prompt WHERE project_id = \(projectID) AND name = \(p.name)
                ORDER BY version DESC LIMIT 1
                """, logger: logger
            ).decode((Int, String, String).self) {
                latest = row
            }
            if let latest, latest.type != p.type.rawValue {
                throw IngestionError.invalid(
                    "type: the versions of \(p.name.prefix(80)) are \(latest.type) prompts; a new version must be one too"
                )
            }
            let version = (latest?.version ?? 0) + 1
            let tags = p.tags ?? StoredJSON.strings(latest?.tags)
            let tagsJSON = JSONValue.array(tags.map { .string($0) }).serialized()
            try await connection.query(
                """
                INSERT INTO prompt (project_id, name, version, type, prompt, config, tags, commit_message,
                    created_at, updated_at)
                VALUES (\(projectID), \(p.name), \(version), \(p.type.rawValue), \(p.prompt.serialized()),
                    \(p.config.serialized()), \(tagsJSON)::jsonb, \(p.commitMessage), \(now.microseconds),
                    \(now.microseconds))
                """, logger: logger)
            if p.tags != nil {
                try await connection.query(
                    """
                    UPDATE prompt SET tags = \(tagsJSON)::jsonb WHERE project_id = \(projectID) AND name = \(p.name)
                        AND tags <> \(tagsJSON)::jsonb
                    """, logger: logger)
            }
            try await moveLabels(connection, projectID: projectID, name: p.name, version: version, labels: p.labels)
            return try await prompt(connection, projectID: projectID, name: p.name, version: version)!
        }
    }

    /// The version `selector` names (`latest`: the highest), or nil.
    public func prompt(projectID: String, name: String, _ selector: PromptSelector) async throws -> Prompt? {
        try await transaction { connection in
            var version: Int?
            let query: PostgresQuery
            switch selector {
            case .version(let v):
                return try await prompt(connection, projectID: projectID, name: name, version: v)
            case .label(PromptInput.latest):
                query = "SELECT max(version) FROM prompt WHERE project_id = \(projectID) AND name = \(name)"
            case .label(let label):
                query = """
                    SELECT version FROM prompt_label WHERE project_id = \(projectID) AND name = \(name)
                    AND label = \(label)
                    """
            }
            for try await v in try await connection.query(query, logger: logger).decode(Int?.self) { version = v }
            guard let version else { return nil }
            return try await prompt(connection, projectID: projectID, name: name, version: version)
        }
    }

    /// Every stored version of `name`, oldest first.
    public func promptVersions(projectID: String, name: String) async throws -> [Prompt] {
        try await transaction { connection in
            try await prompts(
                connection, projectID: projectID, name: name,
                where: "project_id = \(projectID) AND name = \(name)")
        }
    }

    /// Adds `labels` to one version (moving them from the others; its own labels stay). nil when the version does
    /// not exist.
    public func addPromptLabels(
        projectID: String, name: String, version: Int, labels: [String], now: Timestamp
    ) async throws -> Prompt? {
        try await transaction { connection in
            try await EntityLocks.lock([EntityLocks.key("prompt", projectID, name)], connection, logger: self.logger)
            var found = false
            for try await _ in try await connection.query(
                """
                UPDATE prompt SET updated_at = \(now.microseconds)
                WHERE project_id = \(projectID) AND name = \(name) AND version = \(version) RETURNING version
                """, logger: logger)
            {
                found = true
            }
            guard found else { return nil }
            try await moveLabels(connection, projectID: projectID, name: name, version: version, labels: labels)
            return try await prompt(connection, projectID: projectID, name: name, version: version)
        }
    }

    /// Deletes every version of `name`, or the one `selector` names (a label: the version holding it; `latest`:
    /// the highest). Returns how many versions went.
    public func deletePrompt(projectID: String, name: String, _ selector: PromptSelector?) async throws -> Int {
        try await transaction { connection in
            try await EntityLocks.lock([EntityLocks.key("prompt", projectID, name)], connection, logger: self.logger)
            let query: PostgresQuery
            switch selector {
            case nil:
                query = "DELETE FROM prompt WHERE project_id = \(projectID) AND name = \(name) RETURNING version"
            case .version(let v):
                query = """
                    DELETE FROM prompt WHERE project_id = \(projectID) AND name = \(name) AND version = \(v)
                    RETURNING version
                    """
            case .label(PromptInput.latest):
                query = """
                    DELETE FROM prompt WHERE project_id = \(projectID) AND name = \(name) AND version =
                        (SELECT max(version) FROM prompt WHERE project_id = \(projectID) AND name = \(name))
                    RETURNING version
                    """
            case .label(let label):
                query = """
                    DELETE FROM prompt WHERE project_id = \(projectID) AND name = \(name) AND version =
                        (SELECT version FROM prompt_label WHERE project_id = \(projectID) AND name = \(name)
                            AND label = \(label))
                    RETURNING version
                    """
            }
            var deleted = 0
            for try await _ in try await connection.query(query, logger: logger) { deleted += 1 }
            return deleted
        }
    }

    /// Names whose versions pass the filters, by name, each with those versions, their labels (`latest` where the
    /// highest version of the name passes) and the config of the newest passing version.
    public func prompts(projectID: String, query q: PromptListQuery) async throws -> Paged<PromptSummary> {
        let conditions = ReadFilters.prompt(projectID: projectID, q, hasTag: "p.tags @> jsonb_build_array(?::text)")
        return try await transaction { connection in
            var countBinds = PGBinds()
            let countPredicate = countBinds.render(conditions)
            var total = 0
            for try await n in try await connection.query(
                countBinds.query("SELECT count(DISTINCT p.name) FROM prompt p WHERE \(countPredicate)"),
                logger: logger
            ).decode(Int.self) {
                total = n
            }
            var binds = PGBinds()
            let predicate = binds.render(conditions)
            let limit = binds.add(.int(Int64(q.page.limit)))
            let offset = binds.add(.int(Int64(q.page.offset)))
            var names: [String] = []
            for try await name in try await connection.query(
                binds.query(
                    "SELECT DISTINCT p.name FROM prompt p WHERE \(predicate) ORDER BY p.name LIMIT \(limit) OFFSET \(offset)"
                ), logger: logger
            ).decode(String.self) {
                names.append(name)
            }
            var items: [PromptSummary] = []
            for name in names {
                var nameBinds = PGBinds()
                let namePredicate = nameBinds.render(conditions)
                let nameMark = nameBinds.add(.text(name))
                let versions = try await prompts(
                    connection, projectID: projectID, name: name,
                    where: nameBinds.query("\(namePredicate) AND p.name = \(nameMark)"))
                guard let newest = versions.last else { continue }
                items.append(
                    PromptSummary(
                        name: name, type: newest.type, versions: versions.map(\.version),
                        labels: Array(Set(versions.flatMap(\.labels))).sorted(), tags: newest.tags,
                        lastUpdatedAt: versions.map(\.updatedAt).max() ?? newest.updatedAt, lastConfig: newest.config))
            }
            return Paged(items: items, totalItems: total, page: q.page)
        }
    }

    /// Puts `labels` on `version`, taking each off whichever other version of `name` held it.
    private func moveLabels(
        _ connection: PostgresConnection, projectID: String, name: String, version: Int, labels: [String]
    ) async throws {
        guard !labels.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO prompt_label (project_id, name, label, version)
            SELECT \(projectID), \(name), l, \(version) FROM unnest(\(Array(Set(labels)).sorted())::text[]) AS l
            ON CONFLICT (project_id, name, label) DO UPDATE SET version = excluded.version
            """, logger: logger)
    }

    private func prompt(_ connection: PostgresConnection, projectID: String, name: String, version: Int) async throws
        -> Prompt?
    {
        try await prompts(
            connection, projectID: projectID, name: name,
            where: "project_id = \(projectID) AND name = \(name) AND version = \(version)"
        ).first
    }

    /// The versions of `name` that `condition` (over `prompt p`) selects, oldest first, with their labels (`latest`
    /// on the name's highest version).
    private func prompts(
        _ connection: PostgresConnection, projectID: String, name: String, where condition: PostgresQuery
    ) async throws -> [Prompt] {
        var labels: [Int: [String]] = [:]
        var highest = 0
        for try await (version, label) in try await connection.query(
            "SELECT version, label FROM prompt_label WHERE project_id = \(projectID) AND name = \(name)",
            logger: logger
        ).decode((Int, String).self) {
            labels[version, default: []].append(label)
        }
        for try await v in try await connection.query(
            "SELECT max(version) FROM prompt WHERE project_id = \(projectID) AND name = \(name)", logger: logger
        ).decode(Int?.self) {
            highest = v ?? 0
        }
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(Self.promptColumns) FROM prompt p WHERE \(condition.sql) ORDER BY version",
            binds: condition.binds)
        var out: [Prompt] = []
        for try await row in try await connection.query(query, logger: logger) {
            let r = row.makeRandomAccess()
            let version: Int = try r.value("version")
            out.append(
                Prompt(
                    name: try r.value("name"), version: version,
                    type: PromptType(rawValue: try r.value("type")) ?? .text,
                    prompt: StoredJSON.jsonValue(try r.value("prompt")) ?? .null,
                    config: StoredJSON.jsonValue(try r.value("config")) ?? .object([:]),
                    labels: ((labels[version] ?? []) + (version == highest ? [PromptInput.latest] : [])).sorted(),
                    tags: StoredJSON.strings(try r.value("tags")), commitMessage: try r.value("commit_message"),
                    createdAt: Timestamp(microseconds: try r.value("created_at")),
                    updatedAt: Timestamp(microseconds: try r.value("updated_at"))))
        }
        return out
    }
}
