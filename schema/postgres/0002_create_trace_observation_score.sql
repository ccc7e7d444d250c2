-- Traces, observations, scores, sessions, tags, shares and model prices on PostgreSQL: the rows of schema/sqlite
-- (0002 to 0022) as they stand today, in one migration. Times are µs since the Unix epoch (bigint); tokens are units;
-- costs are nano-USD (bigint). JSON that SQL reads (metadata, tags, usage and cost details) is jsonb; content the
-- store only hands back (input, output, model parameters) is JSON text, compressed by TOAST when large.
--
-- Text columns compare and sort by their bytes (COLLATE "C"), as SQLite's do, whatever the database's locale: both
-- stores list and page in the same order.
--
-- Every primary key leads with project_id. For a distributed PostgreSQL (Citus): project, api_key and ui_session are
-- reference tables; every table here is distributed by project_id (create_distributed_table(<table>, 'project_id'),
-- colocated with trace), so a project's rows, and every join the store makes (always on project_id), stay on one
-- node.
--
-- Concurrency: several collectors write at once. A writer first locks every trace and observation id its request
-- names (ingest_lock, below), in one sorted order, then reads those rows: two requests that touch the same entity
-- apply one after the other and each merges over the other's committed result (PostgresStore+Ingest).

-- Per-entity write locks that any number of them can be held: a writer inserts the 64-bit key of each entity
-- (hash of kind, project and id) and deletes it again in the same transaction. A second writer inserting the same
-- key meets the first one's uncommitted row in the primary key and waits until that transaction ends (then the row
-- is gone and it goes on). Unlike advisory locks, these take no room in the server's lock table, so a request may
-- lock thousands of ids. Unlogged: the rows never outlive their transaction.
CREATE UNLOGGED TABLE ingest_lock (key bigint PRIMARY KEY)
    WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

CREATE TABLE trace (
    project_id        text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id                text COLLATE "C" NOT NULL,
    timestamp         bigint NOT NULL,
    name              text COLLATE "C",
    user_id           text COLLATE "C",
    session_id        text COLLATE "C",
    release           text COLLATE "C",
    version           text COLLATE "C",
    environment       text COLLATE "C" NOT NULL DEFAULT 'default',
    input             text COLLATE "C",
    output            text COLLATE "C",
    metadata          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    tags              jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    public            boolean NOT NULL DEFAULT false,
    bookmarked        boolean NOT NULL DEFAULT false,
    external_id       text COLLATE "C",
    tenant            text COLLATE "C",
    feature           text COLLATE "C",
    is_placeholder    boolean NOT NULL DEFAULT false,
    created_at        bigint NOT NULL,
    updated_at        bigint NOT NULL,
    event_time        bigint,
    -- Per-trace totals over the trace's observations, kept exact by every ingest transaction for the traces it
    -- touched (as schema/sqlite 0011): count, token and cost sums, first start to last end (or start) in µs, most
    -- severe level (0 DEBUG, 1 DEFAULT, 2 WARNING, 3 ERROR).
    observation_count bigint NOT NULL DEFAULT 0,
    input_tokens      bigint NOT NULL DEFAULT 0,
    output_tokens     bigint NOT NULL DEFAULT 0,
    total_tokens      bigint NOT NULL DEFAULT 0,
    total_cost_nanos  bigint NOT NULL DEFAULT 0,
    duration_micros   bigint NOT NULL DEFAULT 0,
    max_level         smallint NOT NULL DEFAULT 1 CHECK (max_level BETWEEN 0 AND 3),
    PRIMARY KEY (project_id, id)
);
CREATE INDEX trace_time ON trace(project_id, timestamp DESC);
CREATE INDEX trace_user ON trace(project_id, user_id, timestamp DESC) WHERE user_id IS NOT NULL;
CREATE INDEX trace_session ON trace(project_id, session_id, timestamp DESC) WHERE session_id IS NOT NULL;
CREATE INDEX trace_name ON trace(project_id, name, timestamp DESC);
CREATE INDEX trace_tenant ON trace(project_id, tenant, timestamp DESC) WHERE tenant IS NOT NULL;
CREATE INDEX trace_feature ON trace(project_id, feature, timestamp DESC) WHERE feature IS NOT NULL;
CREATE INDEX trace_cost ON trace(project_id, total_cost_nanos);
CREATE INDEX trace_duration ON trace(project_id, duration_micros);
CREATE INDEX trace_tokens ON trace(project_id, total_tokens);

