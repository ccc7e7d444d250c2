-- Projects, API keys and UI sessions on PostgreSQL: the same rows as schema/sqlite (0001, 0007, 0019), one
-- migration. Times are µs since the Unix epoch (bigint), as in SQLite, so both stores hand out the same values.
--
-- Distribution (Citus): project is a reference table; api_key and ui_session are looked up by public key / token
-- before the project is known, so they are reference tables too (small, read on every request, written rarely).
-- Every table that holds a project's data (traces, observations, scores, rollups: later migrations) leads its
-- primary key with project_id, the distribution column.
CREATE TABLE project (
    id                text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    name              text NOT NULL,
    organization_id   text NOT NULL DEFAULT 'tally',
    organization_name text NOT NULL DEFAULT 'Tally',
    created_at        bigint NOT NULL
);

-- The secret is never stored: secret_hash = hex(HMAC-SHA256(key: salt, message: secret)) (TallySecrets).
CREATE TABLE api_key (
    public_key     text PRIMARY KEY CHECK (length(public_key) >= 1),
    project_id     text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    secret_salt    text NOT NULL,
    secret_hash    text NOT NULL,
    display_secret text NOT NULL,
    note           text,
    created_at     bigint NOT NULL,
    revoked_at     bigint,
    tenant         text CHECK (tenant IS NULL OR length(tenant) BETWEEN 1 AND 1000),
    read_only      boolean NOT NULL DEFAULT false
);
CREATE INDEX api_key_project ON api_key(project_id);

-- Only the token's SHA-256 is stored; a session ends at expires_at, on sign-out, or when its key is revoked.
CREATE TABLE ui_session (
    token_hash text PRIMARY KEY,
    public_key text NOT NULL REFERENCES api_key(public_key) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX ui_session_expiry ON ui_session(expires_at);
