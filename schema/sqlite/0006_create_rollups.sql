-- Daily rollups of observations, kept exact by triggers in the same transaction as every observation insert, update
-- and delete (ingest, tenant propagation, cost recompute, trace deletion, project cascade).
-- day: UTC day start, µs since the epoch. Key columns store '' for NULL (so the upsert conflict target matches);
-- readers turn '' back into NULL. Rows whose n drops to 0 stay until `prune`; readers skip them (HAVING).
-- Sums are as in `observation`: tokens, nano-USD (NULL cost counts as 0).
CREATE TABLE rollup_usage_day (
    project_id        TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day               INTEGER NOT NULL,
    environment       TEXT NOT NULL,
    tenant            TEXT NOT NULL,
    feature           TEXT NOT NULL,
    type              TEXT NOT NULL,
    model             TEXT NOT NULL,
    response_model    TEXT NOT NULL,
    n                 INTEGER NOT NULL,
    errors            INTEGER NOT NULL,
    input_tokens      INTEGER NOT NULL,
    output_tokens     INTEGER NOT NULL,
    total_tokens      INTEGER NOT NULL,
    input_cost_nanos  INTEGER NOT NULL,
    output_cost_nanos INTEGER NOT NULL,
    total_cost_nanos  INTEGER NOT NULL,
    PRIMARY KEY (project_id, day, environment, tenant, feature, type, model, response_model)
) STRICT, WITHOUT ROWID;

-- The same sums by environment, tenant and feature only: about 6× fewer rows, for the per-tenant and per-feature
-- spend that dashboards ask for most.
CREATE TABLE rollup_tenant_day (
    project_id        TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day               INTEGER NOT NULL,
    environment       TEXT NOT NULL,
    tenant            TEXT NOT NULL,
    feature           TEXT NOT NULL,
    n                 INTEGER NOT NULL,
    errors            INTEGER NOT NULL,
    input_tokens      INTEGER NOT NULL,
    output_tokens     INTEGER NOT NULL,
    total_tokens      INTEGER NOT NULL,
    input_cost_nanos  INTEGER NOT NULL,
    output_cost_nanos INTEGER NOT NULL,
    total_cost_nanos  INTEGER NOT NULL,
    PRIMARY KEY (project_id, day, environment, tenant, feature)
) STRICT, WITHOUT ROWID;

-- Per prompt version and day; only observations linked to a prompt.
CREATE TABLE rollup_prompt_day (
    project_id        TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    prompt_name       TEXT NOT NULL,
    prompt_version    INTEGER NOT NULL,
    day               INTEGER NOT NULL,
    environment       TEXT NOT NULL,
    n                 INTEGER NOT NULL,
    errors            INTEGER NOT NULL,
    input_tokens      INTEGER NOT NULL,
    output_tokens     INTEGER NOT NULL,
    total_tokens      INTEGER NOT NULL,
    input_cost_nanos  INTEGER NOT NULL,
    output_cost_nanos INTEGER NOT NULL,
    total_cost_nanos  INTEGER NOT NULL,
    PRIMARY KEY (project_id, prompt_name, prompt_version, day, environment)
) STRICT, WITHOUT ROWID;

-- Latency histogram per prompt version and day: bucket b holds latencies in [1.02^b, 1.02^(b+1)) ms, so a
-- percentile read from it (bucket midpoint) is within 1% of the exact value. Observations without end_time are not
-- counted; latencies under 0.001 ms fall in the bucket of 0.001 ms.
CREATE TABLE rollup_prompt_latency_day (
    project_id     TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    prompt_name    TEXT NOT NULL,
    prompt_version INTEGER NOT NULL,
    day            INTEGER NOT NULL,
    environment    TEXT NOT NULL,
    bucket         INTEGER NOT NULL,
    n              INTEGER NOT NULL,
    PRIMARY KEY (project_id, prompt_name, prompt_version, day, environment, bucket)
) STRICT, WITHOUT ROWID;

-- First/last seen of a prompt version: min/max read straight from the index.
DROP INDEX observation_prompt;
CREATE INDEX observation_prompt ON observation(project_id, prompt_name, prompt_version, start_time);