-- One row per tag of a trace, carrying the trace's timestamp (tag-filtered lists read this index first).
CREATE TABLE trace_tag (
    project_id text COLLATE "C" NOT NULL,
    tag        text COLLATE "C" NOT NULL,
    trace_id   text COLLATE "C" NOT NULL,
    timestamp  bigint NOT NULL,
    PRIMARY KEY (project_id, tag, trace_id)
);
CREATE INDEX trace_tag_time ON trace_tag(project_id, tag, timestamp DESC);
CREATE INDEX trace_tag_trace ON trace_tag(project_id, trace_id);

-- Sessions exist once a trace names them; the first environment wins.
CREATE TABLE session (
    project_id  text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id          text COLLATE "C" NOT NULL,
    environment text COLLATE "C" NOT NULL DEFAULT 'default',
    created_at  bigint NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX session_time ON session(project_id, created_at DESC);

-- Observations, partitioned by month of start_time (µs, UTC): observation_yYYYYmMM holds [first µs of the month,
-- first µs of the next). The store creates a month's partition before it writes a row of that month
-- (PostgresStore.ensurePartitions, within a window around now); rows outside every partition land in
-- observation_default. Retention drops a month's partition when no project keeps data that old.
-- The primary key must hold the partition key: (project_id, id, start_time). An id is unique per project all the
-- same: every writer looks the id up under its ingest_lock before it inserts, and updates the row it finds.
CREATE TABLE observation (
    project_id            text COLLATE "C" NOT NULL,
    id                    text COLLATE "C" NOT NULL,
    trace_id              text COLLATE "C" NOT NULL,
    parent_observation_id text COLLATE "C",
    type                  text COLLATE "C" NOT NULL CHECK (type IN ('SPAN', 'GENERATION', 'EVENT', 'AGENT', 'TOOL', 'CHAIN',
                                                        'RETRIEVER', 'EVALUATOR', 'EMBEDDING', 'GUARDRAIL')),
    name                  text COLLATE "C",
    start_time            bigint NOT NULL,
    end_time              bigint,
    completion_start_time bigint,
    model                 text COLLATE "C",
    response_model        text COLLATE "C",
    model_parameters      text COLLATE "C",
    input                 text COLLATE "C",
    output                text COLLATE "C",
    metadata              jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    level                 text COLLATE "C" NOT NULL DEFAULT 'DEFAULT' CHECK (level IN ('DEBUG', 'DEFAULT', 'WARNING', 'ERROR')),
    status_message        text COLLATE "C",
    version               text COLLATE "C",
    environment           text COLLATE "C" NOT NULL DEFAULT 'default',
    prompt_name           text COLLATE "C",
    prompt_version        integer,
    usage_details         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(usage_details) = 'object'),
    provided_cost_details jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(provided_cost_details) = 'object'),
    cost_details          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(cost_details) = 'object'),
    input_tokens          bigint NOT NULL DEFAULT 0,
    output_tokens         bigint NOT NULL DEFAULT 0,
    total_tokens          bigint NOT NULL DEFAULT 0,
    input_cost_nanos      bigint,
    output_cost_nanos     bigint,
    total_cost_nanos      bigint,
    tenant                text COLLATE "C",
    feature               text COLLATE "C",
    is_placeholder        boolean NOT NULL DEFAULT false,
    created_at            bigint NOT NULL,
    updated_at            bigint NOT NULL,
    cost_source           text COLLATE "C" CHECK (cost_source IN ('provided', 'inferred')),
    priced_model_id       text COLLATE "C",
    pricing_tier          text COLLATE "C",
    unit_prices           jsonb CHECK (unit_prices IS NULL OR jsonb_typeof(unit_prices) = 'object'),
    event_time            bigint,
    savings_nanos         bigint CHECK (savings_nanos IS NULL OR savings_nanos >= 0),
    -- true when the call's figures are counted through its observation_share rows (schema/sqlite 0022).
    shared                boolean NOT NULL DEFAULT false,
    PRIMARY KEY (project_id, id, start_time),
    CHECK ((prompt_name IS NULL) = (prompt_version IS NULL))
) PARTITION BY RANGE (start_time);
CREATE TABLE observation_default PARTITION OF observation DEFAULT;
CREATE INDEX observation_id ON observation(project_id, id);
CREATE INDEX observation_trace ON observation(project_id, trace_id, start_time);
CREATE INDEX observation_time ON observation(project_id, start_time DESC);
CREATE INDEX observation_type_time ON observation(project_id, type, start_time DESC);
CREATE INDEX observation_tenant_time ON observation(project_id, tenant, start_time) WHERE tenant IS NOT NULL;
CREATE INDEX observation_cost_time ON observation(project_id, start_time) WHERE cost_source = 'inferred';
CREATE INDEX observation_prompt ON observation(project_id, prompt_name, prompt_version, start_time)
    WHERE prompt_name IS NOT NULL;

