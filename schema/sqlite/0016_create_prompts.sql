-- Prompt management (Langfuse's /api/public/v2/prompts). A prompt is a name with numbered versions (1, 2, ...);
-- `prompt` holds the version's content as JSON (a string for text prompts, an array of messages for chat ones).
-- Tags belong to the name: a create that gives tags sets them on every version. Labels point at one version each
-- (a label moves when another version takes it); `latest` is never stored, it is always the highest version.
CREATE TABLE prompt (
    project_id     TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 1),
    type           TEXT NOT NULL CHECK (type IN ('text', 'chat')),
    prompt         TEXT NOT NULL CHECK (json_valid(prompt)),
    config         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),
    tags           TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tags) = 'array'),
    commit_message TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (project_id, name, version)
) STRICT, WITHOUT ROWID;

CREATE INDEX prompt_updated ON prompt(project_id, updated_at);

CREATE TABLE prompt_label (
    project_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    label      TEXT NOT NULL CHECK (label <> 'latest'),
    version    INTEGER NOT NULL,
    PRIMARY KEY (project_id, name, label),
    FOREIGN KEY (project_id, name, version) REFERENCES prompt (project_id, name, version) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX prompt_label_version ON prompt_label(project_id, name, version);