-- Every change to an observation passes through rollup_delta as signed rows (+1 add, -1 remove the contribution);
-- the trigger on rollup_delta applies the row to each rollup and deletes it, so the table stays empty.
CREATE TABLE rollup_delta (
    sign              INTEGER NOT NULL CHECK (sign IN (-1, 1)),
    project_id        TEXT NOT NULL,
    day               INTEGER NOT NULL,
    environment       TEXT NOT NULL,
    tenant            TEXT NOT NULL,
    feature           TEXT NOT NULL,
    type              TEXT NOT NULL,
    model             TEXT NOT NULL,
    response_model    TEXT NOT NULL,
    prompt_name       TEXT,
    prompt_version    INTEGER,
    latency_bucket    INTEGER,
    errors            INTEGER NOT NULL,
    input_tokens      INTEGER NOT NULL,
    output_tokens     INTEGER NOT NULL,
    total_tokens      INTEGER NOT NULL,
    input_cost_nanos  INTEGER NOT NULL,
    output_cost_nanos INTEGER NOT NULL,
    total_cost_nanos  INTEGER NOT NULL
) STRICT;

CREATE TRIGGER rollup_delta_apply AFTER INSERT ON rollup_delta BEGIN
    INSERT INTO rollup_usage_day VALUES (NEW.project_id, NEW.day, NEW.environment, NEW.tenant, NEW.feature, NEW.type,
        NEW.model, NEW.response_model, NEW.sign, NEW.sign * NEW.errors, NEW.sign * NEW.input_tokens,
        NEW.sign * NEW.output_tokens, NEW.sign * NEW.total_tokens, NEW.sign * NEW.input_cost_nanos,
        NEW.sign * NEW.output_cost_nanos, NEW.sign * NEW.total_cost_nanos)
    ON CONFLICT DO UPDATE SET n = n + excluded.n, errors = errors + excluded.errors,
        input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
        total_tokens = total_tokens + excluded.total_tokens,
        input_cost_nanos = input_cost_nanos + excluded.input_cost_nanos,
        output_cost_nanos = output_cost_nanos + excluded.output_cost_nanos,
        total_cost_nanos = total_cost_nanos + excluded.total_cost_nanos;
    INSERT INTO rollup_tenant_day VALUES (NEW.project_id, NEW.day, NEW.environment, NEW.tenant, NEW.feature,
        NEW.sign, NEW.sign * NEW.errors, NEW.sign * NEW.input_tokens, NEW.sign * NEW.output_tokens,
        NEW.sign * NEW.total_tokens, NEW.sign * NEW.input_cost_nanos, NEW.sign * NEW.output_cost_nanos,
        NEW.sign * NEW.total_cost_nanos)
    ON CONFLICT DO UPDATE SET n = n + excluded.n, errors = errors + excluded.errors,
        input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
        total_tokens = total_tokens + excluded.total_tokens,
        input_cost_nanos = input_cost_nanos + excluded.input_cost_nanos,
        output_cost_nanos = output_cost_nanos + excluded.output_cost_nanos,
        total_cost_nanos = total_cost_nanos + excluded.total_cost_nanos;
    INSERT INTO rollup_prompt_day SELECT NEW.project_id, NEW.prompt_name, NEW.prompt_version, NEW.day,
        NEW.environment, NEW.sign, NEW.sign * NEW.errors, NEW.sign * NEW.input_tokens, NEW.sign * NEW.output_tokens,
        NEW.sign * NEW.total_tokens, NEW.sign * NEW.input_cost_nanos, NEW.sign * NEW.output_cost_nanos,
        NEW.sign * NEW.total_cost_nanos
    WHERE NEW.prompt_name IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n, errors = errors + excluded.errors,
        input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
        total_tokens = total_tokens + excluded.total_tokens,
        input_cost_nanos = input_cost_nanos + excluded.input_cost_nanos,
        output_cost_nanos = output_cost_nanos + excluded.output_cost_nanos,
        total_cost_nanos = total_cost_nanos + excluded.total_cost_nanos;
    INSERT INTO rollup_prompt_latency_day SELECT NEW.project_id, NEW.prompt_name, NEW.prompt_version, NEW.day,
        NEW.environment, NEW.latency_bucket, NEW.sign
    WHERE NEW.prompt_name IS NOT NULL AND NEW.latency_bucket IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    DELETE FROM rollup_delta;
END;

