-- Prompt management (Langfuse's /api/public/v2/prompts), as schema/sqlite 0016: a name with numbered versions;
-- `prompt` and `config` are the version's JSON text as given (read back unchanged); tags belong to the name (a create
-- that gives tags sets them on every version); a label points at one version (`latest` is never stored: it is
-- always the highest version). Writers of one name take its lock first (ingest_lock, key of ("prompt", project,
-- name)), so concurrent creates on several collectors get distinct versions.
CREATE TABLE prompt (
    project_id     text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    name           text COLLATE "C" NOT NULL,
    version        integer NOT NULL CHECK (version >= 1),
    type           text NOT NULL CHECK (type IN ('text', 'chat')),
    prompt         text NOT NULL,
    config         text NOT NULL DEFAULT '{}',
    tags           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    commit_message text,
    created_at     bigint NOT NULL,
    updated_at     bigint NOT NULL,
    PRIMARY KEY (project_id, name, version)
);
CREATE INDEX prompt_updated ON prompt(project_id, updated_at);

CREATE TABLE prompt_label (
    project_id text NOT NULL,
    name       text COLLATE "C" NOT NULL,
    label      text COLLATE "C" NOT NULL CHECK (label <> 'latest'),
    version    integer NOT NULL,
    PRIMARY KEY (project_id, name, label),
    FOREIGN KEY (project_id, name, version) REFERENCES prompt (project_id, name, version) ON DELETE CASCADE
);
CREATE INDEX prompt_label_version ON prompt_label(project_id, name, version);