-- One tenant's part of a shared call (schema/sqlite 0022): n is 1 for the share that carries the call itself.
CREATE TABLE observation_share (
    project_id         text COLLATE "C" NOT NULL,
    observation_id     text COLLATE "C" NOT NULL,
    tenant             text COLLATE "C" NOT NULL CHECK (tenant <> ''),
    n                  smallint NOT NULL CHECK (n IN (0, 1)),
    input_tokens       bigint NOT NULL,
    output_tokens      bigint NOT NULL,
    total_tokens       bigint NOT NULL,
    cache_read_tokens  bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    reasoning_tokens   bigint NOT NULL,
    input_cost_nanos   bigint,
    output_cost_nanos  bigint,
    total_cost_nanos   bigint,
    savings_nanos      bigint,
    PRIMARY KEY (project_id, observation_id, tenant)
);

CREATE TABLE score (
    project_id     text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id             text COLLATE "C" NOT NULL,
    name           text COLLATE "C" NOT NULL,
    value          double precision,
    string_value   text COLLATE "C",
    data_type      text COLLATE "C" NOT NULL CHECK (data_type IN ('NUMERIC', 'BOOLEAN', 'CATEGORICAL', 'TEXT', 'CORRECTION')),
    source         text COLLATE "C" NOT NULL CHECK (source IN ('API', 'EVAL', 'ANNOTATION')),
    trace_id       text COLLATE "C",
    observation_id text COLLATE "C",
    session_id     text COLLATE "C",
    dataset_run_id text COLLATE "C",
    comment        text COLLATE "C",
    metadata       text COLLATE "C",
    config_id      text COLLATE "C",
    queue_id       text COLLATE "C",
    environment    text COLLATE "C" NOT NULL DEFAULT 'default',
    timestamp      bigint NOT NULL,
    created_at     bigint NOT NULL,
    updated_at     bigint NOT NULL,
    event_time     bigint,
    PRIMARY KEY (project_id, id),
    CHECK ((trace_id IS NOT NULL)::int + (session_id IS NOT NULL)::int + (dataset_run_id IS NOT NULL)::int = 1),
    CHECK (observation_id IS NULL OR trace_id IS NOT NULL)
);
CREATE INDEX score_trace ON score(project_id, trace_id, timestamp);
CREATE INDEX score_session ON score(project_id, session_id);
CREATE INDEX score_time ON score(project_id, timestamp DESC);
CREATE INDEX score_name ON score(project_id, name, timestamp DESC);

-- Project-defined model prices (definition: ModelPrice JSON, USD per unit) and per-project settings.
-- pricing_version is bumped by every change to a project's models or pricing settings: each collector caches a
-- project's price table and re-reads it when the version it holds is no longer the stored one.
CREATE TABLE model (
    project_id text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id         text COLLATE "C" NOT NULL,
    model_name text COLLATE "C" NOT NULL,
    definition jsonb NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    created_at bigint NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE project_setting (
    project_id      text COLLATE "C" PRIMARY KEY REFERENCES project(id) ON DELETE CASCADE,
    builtin_prices  boolean NOT NULL DEFAULT true,
    price_by        text COLLATE "C" NOT NULL DEFAULT 'requested' CHECK (price_by IN ('requested', 'response')),
    retention_days  integer CHECK (retention_days IS NULL OR retention_days >= 0),
    pricing_version bigint NOT NULL DEFAULT 0
);
