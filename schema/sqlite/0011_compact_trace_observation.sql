-- Compact storage for the two big tables, and per-trace totals.
--
-- trace and observation become rowid tables with UNIQUE (project_id, id): a new row is appended at the end of the
-- table instead of being inserted at a random place of a primary-key B-tree holding whole rows (which rewrote a
-- half-empty page per span and left pages ~70% full), and every secondary index carries an integer rowid instead of
-- the (project_id, id) text key. Indexes on columns that are mostly NULL are partial.
--
-- Large JSON content (input, output, model parameters) may be stored zlib-compressed: such a column holds TEXT
-- (the JSON itself) or a BLOB (zlib stream of the JSON's UTF-8 text); readers accept both. metadata, tags and the
-- *_details columns stay plain JSON text because SQL reads them (json_extract).
--
-- The JSON columns are checked for their first character only ('{' object, '[' array): the store writes them from
-- its own serializer, and a full json_type() parse of every column on every insert cost a third of the insert time.
--
-- Per-trace totals over the trace's observations, kept exact by every ingest transaction (and cost recompute) for
-- the traces it touched: the trace list sorts by them through an index. duration_micros: from the first
-- observation start to the last end (or start); max_level: 0 DEBUG, 1 DEFAULT, 2 WARNING, 3 ERROR.

CREATE TABLE trace_new (
    project_id        TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id                TEXT NOT NULL,
    timestamp         INTEGER NOT NULL,
    name              TEXT,
    user_id           TEXT,
    session_id        TEXT,
    release           TEXT,
    version           TEXT,
    environment       TEXT NOT NULL DEFAULT 'default',
    input             ANY,
    output            ANY,
    metadata          TEXT NOT NULL DEFAULT '{}' CHECK (substr(metadata, 1, 1) = '{'),
    tags              TEXT NOT NULL DEFAULT '[]' CHECK (substr(tags, 1, 1) = '['),
    public            INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    bookmarked        INTEGER NOT NULL DEFAULT 0 CHECK (bookmarked IN (0, 1)),
    external_id       TEXT,
    tenant            TEXT,
    feature           TEXT,
    is_placeholder    INTEGER NOT NULL DEFAULT 0 CHECK (is_placeholder IN (0, 1)),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    event_time        INTEGER,
    observation_count INTEGER NOT NULL DEFAULT 0,
    input_tokens      INTEGER NOT NULL DEFAULT 0,
    output_tokens     INTEGER NOT NULL DEFAULT 0,
    total_tokens      INTEGER NOT NULL DEFAULT 0,
    total_cost_nanos  INTEGER NOT NULL DEFAULT 0,
    duration_micros   INTEGER NOT NULL DEFAULT 0,
    max_level         INTEGER NOT NULL DEFAULT 1 CHECK (max_level BETWEEN 0 AND 3),
    UNIQUE (project_id, id),
    CHECK (typeof(input) IN ('null', 'text', 'blob') AND typeof(output) IN ('null', 'text', 'blob'))
) STRICT;

INSERT INTO trace_new (project_id, id, timestamp, name, user_id, session_id, release, version, environment, input,
    output, metadata, tags, public, bookmarked, external_id, tenant, feature, is_placeholder, created_at, updated_at,
    event_time)
SELECT project_id, id, timestamp, name, user_id, session_id, release, version, environment, input, output, metadata,
    tags, public, bookmarked, external_id, tenant, feature, is_placeholder, created_at, updated_at, event_time
FROM trace ORDER BY project_id, timestamp;

DROP TABLE trace;
ALTER TABLE trace_new RENAME TO trace;

CREATE INDEX trace_time ON trace(project_id, timestamp DESC);
CREATE INDEX trace_user ON trace(project_id, user_id, timestamp DESC) WHERE user_id IS NOT NULL;
CREATE INDEX trace_session ON trace(project_id, session_id, timestamp DESC) WHERE session_id IS NOT NULL;
CREATE INDEX trace_name ON trace(project_id, name, timestamp DESC);
CREATE INDEX trace_tenant ON trace(project_id, tenant, timestamp DESC) WHERE tenant IS NOT NULL;
CREATE INDEX trace_feature ON trace(project_id, feature, timestamp DESC) WHERE feature IS NOT NULL;
CREATE INDEX trace_cost ON trace(project_id, total_cost_nanos);
CREATE INDEX trace_duration ON trace(project_id, duration_micros);
CREATE INDEX trace_tokens ON trace(project_id, total_tokens);

CREATE TABLE observation_new (
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
    model_parameters      ANY,
    input                 ANY,
    output                ANY,
    metadata              TEXT NOT NULL DEFAULT '{}' CHECK (substr(metadata, 1, 1) = '{'),
    level                 TEXT NOT NULL DEFAULT 'DEFAULT' CHECK (level IN ('DEBUG','DEFAULT','WARNING','ERROR')),
    status_message        TEXT,
    version               TEXT,
    environment           TEXT NOT NULL DEFAULT 'default',
    prompt_name           TEXT,
    prompt_version        INTEGER,
    usage_details         TEXT NOT NULL DEFAULT '{}' CHECK (substr(usage_details, 1, 1) = '{'),
    provided_cost_details TEXT NOT NULL DEFAULT '{}' CHECK (substr(provided_cost_details, 1, 1) = '{'),
    cost_details          TEXT NOT NULL DEFAULT '{}' CHECK (substr(cost_details, 1, 1) = '{'),
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
    response_model        TEXT,
    cost_source           TEXT CHECK (cost_source IN ('provided', 'inferred')),
    priced_model_id       TEXT,
    pricing_tier          TEXT,
    unit_prices           TEXT CHECK (unit_prices IS NULL OR substr(unit_prices, 1, 1) = '{'),
    event_time            INTEGER,
    UNIQUE (project_id, id),
    CHECK ((prompt_name IS NULL) = (prompt_version IS NULL)),
    CHECK (typeof(input) IN ('null', 'text', 'blob') AND typeof(output) IN ('null', 'text', 'blob')
        AND typeof(model_parameters) IN ('null', 'text', 'blob'))
) STRICT;

-- Copying does not touch the rollups: the observation triggers are dropped with the old table.
INSERT INTO observation_new (project_id, id, trace_id, parent_observation_id, type, name, start_time, end_time,
    completion_start_time, model, model_parameters, input, output, metadata, level, status_message, version,
    environment, prompt_name, prompt_version, usage_details, provided_cost_details, cost_details, input_tokens,
    output_tokens, total_tokens, input_cost_nanos, output_cost_nanos, total_cost_nanos, tenant, feature,
    is_placeholder, created_at, updated_at, response_model, cost_source, priced_model_id, pricing_tier, unit_prices,
    event_time)
SELECT project_id, id, trace_id, parent_observation_id, type, name, start_time, end_time, completion_start_time,
    model, model_parameters, input, output, metadata, level, status_message, version, environment, prompt_name,
    prompt_version, usage_details, provided_cost_details, cost_details, input_tokens, output_tokens, total_tokens,
    input_cost_nanos, output_cost_nanos, total_cost_nanos, tenant, feature, is_placeholder, created_at, updated_at,
    response_model, cost_source, priced_model_id, pricing_tier, unit_prices, event_time
FROM observation ORDER BY project_id, start_time;

DROP TABLE observation;
ALTER TABLE observation_new RENAME TO observation;

CREATE INDEX observation_trace ON observation(project_id, trace_id, start_time);
CREATE INDEX observation_time ON observation(project_id, start_time DESC);
CREATE INDEX observation_type_time ON observation(project_id, type, start_time DESC);
CREATE INDEX observation_tenant_time ON observation(project_id, tenant, start_time) WHERE tenant IS NOT NULL;
CREATE INDEX observation_cost_time ON observation(project_id, start_time) WHERE cost_source = 'inferred';
CREATE INDEX observation_prompt ON observation(project_id, prompt_name, prompt_version, start_time)
    WHERE prompt_name IS NOT NULL;

-- The delta row of an observation is spelled out in each trigger below (SQLite triggers cannot share an
-- expression); the spellings must stay identical (and equal to 0006's but for `hour`).
-- No insert trigger: the store is the only writer that inserts observations, and it adds each insert's delta itself
-- (RollupAccumulator in TallyStore, the same expressions in Swift) — summed per transaction on the fast path, one
-- row at a time inside each event's savepoint otherwise. Rows inserted by hand (a sqlite3 shell) are not rolled up.
CREATE TRIGGER observation_rollup_delete AFTER DELETE ON observation BEGIN
    INSERT INTO rollup_delta VALUES (-1, OLD.project_id, OLD.start_time / 86400000000 * 86400000000,
        OLD.start_time / 3600000000 * 3600000000, OLD.environment,
        coalesce(OLD.tenant, ''), coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''),
        coalesce(OLD.response_model, ''), OLD.prompt_name, OLD.prompt_version,
        CAST(floor(ln(max((OLD.end_time - OLD.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        -(OLD.level = 'ERROR'), -OLD.input_tokens, -OLD.output_tokens, -OLD.total_tokens,
        -coalesce(OLD.input_cost_nanos, 0), -coalesce(OLD.output_cost_nanos, 0),
        -coalesce(OLD.total_cost_nanos, 0));
END;

-- Only when a rolled-up column changed: a re-sent (identical) event costs no rollup write.
CREATE TRIGGER observation_rollup_update AFTER UPDATE ON observation
WHEN OLD.start_time IS NOT NEW.start_time OR OLD.environment IS NOT NEW.environment
    OR OLD.tenant IS NOT NEW.tenant OR OLD.feature IS NOT NEW.feature OR OLD.type IS NOT NEW.type
    OR OLD.model IS NOT NEW.model OR OLD.response_model IS NOT NEW.response_model
    OR OLD.prompt_name IS NOT NEW.prompt_name OR OLD.prompt_version IS NOT NEW.prompt_version
    OR OLD.end_time IS NOT NEW.end_time OR OLD.level IS NOT NEW.level
    OR OLD.input_tokens IS NOT NEW.input_tokens OR OLD.output_tokens IS NOT NEW.output_tokens
    OR OLD.total_tokens IS NOT NEW.total_tokens OR OLD.input_cost_nanos IS NOT NEW.input_cost_nanos
    OR OLD.output_cost_nanos IS NOT NEW.output_cost_nanos OR OLD.total_cost_nanos IS NOT NEW.total_cost_nanos
BEGIN
    INSERT INTO rollup_delta VALUES (-1, OLD.project_id, OLD.start_time / 86400000000 * 86400000000,
        OLD.start_time / 3600000000 * 3600000000, OLD.environment,
        coalesce(OLD.tenant, ''), coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''),
        coalesce(OLD.response_model, ''), OLD.prompt_name, OLD.prompt_version,
        CAST(floor(ln(max((OLD.end_time - OLD.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        -(OLD.level = 'ERROR'), -OLD.input_tokens, -OLD.output_tokens, -OLD.total_tokens,
        -coalesce(OLD.input_cost_nanos, 0), -coalesce(OLD.output_cost_nanos, 0),
        -coalesce(OLD.total_cost_nanos, 0));
    INSERT INTO rollup_delta VALUES (1, NEW.project_id, NEW.start_time / 86400000000 * 86400000000,
        NEW.start_time / 3600000000 * 3600000000, NEW.environment,
        coalesce(NEW.tenant, ''), coalesce(NEW.feature, ''), NEW.type, coalesce(NEW.model, ''),
        coalesce(NEW.response_model, ''), NEW.prompt_name, NEW.prompt_version,
        CAST(floor(ln(max((NEW.end_time - NEW.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        (NEW.level = 'ERROR'), NEW.input_tokens, NEW.output_tokens, NEW.total_tokens,
        coalesce(NEW.input_cost_nanos, 0), coalesce(NEW.output_cost_nanos, 0),
        coalesce(NEW.total_cost_nanos, 0));
END;

-- Totals of every stored trace.
UPDATE trace SET (observation_count, input_tokens, output_tokens, total_tokens, total_cost_nanos, duration_micros,
        max_level) = (
    SELECT count(*), coalesce(sum(x.input_tokens), 0), coalesce(sum(x.output_tokens), 0),
        coalesce(sum(x.total_tokens), 0), coalesce(sum(x.total_cost_nanos), 0),
        coalesce(max(coalesce(x.end_time, x.start_time)) - min(x.start_time), 0),
        coalesce(max(CASE x.level WHEN 'DEBUG' THEN 0 WHEN 'DEFAULT' THEN 1 WHEN 'WARNING' THEN 2 ELSE 3 END), 1)
    FROM observation x WHERE x.project_id = trace.project_id AND x.trace_id = trace.id)
WHERE EXISTS (SELECT 1 FROM observation x WHERE x.project_id = trace.project_id AND x.trace_id = trace.id);
