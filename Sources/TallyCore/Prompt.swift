/// Prompt management (COMPAT §4.8): named prompts with numbered versions, labels that point at one version each,
/// and tags shared by every version of a name. `latest` is not stored: it is always the highest version.
public enum PromptType: String, Sendable, CaseIterable {
    case text, chat
}

/// One stored version of a prompt.
public struct Prompt: Sendable, Hashable {
    public var name: String
    public var version: Int
    public var type: PromptType
    /// A JSON string (text) or an array of messages `{role, content}` / placeholders `{type: "placeholder", name}`.
    public var prompt: JSONValue
    public var config: JSONValue
    /// Labels on this version, `latest` included when it is the highest version; sorted.
    public var labels: [String]
    public var tags: [String]
    public var commitMessage: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        name: String, version: Int, type: PromptType, prompt: JSONValue, config: JSONValue, labels: [String],
        tags: [String], commitMessage: String?, createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.name = name
        self.version = version
        self.type = type
        self.prompt = prompt
        self.config = config
        self.labels = labels
        self.tags = tags
        self.commitMessage = commitMessage
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A new version as a create request gives it (validated by `PromptInput.create`).
public struct NewPrompt: Sendable, Hashable {
    public var name: String
    public var type: PromptType
    public var prompt: JSONValue
    public var config: JSONValue
    /// Labels the new version takes (moved from any other version of the name); never `latest`.
    public var labels: [String]
    /// nil keeps the name's tags; a list replaces them on every version.
    public var tags: [String]?
    public var commitMessage: String?
}

/// Which version of a name a read or delete means.
public enum PromptSelector: Sendable, Hashable {
    case version(Int)
    case label(String)
}

/// Filters of `GET /api/public/v2/prompts`.
public struct PromptListQuery: Sendable, Hashable {
    public var page = PageRequest()
    public var name: String?
    public var label: String?
    public var tag: String?
    public var fromUpdatedAt: Timestamp?
    public var toUpdatedAt: Timestamp?

    public init() {}
}

/// One name in `GET /api/public/v2/prompts`: the versions (and their labels and tags) that pass the filters.
public struct PromptSummary: Sendable, Hashable {
    public var name: String
    public var type: PromptType
    public var versions: [Int]
    public var labels: [String]
    public var tags: [String]
    public var lastUpdatedAt: Timestamp
    public var lastConfig: JSONValue

    public init(
        name: String, type: PromptType, versions: [Int], labels: [String], tags: [String], lastUpdatedAt: Timestamp,
        lastConfig: JSONValue
    ) {
        self.name = name
        self.type = type
        self.versions = versions
        self.labels = labels
        self.tags = tags
        self.lastUpdatedAt = lastUpdatedAt
        self.lastConfig = lastConfig
    }
}

/// Validation of prompt requests; each refusal is an `IngestionError.invalid` naming the field.
public enum PromptInput {
    /// The label every version answers to while it is the highest one (never stored or given).
    public static let latest = "latest"
    /// The label a read without `version` or `label` asks for.
    public static let production = "production"
    public static let maxNameLength = 255
    public static let maxLabelLength = 36
    public static let maxLabels = 50
    public static let maxTags = 50
    public static let maxTagLength = 200
    public static let maxCommitMessageLength = 500
    public static let maxMessages = 1_000

    /// A prompt name: 1–255 characters, no control characters (slashes are folders, as in Langfuse).
    public static func name(_ value: JSONValue?, field: String = "name") throws(IngestionError) -> String {
        guard let name = value?.stringValue else { throw .invalid("\(field): a string is required") }
        try checkName(name, field: field)
        return name
    }

    public static func checkName(_ name: String, field: String = "name") throws(IngestionError) {
        guard !name.isEmpty, name.count <= maxNameLength else {
            throw .invalid("\(field): 1–\(maxNameLength) characters")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalid("\(field): control characters are not allowed")
        }
    }

    /// A label: 1–36 of a-z 0-9 _ - . (Langfuse's rule); `latest` cannot be set.
    public static func checkLabel(_ label: String, field: String) throws(IngestionError) {
        guard !label.isEmpty, label.count <= maxLabelLength,
            label.unicodeScalars.allSatisfy({
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)
            })
        else {
            throw .invalid("\(field): \"\(label.prefix(40))\" must be 1–\(maxLabelLength) of a-z 0-9 _ - .")
        }
        guard label != latest else {
            throw .invalid("\(field): \"latest\" is kept on the newest version by the server and cannot be set")
        }
    }

