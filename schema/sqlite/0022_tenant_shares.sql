-- Shared model calls (a batch made for several tenants at once): the call names each tenant's contribution
-- (metadata `tenantShares`, OTLP attribute `tally.tenant_shares`) and every figure of it is split between them
-- (TenantShares.split in TallyCore: integer largest remainder, so the shares of each figure sum to the call's
-- exactly). The observation keeps its own tenant (its trace's); the per-tenant figures come from its shares.
--
-- observation.shared: 1 when the call's figures are counted through its rows in observation_share instead of its own
-- tenant. Every rollup, counter and per-tenant read takes, for a shared call, one row per share: the share's
-- tenant and figures, the observation's other columns (time, environment, feature, model, prompt, level, latency).
ALTER TABLE observation ADD COLUMN shared INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1));

-- One tenant's part of a shared call. n: 1 for the one share that carries the call itself (its count, error and
-- latency: the largest weight, TenantShares.carrier), else 0; a call counts once however many tenants share it.
-- Tokens in units; costs and savings in nano-USD, NULL when the call has none. Shares that carry nothing are not
-- stored. Rows are only inserted and deleted (never updated), by the store's observation writer, which deletes a
-- call's old shares before it rewrites the observation and inserts the new ones after, so each trigger below sees
-- the observation it should.
CREATE TABLE observation_share (
    project_id         TEXT NOT NULL,
    observation_id     TEXT NOT NULL,
    tenant             TEXT NOT NULL CHECK (tenant <> ''),
    n                  INTEGER NOT NULL CHECK (n IN (0, 1)),
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    total_tokens       INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens   INTEGER NOT NULL,
    input_cost_nanos   INTEGER,
    output_cost_nanos  INTEGER,
    total_cost_nanos   INTEGER,
    savings_nanos      INTEGER,
    PRIMARY KEY (project_id, observation_id, tenant)
) STRICT, WITHOUT ROWID;