-- The delta row of an observation is spelled out in each trigger below (SQLite triggers cannot share an
-- expression); the four spellings, backfill included, must stay identical.
CREATE TRIGGER observation_rollup_insert AFTER INSERT ON observation BEGIN
    INSERT INTO rollup_delta VALUES (1, NEW.project_id, NEW.start_time / 86400000000 * 86400000000, NEW.environment,
        coalesce(NEW.tenant, ''), coalesce(NEW.feature, ''), NEW.type, coalesce(NEW.model, ''),
        coalesce(NEW.response_model, ''), NEW.prompt_name, NEW.prompt_version,
        CAST(floor(ln(max((NEW.end_time - NEW.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        NEW.level = 'ERROR', NEW.input_tokens, NEW.output_tokens, NEW.total_tokens, coalesce(NEW.input_cost_nanos, 0),
        coalesce(NEW.output_cost_nanos, 0), coalesce(NEW.total_cost_nanos, 0));
END;

CREATE TRIGGER observation_rollup_delete AFTER DELETE ON observation BEGIN
    INSERT INTO rollup_delta VALUES (-1, OLD.project_id, OLD.start_time / 86400000000 * 86400000000, OLD.environment,
        coalesce(OLD.tenant, ''), coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''),
        coalesce(OLD.response_model, ''), OLD.prompt_name, OLD.prompt_version,
        CAST(floor(ln(max((OLD.end_time - OLD.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        OLD.level = 'ERROR', OLD.input_tokens, OLD.output_tokens, OLD.total_tokens, coalesce(OLD.input_cost_nanos, 0),
        coalesce(OLD.output_cost_nanos, 0), coalesce(OLD.total_cost_nanos, 0));
END;

-- Only when a rolled-up column changed: a re-sent (identical) event costs no rollup write.
CREATE TRIGGER observation_rollup_update AFTER UPDATE ON observation
WHEN OLD.start_time / 86400000000 IS NOT NEW.start_time / 86400000000 OR OLD.environment IS NOT NEW.environment
    OR OLD.tenant IS NOT NEW.tenant OR OLD.feature IS NOT NEW.feature OR OLD.type IS NOT NEW.type
    OR OLD.model IS NOT NEW.model OR OLD.response_model IS NOT NEW.response_model
    OR OLD.prompt_name IS NOT NEW.prompt_name OR OLD.prompt_version IS NOT NEW.prompt_version
    OR OLD.start_time IS NOT NEW.start_time OR OLD.end_time IS NOT NEW.end_time OR OLD.level IS NOT NEW.level
    OR OLD.input_tokens IS NOT NEW.input_tokens OR OLD.output_tokens IS NOT NEW.output_tokens
    OR OLD.total_tokens IS NOT NEW.total_tokens OR OLD.input_cost_nanos IS NOT NEW.input_cost_nanos
    OR OLD.output_cost_nanos IS NOT NEW.output_cost_nanos OR OLD.total_cost_nanos IS NOT NEW.total_cost_nanos
BEGIN
    INSERT INTO rollup_delta VALUES (-1, OLD.project_id, OLD.start_time / 86400000000 * 86400000000, OLD.environment,
        coalesce(OLD.tenant, ''), coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''),
        coalesce(OLD.response_model, ''), OLD.prompt_name, OLD.prompt_version,
        CAST(floor(ln(max((OLD.end_time - OLD.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        OLD.level = 'ERROR', OLD.input_tokens, OLD.output_tokens, OLD.total_tokens, coalesce(OLD.input_cost_nanos, 0),
        coalesce(OLD.output_cost_nanos, 0), coalesce(OLD.total_cost_nanos, 0));
    INSERT INTO rollup_delta VALUES (1, NEW.project_id, NEW.start_time / 86400000000 * 86400000000, NEW.environment,
        coalesce(NEW.tenant, ''), coalesce(NEW.feature, ''), NEW.type, coalesce(NEW.model, ''),
        coalesce(NEW.response_model, ''), NEW.prompt_name, NEW.prompt_version,
        CAST(floor(ln(max((NEW.end_time - NEW.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        NEW.level = 'ERROR', NEW.input_tokens, NEW.output_tokens, NEW.total_tokens, coalesce(NEW.input_cost_nanos, 0),
        coalesce(NEW.output_cost_nanos, 0), coalesce(NEW.total_cost_nanos, 0));
END;

-- Backfill from the observations already stored.
INSERT INTO rollup_delta SELECT 1, project_id, start_time / 86400000000 * 86400000000, environment,
    coalesce(tenant, ''), coalesce(feature, ''), type, coalesce(model, ''), coalesce(response_model, ''), prompt_name,
    prompt_version, CAST(floor(ln(max((end_time - start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
    level = 'ERROR', input_tokens, output_tokens, total_tokens, coalesce(input_cost_nanos, 0),
    coalesce(output_cost_nanos, 0), coalesce(total_cost_nanos, 0)
FROM observation;
