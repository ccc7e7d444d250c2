-- Traces, observations and scores. Times are INTEGER µs since the Unix epoch (UTC); JSON columns hold JSON text.
-- Costs are INTEGER nano-USD (1e-9 USD) so sums are exact; the *_details JSON keeps the per-key figures.
CREATE TABLE trace (
    project_id     TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id             TEXT NOT NULL,
    timestamp      INTEGER NOT NULL,
    name           TEXT,
    user_id        TEXT,
    session_id     TEXT,
    release        TEXT,
    version        TEXT,
    environment    TEXT NOT NULL DEFAULT 'default',
    input          TEXT,
    output         TEXT,
    metadata       TEXT NOT NULL DEFAULT '{}' CHECK (json_type(metadata) = 'object'),
    tags           TEXT NOT NULL DEFAULT '[]' CHECK (json_type(tags) = 'array'),
    public         INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    bookmarked     INTEGER NOT NULL DEFAULT 0 CHECK (bookmarked IN (0, 1)),
    external_id    TEXT,
    tenant         TEXT,
    feature        TEXT,
    is_placeholder INTEGER NOT NULL DEFAULT 0 CHECK (is_placeholder IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX trace_time ON trace(project_id, timestamp DESC);
CREATE INDEX trace_user ON trace(project_id, user_id, timestamp DESC);
CREATE INDEX trace_session ON trace(project_id, session_id, timestamp DESC);
CREATE INDEX trace_name ON trace(project_id, name, timestamp DESC);
CREATE INDEX trace_tenant ON trace(project_id, tenant, timestamp DESC);
CREATE INDEX trace_feature ON trace(project_id, feature, timestamp DESC);

-- One row per (trace, tag): tag filters use an index instead of scanning JSON.
CREATE TABLE trace_tag (
    project_id TEXT NOT NULL,
    tag        TEXT NOT NULL,
    trace_id   TEXT NOT NULL,
    PRIMARY KEY (project_id, tag, trace_id),
    FOREIGN KEY (project_id, trace_id) REFERENCES trace(project_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX trace_tag_trace ON trace_tag(project_id, trace_id);

CREATE TABLE observation (
    project_id            TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id                    TEXT NOT NULL,
    trace_id              TEXT NOT NULL,
    parent_observation_id TEXT,
    type                  TEXT NOT NULL CHECK (type IN ('SPAN','GENERATION','EVENT','AGENT','TOOL','CHAIN',
                                                        'RETRIEVER','EVALUATOR','EMBEDDING','GUARDRAIL')),
    name                  TEXT,
    start_time            INTEGER NOT NULL,
    end_time              INTEGER,
    completion_start_time INTEGER,
    model                 TEXT,
    model_parameters      TEXT,
    input                 TEXT,
    output                TEXT,
    metadata              TEXT NOT NULL DEFAULT '{}' CHECK (json_type(metadata) = 'object'),
    level                 TEXT NOT NULL DEFAULT 'DEFAULT' CHECK (level IN ('DEBUG','DEFAULT','WARNING','ERROR')),
    status_message        TEXT,
    version               TEXT,
    environment           TEXT NOT NULL DEFAULT 'default',
    prompt_name           TEXT,
    prompt_version        INTEGER,
    usage_details         TEXT NOT NULL DEFAULT '{}' CHECK (json_type(usage_details) = 'object'),
    provided_cost_details TEXT NOT NULL DEFAULT '{}' CHECK (json_type(provided_cost_details) = 'object'),
    cost_details          TEXT NOT NULL DEFAULT '{}' CHECK (json_type(cost_details) = 'object'),
    input_tokens          INTEGER NOT NULL DEFAULT 0,
    output_tokens         INTEGER NOT NULL DEFAULT 0,
    total_tokens          INTEGER NOT NULL DEFAULT 0,
    input_cost_nanos      INTEGER,
    output_cost_nanos     INTEGER,
    total_cost_nanos      INTEGER,
    tenant                TEXT,
    feature               TEXT,
    is_placeholder        INTEGER NOT NULL DEFAULT 0 CHECK (is_placeholder IN (0, 1)),
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    PRIMARY KEY (project_id, id),
    CHECK ((prompt_name IS NULL) = (prompt_version IS NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX observation_trace ON observation(project_id, trace_id, start_time);
CREATE INDEX observation_time ON observation(project_id, start_time DESC);
CREATE INDEX observation_type_time ON observation(project_id, type, start_time DESC);
CREATE INDEX observation_tenant_time ON observation(project_id, tenant, start_time);
CREATE INDEX observation_prompt ON observation(project_id, prompt_name, prompt_version);

CREATE TABLE score (
    project_id     TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id             TEXT NOT NULL,
    name           TEXT NOT NULL,
    value          REAL,
    string_value   TEXT,
    data_type      TEXT NOT NULL CHECK (data_type IN ('NUMERIC','BOOLEAN','CATEGORICAL','TEXT','CORRECTION')),
    source         TEXT NOT NULL CHECK (source IN ('API','EVAL','ANNOTATION')),
    trace_id       TEXT,
    observation_id TEXT,
    session_id     TEXT,
    dataset_run_id TEXT,
    comment        TEXT,
    metadata       TEXT,
    config_id      TEXT,
    queue_id       TEXT,
    environment    TEXT NOT NULL DEFAULT 'default',
    timestamp      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (project_id, id),
    CHECK ((trace_id IS NOT NULL) + (session_id IS NOT NULL) + (dataset_run_id IS NOT NULL) = 1),
    CHECK (observation_id IS NULL OR trace_id IS NOT NULL)
) STRICT, WITHOUT ROWID;
CREATE INDEX score_trace ON score(project_id, trace_id);
CREATE INDEX score_session ON score(project_id, session_id);
CREATE INDEX score_time ON score(project_id, timestamp DESC);
CREATE INDEX score_name ON score(project_id, name, timestamp DESC);

-- Sessions exist once a trace names them; first environment wins.
CREATE TABLE session (
    project_id  TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    environment TEXT NOT NULL DEFAULT 'default',
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX session_time ON session(project_id, created_at DESC);