-- metric_delta gains `sign` (+1 or -1): a share row's count n may be 0 while its tokens are not, so the token
-- classes summed from usage_details are signed by `sign`, not by n. Empty outside a transaction: dropped and created
-- again with its views and apply trigger (definitions as in 0017 but for the sign).
DROP VIEW metric_delta_sums;
DROP VIEW metric_delta_latency;
DROP TABLE metric_delta;
CREATE TABLE metric_delta (
    n               INTEGER NOT NULL,
    sign            INTEGER NOT NULL CHECK (sign IN (-1, 1)),
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

CREATE VIEW metric_delta_sums AS
SELECT project_id, environment, tenant, feature, model, error, sum(n) AS n, sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(sign * (SELECT coalesce(sum(value), 0) FROM json_each(usage_details)
        WHERE key IN ('cache_read', 'cache_read_input_tokens', 'input_cached_tokens', 'input_cache_read',
            'cached_tokens', 'input_cached', 'cached_content_token_count', 'cachedContentTokenCount')))
        AS cache_read_tokens,
    sum(sign * (SELECT coalesce(sum(value), 0) FROM json_each(usage_details)
        WHERE key IN ('cache_write', 'cache_creation_input_tokens', 'input_cache_creation',
            'input_cache_creation_5m', 'input_cache_write', 'cache_write_1h', 'input_cache_creation_1h')))
        AS cache_write_tokens,
    sum(sign * (SELECT coalesce(sum(value), 0) FROM json_each(usage_details)
        WHERE key IN ('reasoning', 'reasoning_tokens', 'output_reasoning_tokens', 'output_reasoning',
            'thoughts_token_count', 'thoughtsTokenCount')))
        AS reasoning_tokens,
    sum(cost_nanos) AS cost_nanos
FROM metric_delta GROUP BY project_id, environment, tenant, feature, model, error;

CREATE VIEW metric_delta_latency AS
SELECT project_id, environment, model, error, bucket, sum(n) AS n,
    sum(n * max(duration_micros, 0) / 1e6) AS duration_seconds
FROM (SELECT *, (SELECT count(*) FROM json_each('[100000, 250000, 500000, 1000000, 2000000, 5000000,
        10000000, 20000000, 30000000, 60000000, 120000000, 300000000]') WHERE value < duration_micros) AS bucket
    FROM metric_delta WHERE duration_micros IS NOT NULL AND n <> 0)
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

-- The observation triggers of 0011 and 0017 again, each contribution now in two forms: an unshared call's own
-- (as before), or a shared call's shares (one row each, with the share's tenant and figures). The delta rows are
-- spelled out in each trigger (SQLite triggers cannot share an expression); the spellings must stay identical.
DROP TRIGGER observation_rollup_delete;
DROP TRIGGER observation_rollup_update;
DROP TRIGGER observation_metric_update;

-- A deleted call's contribution leaves the analytics rollups (not the counters of 0017), then its shares go; the
-- share delete trigger finds no observation and subtracts nothing again.
CREATE TRIGGER observation_rollup_delete AFTER DELETE ON observation BEGIN
    INSERT INTO rollup_delta SELECT -1, OLD.project_id, OLD.start_time / 86400000000 * 86400000000,
        OLD.start_time / 3600000000 * 3600000000, OLD.environment,
        coalesce(OLD.tenant, ''), coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''),
        coalesce(OLD.response_model, ''), OLD.prompt_name, OLD.prompt_version,
        CAST(floor(ln(max((OLD.end_time - OLD.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        -(OLD.level = 'ERROR'), -OLD.input_tokens, -OLD.output_tokens, -OLD.total_tokens,
        -coalesce(OLD.input_cost_nanos, 0), -coalesce(OLD.output_cost_nanos, 0),
        -coalesce(OLD.total_cost_nanos, 0)
    WHERE NOT OLD.shared;
    INSERT INTO rollup_delta SELECT -s.n, OLD.project_id, OLD.start_time / 86400000000 * 86400000000,
        OLD.start_time / 3600000000 * 3600000000, OLD.environment,
        s.tenant, coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''),
        coalesce(OLD.response_model, ''), OLD.prompt_name, OLD.prompt_version,
        CAST(floor(ln(max((OLD.end_time - OLD.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        -s.n * (OLD.level = 'ERROR'), -s.input_tokens, -s.output_tokens, -s.total_tokens,
        -coalesce(s.input_cost_nanos, 0), -coalesce(s.output_cost_nanos, 0), -coalesce(s.total_cost_nanos, 0)
    FROM observation_share s WHERE OLD.shared AND s.project_id = OLD.project_id AND s.observation_id = OLD.id;
    DELETE FROM observation_share WHERE project_id = OLD.project_id AND observation_id = OLD.id;
END;

-- Only when a rolled-up column changed: a re-sent (identical) event costs no rollup write. The shares in the table
-- when it fires are the call's before and after the change (the writer replaces shares only around the update).
CREATE TRIGGER observation_rollup_update AFTER UPDATE ON observation
WHEN OLD.start_time IS NOT NEW.start_time OR OLD.environment IS NOT NEW.environment
    OR OLD.tenant IS NOT NEW.tenant OR OLD.feature IS NOT NEW.feature OR OLD.type IS NOT NEW.type
    OR OLD.model IS NOT NEW.model OR OLD.response_model IS NOT NEW.response_model
    OR OLD.prompt_name IS NOT NEW.prompt_name OR OLD.prompt_version IS NOT NEW.prompt_version
    OR OLD.end_time IS NOT NEW.end_time OR OLD.level IS NOT NEW.level
    OR OLD.input_tokens IS NOT NEW.input_tokens OR OLD.output_tokens IS NOT NEW.output_tokens
    OR OLD.total_tokens IS NOT NEW.total_tokens OR OLD.input_cost_nanos IS NOT NEW.input_cost_nanos
    OR OLD.output_cost_nanos IS NOT NEW.output_cost_nanos OR OLD.total_cost_nanos IS NOT NEW.total_cost_nanos
    OR OLD.shared IS NOT NEW.shared
BEGIN
    INSERT INTO rollup_delta SELECT -1, OLD.project_id, OLD.start_time / 86400000000 * 86400000000,
        OLD.start_time / 3600000000 * 3600000000, OLD.environment,
        coalesce(OLD.tenant, ''), coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''),
        coalesce(OLD.response_model, ''), OLD.prompt_name, OLD.prompt_version,
        CAST(floor(ln(max((OLD.end_time - OLD.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        -(OLD.level = 'ERROR'), -OLD.input_tokens, -OLD.output_tokens, -OLD.total_tokens,
        -coalesce(OLD.input_cost_nanos, 0), -coalesce(OLD.output_cost_nanos, 0),
        -coalesce(OLD.total_cost_nanos, 0)
    WHERE NOT OLD.shared;
    INSERT INTO rollup_delta SELECT -s.n, OLD.project_id, OLD.start_time / 86400000000 * 86400000000,
        OLD.start_time / 3600000000 * 3600000000, OLD.environment,
        s.tenant, coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''),
        coalesce(OLD.response_model, ''), OLD.prompt_name, OLD.prompt_version,
        CAST(floor(ln(max((OLD.end_time - OLD.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        -s.n * (OLD.level = 'ERROR'), -s.input_tokens, -s.output_tokens, -s.total_tokens,
        -coalesce(s.input_cost_nanos, 0), -coalesce(s.output_cost_nanos, 0), -coalesce(s.total_cost_nanos, 0)
    FROM observation_share s WHERE OLD.shared AND s.project_id = OLD.project_id AND s.observation_id = OLD.id;
    INSERT INTO rollup_delta SELECT 1, NEW.project_id, NEW.start_time / 86400000000 * 86400000000,
        NEW.start_time / 3600000000 * 3600000000, NEW.environment,
        coalesce(NEW.tenant, ''), coalesce(NEW.feature, ''), NEW.type, coalesce(NEW.model, ''),
        coalesce(NEW.response_model, ''), NEW.prompt_name, NEW.prompt_version,
        CAST(floor(ln(max((NEW.end_time - NEW.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        (NEW.level = 'ERROR'), NEW.input_tokens, NEW.output_tokens, NEW.total_tokens,
        coalesce(NEW.input_cost_nanos, 0), coalesce(NEW.output_cost_nanos, 0),
        coalesce(NEW.total_cost_nanos, 0)
    WHERE NOT NEW.shared;
    INSERT INTO rollup_delta SELECT s.n, NEW.project_id, NEW.start_time / 86400000000 * 86400000000,
        NEW.start_time / 3600000000 * 3600000000, NEW.environment,
        s.tenant, coalesce(NEW.feature, ''), NEW.type, coalesce(NEW.model, ''),
        coalesce(NEW.response_model, ''), NEW.prompt_name, NEW.prompt_version,
        CAST(floor(ln(max((NEW.end_time - NEW.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        s.n * (NEW.level = 'ERROR'), s.input_tokens, s.output_tokens, s.total_tokens,
        coalesce(s.input_cost_nanos, 0), coalesce(s.output_cost_nanos, 0), coalesce(s.total_cost_nanos, 0)
    FROM observation_share s WHERE NEW.shared AND s.project_id = NEW.project_id AND s.observation_id = NEW.id;
END;

-- The counters of 0017 (model calls only; deletions do not subtract).
CREATE TRIGGER observation_metric_update AFTER UPDATE ON observation
WHEN (OLD.type IN ('GENERATION', 'EMBEDDING') OR NEW.type IN ('GENERATION', 'EMBEDDING'))
    AND (OLD.type IS NOT NEW.type OR OLD.environment IS NOT NEW.environment OR OLD.tenant IS NOT NEW.tenant
        OR OLD.feature IS NOT NEW.feature OR OLD.model IS NOT NEW.model OR OLD.level IS NOT NEW.level
        OR OLD.usage_details IS NOT NEW.usage_details OR OLD.input_tokens IS NOT NEW.input_tokens
        OR OLD.output_tokens IS NOT NEW.output_tokens OR OLD.total_cost_nanos IS NOT NEW.total_cost_nanos
        OR OLD.start_time IS NOT NEW.start_time OR OLD.end_time IS NOT NEW.end_time
        OR OLD.shared IS NOT NEW.shared)
BEGIN
    INSERT INTO metric_delta SELECT -1, -1, OLD.project_id, OLD.environment, coalesce(OLD.tenant, ''),
        coalesce(OLD.feature, ''), coalesce(OLD.model, ''), OLD.level = 'ERROR', -OLD.input_tokens, -OLD.output_tokens,
        OLD.usage_details, -coalesce(OLD.total_cost_nanos, 0), OLD.end_time - OLD.start_time
    WHERE OLD.type IN ('GENERATION', 'EMBEDDING') AND NOT OLD.shared;
    INSERT INTO metric_delta SELECT -s.n, -1, OLD.project_id, OLD.environment, s.tenant,
        coalesce(OLD.feature, ''), coalesce(OLD.model, ''), OLD.level = 'ERROR', -s.input_tokens, -s.output_tokens,
        json_object('cache_read', s.cache_read_tokens, 'cache_write', s.cache_write_tokens,
            'reasoning', s.reasoning_tokens),
        -coalesce(s.total_cost_nanos, 0), OLD.end_time - OLD.start_time
    FROM observation_share s
    WHERE OLD.type IN ('GENERATION', 'EMBEDDING') AND OLD.shared AND s.project_id = OLD.project_id
        AND s.observation_id = OLD.id;
    INSERT INTO metric_delta SELECT 1, 1, NEW.project_id, NEW.environment, coalesce(NEW.tenant, ''),
        coalesce(NEW.feature, ''), coalesce(NEW.model, ''), NEW.level = 'ERROR', NEW.input_tokens, NEW.output_tokens,
        NEW.usage_details, coalesce(NEW.total_cost_nanos, 0), NEW.end_time - NEW.start_time
    WHERE NEW.type IN ('GENERATION', 'EMBEDDING') AND NOT NEW.shared;
    INSERT INTO metric_delta SELECT s.n, 1, NEW.project_id, NEW.environment, s.tenant,
        coalesce(NEW.feature, ''), coalesce(NEW.model, ''), NEW.level = 'ERROR', s.input_tokens, s.output_tokens,
        json_object('cache_read', s.cache_read_tokens, 'cache_write', s.cache_write_tokens,
            'reasoning', s.reasoning_tokens),
        coalesce(s.total_cost_nanos, 0), NEW.end_time - NEW.start_time
    FROM observation_share s
    WHERE NEW.type IN ('GENERATION', 'EMBEDDING') AND NEW.shared AND s.project_id = NEW.project_id
        AND s.observation_id = NEW.id;
END;

-- A share written or removed while its call is stored and shared moves that share's contribution (rollups and
-- counters) under the call's current columns. The store inserts a new shared call's shares after the call (there is
-- no observation insert trigger: RollupAccumulator leaves shared calls to these).
CREATE TRIGGER observation_share_insert AFTER INSERT ON observation_share BEGIN
    INSERT INTO rollup_delta SELECT NEW.n, o.project_id, o.start_time / 86400000000 * 86400000000,
        o.start_time / 3600000000 * 3600000000, o.environment,
        NEW.tenant, coalesce(o.feature, ''), o.type, coalesce(o.model, ''),
        coalesce(o.response_model, ''), o.prompt_name, o.prompt_version,
        CAST(floor(ln(max((o.end_time - o.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        NEW.n * (o.level = 'ERROR'), NEW.input_tokens, NEW.output_tokens, NEW.total_tokens,
        coalesce(NEW.input_cost_nanos, 0), coalesce(NEW.output_cost_nanos, 0), coalesce(NEW.total_cost_nanos, 0)
    FROM observation o WHERE o.project_id = NEW.project_id AND o.id = NEW.observation_id AND o.shared;
    INSERT INTO metric_delta SELECT NEW.n, 1, o.project_id, o.environment, NEW.tenant,
        coalesce(o.feature, ''), coalesce(o.model, ''), o.level = 'ERROR', NEW.input_tokens, NEW.output_tokens,
        json_object('cache_read', NEW.cache_read_tokens, 'cache_write', NEW.cache_write_tokens,
            'reasoning', NEW.reasoning_tokens),
        coalesce(NEW.total_cost_nanos, 0), o.end_time - o.start_time
    FROM observation o WHERE o.project_id = NEW.project_id AND o.id = NEW.observation_id AND o.shared
        AND o.type IN ('GENERATION', 'EMBEDDING');
END;

CREATE TRIGGER observation_share_delete AFTER DELETE ON observation_share BEGIN
    INSERT INTO rollup_delta SELECT -OLD.n, o.project_id, o.start_time / 86400000000 * 86400000000,
        o.start_time / 3600000000 * 3600000000, o.environment,
        OLD.tenant, coalesce(o.feature, ''), o.type, coalesce(o.model, ''),
        coalesce(o.response_model, ''), o.prompt_name, o.prompt_version,
        CAST(floor(ln(max((o.end_time - o.start_time) / 1000.0, 0.001)) / ln(1.02)) AS INTEGER),
        -OLD.n * (o.level = 'ERROR'), -OLD.input_tokens, -OLD.output_tokens, -OLD.total_tokens,
        -coalesce(OLD.input_cost_nanos, 0), -coalesce(OLD.output_cost_nanos, 0), -coalesce(OLD.total_cost_nanos, 0)
    FROM observation o WHERE o.project_id = OLD.project_id AND o.id = OLD.observation_id AND o.shared;
    INSERT INTO metric_delta SELECT -OLD.n, -1, o.project_id, o.environment, OLD.tenant,
        coalesce(o.feature, ''), coalesce(o.model, ''), o.level = 'ERROR', -OLD.input_tokens, -OLD.output_tokens,
        json_object('cache_read', OLD.cache_read_tokens, 'cache_write', OLD.cache_write_tokens,
            'reasoning', OLD.reasoning_tokens),
        -coalesce(OLD.total_cost_nanos, 0), o.end_time - o.start_time
    FROM observation o WHERE o.project_id = OLD.project_id AND o.id = OLD.observation_id AND o.shared
        AND o.type IN ('GENERATION', 'EMBEDDING');
END;
