-- Group commit and hourly rollups.
--
-- Hourly sums by environment, tenant and feature beside the daily ones: a range that does not start or end on a UTC
-- midnight (last 24 h, last 7 d) reads whole hours from here and scans only the partial hours at its edges.
-- hour: UTC hour start, µs since the epoch; other columns as in rollup_tenant_day.
CREATE TABLE rollup_tenant_hour (
    project_id        TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    hour              INTEGER NOT NULL,
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
    PRIMARY KEY (project_id, hour, environment, tenant, feature)
) STRICT, WITHOUT ROWID;

-- Daily sums by environment and tenant only: the per-tenant spend the dashboards ask for most reads one row per
-- tenant and day (rollup_tenant_day holds one per feature as well, ~10× more).
CREATE TABLE rollup_tenant_total_day (
    project_id        TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day               INTEGER NOT NULL,
    environment       TEXT NOT NULL,
    tenant            TEXT NOT NULL,
    n                 INTEGER NOT NULL,
    errors            INTEGER NOT NULL,
    input_tokens      INTEGER NOT NULL,
    output_tokens     INTEGER NOT NULL,
    total_tokens      INTEGER NOT NULL,
    input_cost_nanos  INTEGER NOT NULL,
    output_cost_nanos INTEGER NOT NULL,
    total_cost_nanos  INTEGER NOT NULL,
    PRIMARY KEY (project_id, day, environment, tenant)
) STRICT, WITHOUT ROWID;

-- While `deferred` is 1 (set and cleared inside one ingest transaction) delta rows (the ingest's own for the
-- observations it inserts, summed per rollup key, and those of the triggers on updates) stay in rollup_delta, and
-- the ingest applies them grouped before its commit: one upsert per touched rollup row instead of five per
-- observation.
-- Every other writer (tenant propagation outside ingest, repricing, retention, a sqlite3 shell) finds 0 and each
-- delta row is applied at once, as before. A transaction that dies rolls the flag back with everything else.
CREATE TABLE rollup_control (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    deferred INTEGER NOT NULL CHECK (deferred IN (0, 1))
) STRICT;
INSERT INTO rollup_control VALUES (1, 0);

DROP TRIGGER rollup_delta_apply;
DROP TRIGGER observation_rollup_insert;
DROP TRIGGER observation_rollup_update;
DROP TRIGGER observation_rollup_delete;
DROP TABLE rollup_delta;

