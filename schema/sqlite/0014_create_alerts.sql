-- Cost alerts: rules evaluated on a schedule, the firings they record, and a durable outbox of webhook deliveries.
-- Times are µs since the Unix epoch.

-- Where alerts are sent. The secret signs webhook bodies (HMAC-SHA256), so it is kept as given; the API never
-- returns it.
CREATE TABLE alert_channel (
    project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type       TEXT NOT NULL CHECK (type IN ('webhook', 'slack')),
    url        TEXT NOT NULL CHECK (url LIKE 'http://%' OR url LIKE 'https://%'),
    secret     TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
) STRICT, WITHOUT ROWID;

-- params: the rule type's parameters with defaults filled in (a JSON object); channels: channel names (a JSON
-- array); actions: what a firing does besides notifying (a JSON array of {"type", ...}).
CREATE TABLE alert_rule (
    project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type       TEXT NOT NULL CHECK (type IN ('tenant_spike', 'feature_regression', 'error_burn', 'budget_threshold',
                                              'embed_surge', 'threshold')),
    params     TEXT NOT NULL CHECK (json_type(params) = 'object'),
    channels   TEXT NOT NULL DEFAULT '[]' CHECK (json_type(channels) = 'array'),
    actions    TEXT NOT NULL DEFAULT '[]' CHECK (json_type(actions) = 'array'),
    enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
) STRICT, WITHOUT ROWID;

-- One firing per rule and subject while it holds (resolved_at NULL); subject_key identifies the subject (and, for
-- rules that fire once per period, the period) within the rule.
CREATE TABLE alert_firing (
    project_id  TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    subject     TEXT NOT NULL CHECK (json_type(subject) = 'object'),
    value       REAL NOT NULL,
    threshold   REAL NOT NULL,
    message     TEXT NOT NULL,
    fired_at    INTEGER NOT NULL,
    resolved_at INTEGER,
    PRIMARY KEY (project_id, id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX alert_firing_open ON alert_firing(project_id, rule_id, subject_key) WHERE resolved_at IS NULL;
CREATE INDEX alert_firing_time ON alert_firing(project_id, fired_at DESC);

-- The outbox: written in the transaction that records a firing or its resolution, sent by the delivery service,
-- retried with backoff until delivered or `gives_up_at` passes. body is the exact JSON sent (signed as is).
CREATE TABLE alert_delivery (
    id              INTEGER PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    firing_id       TEXT NOT NULL,
    channel_id      TEXT NOT NULL,
    event           TEXT NOT NULL CHECK (event IN ('alert.firing', 'alert.resolved')),
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    gives_up_at     INTEGER NOT NULL,
    last_error      TEXT,
    last_status     INTEGER,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    UNIQUE (project_id, firing_id, channel_id, event)
) STRICT;
CREATE INDEX alert_delivery_due ON alert_delivery(next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_delivery_firing ON alert_delivery(project_id, firing_id);

-- Projects whose seed rules (the five cost alerts with their default parameters) were created; a project gets them
-- once, so a seed rule its users deleted stays deleted.
CREATE TABLE alert_seed (
    project_id TEXT PRIMARY KEY NOT NULL REFERENCES project(id) ON DELETE CASCADE
) STRICT;
