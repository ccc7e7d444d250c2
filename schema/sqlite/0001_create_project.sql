-- Projects isolate data; API keys resolve a request to exactly one project.
CREATE TABLE project (
    id                TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 200),
    name              TEXT NOT NULL,
    organization_id   TEXT NOT NULL DEFAULT 'tally',
    organization_name TEXT NOT NULL DEFAULT 'Tally',
    created_at        INTEGER NOT NULL          -- µs since the Unix epoch
) STRICT;

-- The secret is never stored: secret_hash = hex(HMAC-SHA256(key: salt, message: secret)).
CREATE TABLE api_key (
    public_key     TEXT PRIMARY KEY NOT NULL CHECK (length(public_key) >= 1),
    project_id     TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    secret_salt    TEXT NOT NULL,
    secret_hash    TEXT NOT NULL,
    display_secret TEXT NOT NULL,               -- "sk-lf-...abcd", safe to show
    note           TEXT,
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER                      -- NULL while the key is valid
) STRICT;
CREATE INDEX api_key_project ON api_key(project_id);
