-- Alerts (schema/sqlite 0014): channels, rules, the firings an evaluation records and the outbox of their
-- deliveries. Times are µs since the Unix epoch. Every collector delivers from the one outbox: a delivery service
-- takes due rows with FOR UPDATE SKIP LOCKED, so each is sent by one collector at a time.
CREATE TABLE alert_channel (
    project_id text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id         text COLLATE "C" NOT NULL,
    name       text COLLATE "C" NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type       text NOT NULL CHECK (type IN ('webhook', 'slack')),
    url        text NOT NULL CHECK (url LIKE 'http://%' OR url LIKE 'https://%'),
    secret     text,
    created_at bigint NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
);

-- params: the rule type's parameters with defaults filled in; channels: channel names; actions: what a firing does
-- besides notifying ({"type", ...} objects).
CREATE TABLE alert_rule (
    project_id text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id         text COLLATE "C" NOT NULL,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type       text NOT NULL CHECK (type IN ('tenant_spike', 'feature_regression', 'error_burn', 'budget_threshold',
                                              'embed_surge', 'threshold')),
    params     jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
    channels   jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(channels) = 'array'),
    actions    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(actions) = 'array'),
    enabled    boolean NOT NULL DEFAULT true,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (project_id, id)
);

-- One firing per rule and subject while it holds (resolved_at NULL); subject_key identifies the subject (and, for
-- rules that fire once per period, the period) within the rule.
CREATE TABLE alert_firing (
    project_id  text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id          text COLLATE "C" NOT NULL,
    rule_id     text COLLATE "C" NOT NULL,
    subject_key text COLLATE "C" NOT NULL,
    subject     jsonb NOT NULL CHECK (jsonb_typeof(subject) = 'object'),
    value       double precision NOT NULL,
    threshold   double precision NOT NULL,
    message     text NOT NULL,
    fired_at    bigint NOT NULL,
    resolved_at bigint,
    PRIMARY KEY (project_id, id)
);
CREATE UNIQUE INDEX alert_firing_open ON alert_firing(project_id, rule_id, subject_key) WHERE resolved_at IS NULL;
CREATE INDEX alert_firing_time ON alert_firing(project_id, fired_at DESC);

-- The outbox: written in the transaction that records a firing or its resolution, retried with backoff until
-- delivered or `gives_up_at` passes. body is the exact JSON sent (signed as is).
CREATE TABLE alert_delivery (
    project_id      text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    firing_id       text COLLATE "C" NOT NULL,
    channel_id      text COLLATE "C" NOT NULL,
    event           text NOT NULL CHECK (event IN ('alert.firing', 'alert.resolved')),
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL,
    gives_up_at     bigint NOT NULL,
    last_error      text,
    last_status     integer,
    created_at      bigint NOT NULL,
    delivered_at    bigint,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, firing_id, channel_id, event)
);
CREATE INDEX alert_delivery_due ON alert_delivery(next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_delivery_firing ON alert_delivery(project_id, firing_id);

-- Projects whose seed rules (the five cost alerts with their default parameters) were created; a project gets them
-- once, so a seed rule its users deleted stays deleted.
CREATE TABLE alert_seed (
    project_id text PRIMARY KEY REFERENCES project(id) ON DELETE CASCADE
);