-- As in 0006 plus `hour`, and with `n` (signed count) instead of a sign: a row may carry many observations' sums
-- (the ingest adds its new observations aggregated per rollup key). Measures are signed. Empty outside a
-- transaction.
CREATE TABLE rollup_delta (
    n                 INTEGER NOT NULL,
    project_id        TEXT NOT NULL,
    day               INTEGER NOT NULL,
    hour              INTEGER NOT NULL,
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

CREATE TRIGGER rollup_delta_apply AFTER INSERT ON rollup_delta
WHEN (SELECT deferred FROM rollup_control WHERE id = 1) = 0
BEGIN
    INSERT INTO rollup_usage_day VALUES (NEW.project_id, NEW.day, NEW.environment, NEW.tenant, NEW.feature, NEW.type,
        NEW.model, NEW.response_model, NEW.n, NEW.errors, NEW.input_tokens, NEW.output_tokens, NEW.total_tokens,
        NEW.input_cost_nanos, NEW.output_cost_nanos, NEW.total_cost_nanos)
    ON CONFLICT DO UPDATE SET n = n + excluded.n, errors = errors + excluded.errors,
        input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
        total_tokens = total_tokens + excluded.total_tokens,
        input_cost_nanos = input_cost_nanos + excluded.input_cost_nanos,
        output_cost_nanos = output_cost_nanos + excluded.output_cost_nanos,
        total_cost_nanos = total_cost_nanos + excluded.total_cost_nanos;
    INSERT INTO rollup_tenant_day VALUES (NEW.project_id, NEW.day, NEW.environment, NEW.tenant, NEW.feature,
        NEW.n, NEW.errors, NEW.input_tokens, NEW.output_tokens, NEW.total_tokens, NEW.input_cost_nanos,
        NEW.output_cost_nanos, NEW.total_cost_nanos)
    ON CONFLICT DO UPDATE SET n = n + excluded.n, errors = errors + excluded.errors,
        input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
        total_tokens = total_tokens + excluded.total_tokens,
        input_cost_nanos = input_cost_nanos + excluded.input_cost_nanos,
        output_cost_nanos = output_cost_nanos + excluded.output_cost_nanos,
        total_cost_nanos = total_cost_nanos + excluded.total_cost_nanos;
    INSERT INTO rollup_tenant_total_day VALUES (NEW.project_id, NEW.day, NEW.environment, NEW.tenant,
        NEW.n, NEW.errors, NEW.input_tokens, NEW.output_tokens, NEW.total_tokens, NEW.input_cost_nanos,
        NEW.output_cost_nanos, NEW.total_cost_nanos)
    ON CONFLICT DO UPDATE SET n = n + excluded.n, errors = errors + excluded.errors,
        input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
        total_tokens = total_tokens + excluded.total_tokens,
        input_cost_nanos = input_cost_nanos + excluded.input_cost_nanos,
        output_cost_nanos = output_cost_nanos + excluded.output_cost_nanos,
        total_cost_nanos = total_cost_nanos + excluded.total_cost_nanos;
    INSERT INTO rollup_tenant_hour VALUES (NEW.project_id, NEW.hour, NEW.environment, NEW.tenant, NEW.feature,
        NEW.n, NEW.errors, NEW.input_tokens, NEW.output_tokens, NEW.total_tokens, NEW.input_cost_nanos,
        NEW.output_cost_nanos, NEW.total_cost_nanos)
    ON CONFLICT DO UPDATE SET n = n + excluded.n, errors = errors + excluded.errors,
        input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
        total_tokens = total_tokens + excluded.total_tokens,
        input_cost_nanos = input_cost_nanos + excluded.input_cost_nanos,
        output_cost_nanos = output_cost_nanos + excluded.output_cost_nanos,
        total_cost_nanos = total_cost_nanos + excluded.total_cost_nanos;
    INSERT INTO rollup_prompt_day SELECT NEW.project_id, NEW.prompt_name, NEW.prompt_version, NEW.day,
        NEW.environment, NEW.n, NEW.errors, NEW.input_tokens, NEW.output_tokens, NEW.total_tokens,
        NEW.input_cost_nanos, NEW.output_cost_nanos, NEW.total_cost_nanos
    WHERE NEW.prompt_name IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n, errors = errors + excluded.errors,
        input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
        total_tokens = total_tokens + excluded.total_tokens,
        input_cost_nanos = input_cost_nanos + excluded.input_cost_nanos,
        output_cost_nanos = output_cost_nanos + excluded.output_cost_nanos,
        total_cost_nanos = total_cost_nanos + excluded.total_cost_nanos;
    INSERT INTO rollup_prompt_latency_day SELECT NEW.project_id, NEW.prompt_name, NEW.prompt_version, NEW.day,
        NEW.environment, NEW.latency_bucket, NEW.n
    WHERE NEW.prompt_name IS NOT NULL AND NEW.latency_bucket IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;
    DELETE FROM rollup_delta;
END;

-- The observation triggers that feed rollup_delta (now with `hour`) are created again by 0011 with the table they
-- belong to; no observation is written between the two migrations.

-- Backfill the hourly rollup from the observations already stored (the daily ones are already exact).
INSERT INTO rollup_tenant_hour SELECT project_id, start_time / 3600000000 * 3600000000, environment,
    coalesce(tenant, ''), coalesce(feature, ''), count(*), sum(level = 'ERROR'), sum(input_tokens),
    sum(output_tokens), sum(total_tokens), sum(coalesce(input_cost_nanos, 0)), sum(coalesce(output_cost_nanos, 0)),
    sum(coalesce(total_cost_nanos, 0))
FROM observation WHERE true
GROUP BY project_id, start_time / 3600000000 * 3600000000, environment, coalesce(tenant, ''), coalesce(feature, '');

INSERT INTO rollup_tenant_total_day SELECT project_id, day, environment, tenant, sum(n), sum(errors),
    sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(input_cost_nanos), sum(output_cost_nanos),
    sum(total_cost_nanos)
FROM rollup_tenant_day WHERE true GROUP BY project_id, day, environment, tenant;
