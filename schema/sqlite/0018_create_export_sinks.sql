-- Usage export sinks: billing systems (Lago, OpenMeter) that Tally pushes each billable model call to, from a
-- persisted cursor, at least once, with stable event ids. Times are µs since the Unix epoch.

-- One destination per project and name. api_key is kept as given (it is sent with every push) and never read back
-- out through the API. config: the sink's options with defaults filled in (a JSON object, see ExportSinkConfig).
-- cursor: the last export_change.seq fully pushed. attempts: failed passes since the last success (the backoff).
CREATE TABLE export_sink (
    project_id      TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    type            TEXT NOT NULL CHECK (type IN ('lago', 'openmeter')),
    url             TEXT NOT NULL CHECK (url LIKE 'http://%' OR url LIKE 'https://%'),
    api_key         TEXT,
    config          TEXT NOT NULL CHECK (json_type(config) = 'object'),
    cursor          INTEGER NOT NULL DEFAULT 0,
    next_push_at    INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    events_sent     INTEGER NOT NULL DEFAULT 0,
    requests_sent   INTEGER NOT NULL DEFAULT 0,
    last_success_at INTEGER,
    last_failure_at INTEGER,
    last_error      TEXT,
    last_status     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
) STRICT, WITHOUT ROWID;

-- The change log the sinks read: one row per model call written or changed in a way a bill reads, appended by the
-- triggers below only while the project has a sink. seq only grows (AUTOINCREMENT never reuses a number), and SQLite
-- has one writer, so a reader's snapshot holds every change up to some seq and none after: a cursor on seq skips
-- nothing. Rows every sink of the project has passed are deleted after each push.
CREATE TABLE export_change (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id     TEXT NOT NULL,
    observation_id TEXT NOT NULL,
    at             INTEGER NOT NULL
);
CREATE INDEX export_change_project ON export_change(project_id, seq);

-- What each sink's receiver holds for each call: the values of the last event(s) it accepted for it. A change whose
-- billable values equal these sends nothing; one that differs is a correction (sent as a delta, or listed).
-- revision: how many times the call was sent (1 = the first event); the next correction's id takes revision + 1.
CREATE TABLE export_ledger (
    project_id         TEXT NOT NULL,
    sink               TEXT NOT NULL,
    observation_id     TEXT NOT NULL,
    revision           INTEGER NOT NULL,
    subject            TEXT NOT NULL,
    model              TEXT NOT NULL,
    feature            TEXT NOT NULL,
    timestamp          INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens   INTEGER NOT NULL,
    cost_nanos         INTEGER NOT NULL,
    pushed_at          INTEGER NOT NULL,
    PRIMARY KEY (project_id, sink, observation_id),
    FOREIGN KEY (project_id, sink) REFERENCES export_sink(project_id, name) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Calls a sink could not bill as they are, one row per call and kind while it holds: 'correction' (its values
-- changed after the receiver took them and the sink lists corrections instead of sending deltas), 'rejected' (the
-- receiver refused its event: 400/413/422), 'unattributed' (no tenant, and no subject for calls without one).
-- detail: a JSON object with the figures. A later push that settles the call deletes the row.
CREATE TABLE export_issue (
    project_id     TEXT NOT NULL,
    sink           TEXT NOT NULL,
    observation_id TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('correction', 'rejected', 'unattributed')),
    trace_id       TEXT NOT NULL,
    cost_nanos     INTEGER NOT NULL,
    detail         TEXT NOT NULL CHECK (json_type(detail) = 'object'),
    at             INTEGER NOT NULL,
    PRIMARY KEY (project_id, sink, kind, observation_id),
    FOREIGN KEY (project_id, sink) REFERENCES export_sink(project_id, name) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX export_issue_time ON export_issue(project_id, sink, kind, at DESC);

CREATE TRIGGER observation_export_insert AFTER INSERT ON observation
WHEN NEW.type IN ('GENERATION', 'EMBEDDING') AND EXISTS (SELECT 1 FROM export_sink WHERE project_id = NEW.project_id)
BEGIN
    INSERT INTO export_change (project_id, observation_id, at)
    VALUES (NEW.project_id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

-- Only when a column an event carries (or whether it is billed) changed.
CREATE TRIGGER observation_export_update AFTER UPDATE ON observation
WHEN (OLD.type IN ('GENERATION', 'EMBEDDING') OR NEW.type IN ('GENERATION', 'EMBEDDING'))
    AND (OLD.type IS NOT NEW.type OR OLD.tenant IS NOT NEW.tenant OR OLD.feature IS NOT NEW.feature
        OR OLD.model IS NOT NEW.model OR OLD.level IS NOT NEW.level OR OLD.usage_details IS NOT NEW.usage_details
        OR OLD.input_tokens IS NOT NEW.input_tokens OR OLD.output_tokens IS NOT NEW.output_tokens
        OR OLD.total_cost_nanos IS NOT NEW.total_cost_nanos OR OLD.start_time IS NOT NEW.start_time
        OR OLD.is_placeholder IS NOT NEW.is_placeholder)
    AND EXISTS (SELECT 1 FROM export_sink WHERE project_id = NEW.project_id)
BEGIN
    INSERT INTO export_change (project_id, observation_id, at)
    VALUES (NEW.project_id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