    /// A list of labels (`labels` of a create, `newLabels` of a label move), de-duplicated and sorted.
    public static func labels(_ value: JSONValue?, field: String) throws(IngestionError) -> [String] {
        guard let value, !value.isNull else { return [] }
        guard let list = value.arrayValue, list.count <= maxLabels else {
            throw .invalid("\(field): an array of at most \(maxLabels) labels")
        }
        var out: Set<String> = []
        for (i, item) in list.enumerated() {
            guard let label = item.stringValue else { throw .invalid("\(field)[\(i)]: a string is required") }
            try checkLabel(label, field: "\(field)[\(i)]")
            out.insert(label)
        }
        return out.sorted()
    }

    /// Body of `POST /api/public/v2/prompts`: `name`, `prompt` (text: a string; chat: messages), `type` (default:
    /// chat for an array, text otherwise), `config` (any JSON, default {}), `labels`, `tags`, `commitMessage`.
    public static func create(_ json: JSONValue) throws(IngestionError) -> NewPrompt {
        guard let o = json.objectValue else { throw .invalid("expected a JSON object") }
        let known: Set<String> = ["name", "prompt", "type", "config", "labels", "tags", "commitMessage"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalid(
                "\(unknown.prefix(40)): not a field of a prompt (use \(known.sorted().joined(separator: ", ")))")
        }
        let name = try name(o["name"])
        let type: PromptType
        if let t = o["type"], !t.isNull {
            guard let raw = t.stringValue, let parsed = PromptType(rawValue: raw) else {
                throw .invalid("type: text or chat")
            }
            type = parsed
        } else {
            type = o["prompt"]?.arrayValue != nil ? .chat : .text
        }
        let prompt = try content(o["prompt"], type: type)
        var tags: [String]?
        if let t = o["tags"], !t.isNull {
            guard let list = t.arrayValue, list.count <= maxTags else {
                throw .invalid("tags: an array of at most \(maxTags) strings")
            }
            var set: Set<String> = []
            for (i, item) in list.enumerated() {
                guard let tag = item.stringValue, !tag.isEmpty, tag.count <= maxTagLength else {
                    throw .invalid("tags[\(i)]: a string of 1–\(maxTagLength) characters")
                }
                set.insert(tag)
            }
            tags = set.sorted()
        }
        var commitMessage: String?
        if let c = o["commitMessage"], !c.isNull {
            guard let text = c.stringValue, text.count <= maxCommitMessageLength else {
                throw .invalid("commitMessage: a string of at most \(maxCommitMessageLength) characters")
            }
            commitMessage = text
        }
        let config = o["config"].flatMap { $0.isNull ? nil : $0 } ?? .object([:])
        return NewPrompt(
            name: name, type: type, prompt: prompt, config: config, labels: try labels(o["labels"], field: "labels"),
            tags: tags, commitMessage: commitMessage)
    }

    /// A text prompt is a string; a chat prompt an array of `{role, content}` messages (strings) or
    /// `{type: "placeholder", name}` entries.
    static func content(_ value: JSONValue?, type: PromptType) throws(IngestionError) -> JSONValue {
        switch type {
        case .text:
            guard case .string? = value else { throw .invalid("prompt: a text prompt is a string") }
            return value!
        case .chat:
            guard let messages = value?.arrayValue, messages.count <= maxMessages else {
                throw .invalid("prompt: a chat prompt is an array of at most \(maxMessages) messages")
            }
            for (i, m) in messages.enumerated() {
                guard let o = m.objectValue else { throw .invalid("prompt[\(i)]: a message object is required") }
                if o["type"] == .string("placeholder") {
                    guard let name = o["name"]?.stringValue, !name.isEmpty else {
                        throw .invalid("prompt[\(i)]: a placeholder needs a name")
                    }
                } else {
                    guard o["role"]?.stringValue?.isEmpty == false, o["content"]?.stringValue != nil else {
                        throw .invalid("prompt[\(i)]: a message needs role and content strings")
                    }
                }
            }
            return .array(messages)
        }
    }
}

/// Prompt composition (Langfuse's): a text prompt, or a chat message's content, may hold
/// `@@@langfusePrompt:name=<name>|version=<n>@@@` or `…|label=<label>@@@`, replaced on read by the referenced text
/// prompt (itself resolved, at most `maxDepth` levels; a cycle is refused).
public enum PromptComposer {
    public static let maxDepth = 5
    static let open = "@@@langfusePrompt:"
    static let close = "@@@"

