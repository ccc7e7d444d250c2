-- The sums /metrics (Prometheus) and the OTLP metrics push read at scrape time: model calls (GENERATION and EMBEDDING
-- observations) by environment, tenant, feature, requested model and outcome (error: level ERROR), since the first
-- one stored. Scrapes read these few rows instead of the observations, so a restart neither loses nor doubles a
-- count, and every figure comes from the same integers as the analytics.
--
-- Unlike the analytics rollups these are counters: deleting observations (the delete API, retention) does not
-- subtract them (Prometheus would read a decrease as a counter reset and show the whole total as new spend).
-- Updates do move an observation's contribution (a late tenant, a repriced cost, an error reported later).
-- Maintained by the store's RollupAccumulator on insert (there is no insert trigger on observation) and by the update
-- trigger below. '' stands for no tenant, feature or model.
--
-- Token columns: input_tokens and output_tokens are the analytics' (every usage key naming input, resp. output);
-- cache_read, cache_write (5 min and 1 h) and reasoning are parts of them, summed from the usage keys PriceKey maps
-- onto those price keys (the lists below are the same aliases; TallyStoreTests checks the two agree).
-- cost_nanos: total cost in nano-USD (0 when the call has no cost).
CREATE TABLE rollup_metric (
    project_id         TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    environment        TEXT NOT NULL,
    tenant             TEXT NOT NULL,
    feature            TEXT NOT NULL,
    model              TEXT NOT NULL,
    error              INTEGER NOT NULL CHECK (error IN (0, 1)),
    n                  INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens   INTEGER NOT NULL,
    cost_nanos         INTEGER NOT NULL,
    PRIMARY KEY (project_id, environment, tenant, feature, model, error)
) STRICT, WITHOUT ROWID;

-- Call durations (end_time - start_time, negative ones as 0; calls without an end are not counted) by environment,
-- requested model and outcome, in fixed buckets: bucket i holds durations in (bound[i-1], bound[i]] with bounds
-- 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300 s (LLMMetrics.durationBounds); bucket 12 the longer ones.
-- duration_seconds: the sum of the durations (floating point, like Prometheus' _sum).
CREATE TABLE rollup_metric_latency (
    project_id       TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    environment      TEXT NOT NULL,
    model            TEXT NOT NULL,
    error            INTEGER NOT NULL CHECK (error IN (0, 1)),
    bucket           INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 12),
    n                INTEGER NOT NULL,
    duration_seconds REAL NOT NULL,
    PRIMARY KEY (project_id, environment, model, error, bucket)
) STRICT, WITHOUT ROWID;

-- Staged contributions, as rollup_delta stages the analytics rollups' (schema 0010): while rollup_control.deferred is
-- 1 (inside an ingest transaction) the update trigger only appends two rows per changed model call here (the old
-- values with n = -1 and measures negated, the new with n = 1), and the store folds them grouped before its commit
-- (RollupDeltas.apply: the two upserts below, then DELETE). For every other writer (deferred = 0) the apply trigger
-- folds each row at once. Empty outside a transaction. duration_micros: end - start, NULL without an end.
CREATE TABLE metric_delta (
    n               INTEGER NOT NULL,
    project_id      TEXT NOT NULL,
    environment     TEXT NOT NULL,
    tenant          TEXT NOT NULL,
    feature         TEXT NOT NULL,
    model           TEXT NOT NULL,
    error           INTEGER NOT NULL,
    input_tokens    INTEGER NOT NULL,
    output_tokens   INTEGER NOT NULL,
    usage_details   TEXT NOT NULL,
    cost_nanos      INTEGER NOT NULL,
    duration_micros INTEGER
) STRICT;

-- metric_delta summed per rollup_metric key: the token classes from each row's usage keys (the lists are the
-- aliases PriceKey maps onto cache_read, cache_write and cache_write_1h, and reasoning; TallyStoreTests checks they
-- agree with the Swift side).
CREATE VIEW metric_delta_sums AS
SELECT project_id, environment, tenant, feature, model, error, sum(n) AS n, sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(n * (SELECT coalesce(sum(value), 0) FROM json_each(usage_details)
        WHERE key IN ('cache_read', 'cache_read_input_tokens', 'input_cached_tokens', 'input_cache_read',
            'cached_tokens', 'input_cached', 'cached_content_token_count', 'cachedContentTokenCount')))
        AS cache_read_tokens,
    sum(n * (SELECT coalesce(sum(value), 0) FROM json_each(usage_details)
        WHERE key IN ('cache_write', 'cache_creation_input_tokens', 'input_cache_creation',
            'input_cache_creation_5m', 'input_cache_write', 'cache_write_1h', 'input_cache_creation_1h')))
        AS cache_write_tokens,
    sum(n * (SELECT coalesce(sum(value), 0) FROM json_each(usage_details)
        WHERE key IN ('reasoning', 'reasoning_tokens', 'output_reasoning_tokens', 'output_reasoning',
            'thoughts_token_count', 'thoughtsTokenCount')))
        AS reasoning_tokens,
    sum(cost_nanos) AS cost_nanos
