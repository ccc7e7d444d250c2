-- Browser sessions of the web UI. The cookie carries a random token; only its SHA-256 is stored. A session ends at
-- expires_at (µs), on sign-out, or as soon as its API key is revoked (checked on every request).
CREATE TABLE ui_session (
    token_hash TEXT PRIMARY KEY NOT NULL,
    public_key TEXT NOT NULL REFERENCES api_key(public_key) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX ui_session_expiry ON ui_session(expires_at);