    public struct Reference: Sendable, Hashable {
        public var name: String
        public var selector: PromptSelector
    }

    /// The references in `text`, in order, with the ranges of their tags; throws for a malformed tag.
    static func tags(in text: String) throws(IngestionError) -> [(range: Range<String.Index>, reference: Reference)] {
        var out: [(Range<String.Index>, Reference)] = []
        var cursor = text.startIndex
        while let start = text.range(of: open, range: cursor..<text.endIndex) {
            guard let end = text.range(of: close, range: start.upperBound..<text.endIndex) else {
                throw .invalid("prompt: a @@@langfusePrompt: tag is not closed by @@@")
            }
            var name: String?
            var selector: PromptSelector?
            for pair in text[start.upperBound..<end.lowerBound].split(separator: "|") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { continue }
                switch kv[0] {
                case "name": name = kv[1]
                case "version": selector = Int(kv[1]).map(PromptSelector.version)
                case "label": selector = .label(kv[1])
                default: continue
                }
            }
            guard let name, !name.isEmpty, let selector else {
                throw .invalid("prompt: a @@@langfusePrompt: tag needs name= and version= or label=")
            }
            out.append((start.lowerBound..<end.upperBound, Reference(name: name, selector: selector)))
            cursor = end.upperBound
        }
        return out
    }

    /// Every reference `prompt` makes directly (checked when a version is created).
    public static func references(_ prompt: JSONValue) throws(IngestionError) -> [Reference] {
        var out: [Reference] = []
        for text in texts(prompt) { out += try tags(in: text).map(\.reference) }
        return out
    }

    /// `prompt` with every reference replaced by the referenced text; `graph` names what was resolved (nil when
    /// nothing was). `lookup` reads a stored version (nil: missing).
    public static func resolve(
        _ prompt: Prompt, lookup: (String, PromptSelector) async throws -> Prompt?
    ) async throws -> (prompt: JSONValue, graph: JSONValue?) {
        var dependencies: [String: [JSONValue]] = [:]
        func key(_ p: Prompt) -> String { "\(p.name)@\(p.version)" }
        func expand(_ text: String, in parent: Prompt, path: [String]) async throws -> String {
            let found = try tags(in: text)
            guard !found.isEmpty else { return text }
            guard path.count <= maxDepth else {
                throw IngestionError.invalid("prompt: references nest deeper than \(maxDepth) levels")
            }
            var result = ""
            var cursor = text.startIndex
            for (range, reference) in found {
                guard let child = try await lookup(reference.name, reference.selector) else {
                    throw IngestionError.invalid(
                        "prompt: the referenced prompt \(reference.name.prefix(80)) does not exist")
                }
                guard case .string(let childText) = child.prompt else {
                    throw IngestionError.invalid(
                        "prompt: \(reference.name.prefix(80)) is a chat prompt; only text prompts can be referenced")
                }
                guard !path.contains(key(child)) else {
                    throw IngestionError.invalid("prompt: \(reference.name.prefix(80)) references itself (a cycle)")
                }
                dependencies[key(parent), default: []].append(
                    ["name": .string(child.name), "version": .int(Int64(child.version))])
                result += text[cursor..<range.lowerBound]
                result += try await expand(childText, in: child, path: path + [key(child)])
                cursor = range.upperBound
            }
            return result + text[cursor...]
        }
        let root = [key(prompt)]
        let resolved: JSONValue
        switch prompt.prompt {
        case .string(let text):
            resolved = .string(try await expand(text, in: prompt, path: root))
        case .array(let messages):
            var out: [JSONValue] = []
            for message in messages {
                guard var m = message.objectValue, case .string(let content)? = m["content"] else {
                    out.append(message)
                    continue
                }
                m["content"] = .string(try await expand(content, in: prompt, path: root))
                out.append(.object(m))
            }
            resolved = .array(out)
        default:
            resolved = prompt.prompt
        }
        guard !dependencies.isEmpty else { return (resolved, nil) }
        return (
            resolved,
            [
                "root": ["name": .string(prompt.name), "version": .int(Int64(prompt.version))],
                "dependencies": .object(dependencies.mapValues { .array($0) }),
            ]
        )
    }

    /// The texts of a prompt that may hold references: a text prompt, or each chat message's content.
    static func texts(_ prompt: JSONValue) -> [String] {
        switch prompt {
        case .string(let s): return [s]
        case .array(let messages): return messages.compactMap { $0.objectValue?["content"]?.stringValue }
        default: return []
        }
    }
}