FROM metric_delta GROUP BY project_id, environment, tenant, feature, model, error;

-- metric_delta's durations per rollup_metric_latency key: bucket = how many bounds (µs) lie below the duration.
CREATE VIEW metric_delta_latency AS
SELECT project_id, environment, model, error, bucket, sum(n) AS n,
    sum(n * max(duration_micros, 0) / 1e6) AS duration_seconds
FROM (SELECT *, (SELECT count(*) FROM json_each('[100000, 250000, 500000, 1000000, 2000000, 5000000,
        10000000, 20000000, 30000000, 60000000, 120000000, 300000000]') WHERE value < duration_micros) AS bucket
    FROM metric_delta WHERE duration_micros IS NOT NULL)
GROUP BY project_id, environment, model, error, bucket;

CREATE TRIGGER metric_delta_apply AFTER INSERT ON metric_delta
WHEN (SELECT deferred FROM rollup_control WHERE id = 1) = 0
BEGIN
    INSERT INTO rollup_metric SELECT * FROM metric_delta_sums WHERE true
    ON CONFLICT DO UPDATE SET n = n + excluded.n, input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
        cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
        reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
        cost_nanos = cost_nanos + excluded.cost_nanos;
    INSERT INTO rollup_metric_latency SELECT * FROM metric_delta_latency WHERE true
    ON CONFLICT DO UPDATE SET n = n + excluded.n, duration_seconds = duration_seconds + excluded.duration_seconds;
    DELETE FROM metric_delta;
END;

-- Only when a column these sums read changed, and only for model calls (before or after the change).
CREATE TRIGGER observation_metric_update AFTER UPDATE ON observation
WHEN (OLD.type IN ('GENERATION', 'EMBEDDING') OR NEW.type IN ('GENERATION', 'EMBEDDING'))
    AND (OLD.type IS NOT NEW.type OR OLD.environment IS NOT NEW.environment OR OLD.tenant IS NOT NEW.tenant
        OR OLD.feature IS NOT NEW.feature OR OLD.model IS NOT NEW.model OR OLD.level IS NOT NEW.level
        OR OLD.usage_details IS NOT NEW.usage_details OR OLD.input_tokens IS NOT NEW.input_tokens
        OR OLD.output_tokens IS NOT NEW.output_tokens OR OLD.total_cost_nanos IS NOT NEW.total_cost_nanos
        OR OLD.start_time IS NOT NEW.start_time OR OLD.end_time IS NOT NEW.end_time)
BEGIN
    INSERT INTO metric_delta SELECT -1, OLD.project_id, OLD.environment, coalesce(OLD.tenant, ''),
        coalesce(OLD.feature, ''), coalesce(OLD.model, ''), OLD.level = 'ERROR', -OLD.input_tokens, -OLD.output_tokens,
        OLD.usage_details, -coalesce(OLD.total_cost_nanos, 0), OLD.end_time - OLD.start_time
    WHERE OLD.type IN ('GENERATION', 'EMBEDDING');
    INSERT INTO metric_delta SELECT 1, NEW.project_id, NEW.environment, coalesce(NEW.tenant, ''),
        coalesce(NEW.feature, ''), coalesce(NEW.model, ''), NEW.level = 'ERROR', NEW.input_tokens, NEW.output_tokens,
        NEW.usage_details, coalesce(NEW.total_cost_nanos, 0), NEW.end_time - NEW.start_time
    WHERE NEW.type IN ('GENERATION', 'EMBEDDING');
END;

-- The model calls already stored: staged (deferred, so the apply trigger waits) and folded at once.
UPDATE rollup_control SET deferred = 1 WHERE id = 1;
INSERT INTO metric_delta SELECT 1, project_id, environment, coalesce(tenant, ''), coalesce(feature, ''),
    coalesce(model, ''), level = 'ERROR', input_tokens, output_tokens, usage_details, coalesce(total_cost_nanos, 0),
    end_time - start_time
FROM observation WHERE type IN ('GENERATION', 'EMBEDDING');
INSERT INTO rollup_metric SELECT * FROM metric_delta_sums WHERE true
ON CONFLICT DO UPDATE SET n = n + excluded.n, input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
        cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
        reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
        cost_nanos = cost_nanos + excluded.cost_nanos;
INSERT INTO rollup_metric_latency SELECT * FROM metric_delta_latency WHERE true
ON CONFLICT DO UPDATE SET n = n + excluded.n, duration_seconds = duration_seconds + excluded.duration_seconds;
DELETE FROM metric_delta;
UPDATE rollup_control SET deferred = 0 WHERE id = 1;
