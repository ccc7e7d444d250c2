-- Rollups on PostgreSQL: the tables of schema/sqlite (0006, 0010, 0012, 0017, 0022) with the same keys and sums,
-- kept exact by statement-level triggers on observation and observation_share in the writing transaction (any
-- writer: ingest, cost recompute, tenant propagation, deletes, a psql shell). A statement's changed rows (its
-- transition tables) become signed contributions, summed per rollup key and added by one
-- INSERT ... ON CONFLICT DO UPDATE (n = n + excluded.n) per rollup table, in key order; PostgreSQL applies each
-- under the row's lock, so concurrent collectors never lose an increment. An UPDATE that moves a row to another
-- month's partition reaches these triggers as one UPDATE (its old and new row), so it moves the contribution like
-- any change.
--
-- Analytics rollups (daily, hourly, per prompt version): key columns store '' for NULL; rows whose figures drop to 0
-- stay; readers skip them. day/hour: UTC start in µs, computed as start_time / unit * unit (as SQLite does).
-- A shared call (observation.shared) contributes through its shares: the share's tenant and figures, `n` 1 on the
-- share that carries the call and 0 on the others.
CREATE TABLE rollup_usage_day (
    project_id        text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day               bigint NOT NULL,
    environment       text COLLATE "C" NOT NULL,
    tenant            text COLLATE "C" NOT NULL,
    feature           text COLLATE "C" NOT NULL,
    type              text COLLATE "C" NOT NULL,
    model             text COLLATE "C" NOT NULL,
    response_model    text COLLATE "C" NOT NULL,
    n                 bigint NOT NULL,
    errors            bigint NOT NULL,
    input_tokens      bigint NOT NULL,
    output_tokens     bigint NOT NULL,
    total_tokens      bigint NOT NULL,
    input_cost_nanos  bigint NOT NULL,
    output_cost_nanos bigint NOT NULL,
    total_cost_nanos  bigint NOT NULL,
    PRIMARY KEY (project_id, day, environment, tenant, feature, type, model, response_model)
);

CREATE TABLE rollup_tenant_day (
    project_id        text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day               bigint NOT NULL,
    environment       text COLLATE "C" NOT NULL,
    tenant            text COLLATE "C" NOT NULL,
    feature           text COLLATE "C" NOT NULL,
    n                 bigint NOT NULL,
    errors            bigint NOT NULL,
    input_tokens      bigint NOT NULL,
    output_tokens     bigint NOT NULL,
    total_tokens      bigint NOT NULL,
    input_cost_nanos  bigint NOT NULL,
    output_cost_nanos bigint NOT NULL,
    total_cost_nanos  bigint NOT NULL,
    PRIMARY KEY (project_id, day, environment, tenant, feature)
);

CREATE TABLE rollup_tenant_hour (
    project_id        text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    hour              bigint NOT NULL,
    environment       text COLLATE "C" NOT NULL,
    tenant            text COLLATE "C" NOT NULL,
    feature           text COLLATE "C" NOT NULL,
    n                 bigint NOT NULL,
    errors            bigint NOT NULL,
    input_tokens      bigint NOT NULL,
    output_tokens     bigint NOT NULL,
    total_tokens      bigint NOT NULL,
    input_cost_nanos  bigint NOT NULL,
    output_cost_nanos bigint NOT NULL,
    total_cost_nanos  bigint NOT NULL,
    PRIMARY KEY (project_id, hour, environment, tenant, feature)
);

CREATE TABLE rollup_tenant_total_day (
    project_id        text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day               bigint NOT NULL,
    environment       text COLLATE "C" NOT NULL,
    tenant            text COLLATE "C" NOT NULL,
    n                 bigint NOT NULL,
    errors            bigint NOT NULL,
    input_tokens      bigint NOT NULL,
    output_tokens     bigint NOT NULL,
    total_tokens      bigint NOT NULL,
    input_cost_nanos  bigint NOT NULL,
    output_cost_nanos bigint NOT NULL,
    total_cost_nanos  bigint NOT NULL,
    PRIMARY KEY (project_id, day, environment, tenant)
);

CREATE TABLE rollup_tenant_total_hour (
    project_id        text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    hour              bigint NOT NULL,
    environment       text COLLATE "C" NOT NULL,
    tenant            text COLLATE "C" NOT NULL,
    n                 bigint NOT NULL,
    errors            bigint NOT NULL,
    input_tokens      bigint NOT NULL,
    output_tokens     bigint NOT NULL,
    total_tokens      bigint NOT NULL,
    input_cost_nanos  bigint NOT NULL,
    output_cost_nanos bigint NOT NULL,
    total_cost_nanos  bigint NOT NULL,
    PRIMARY KEY (project_id, hour, environment, tenant)
);

CREATE TABLE rollup_prompt_day (
    project_id        text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    prompt_name       text COLLATE "C" NOT NULL,
    prompt_version    integer NOT NULL,
    day               bigint NOT NULL,
    environment       text COLLATE "C" NOT NULL,
    n                 bigint NOT NULL,
    errors            bigint NOT NULL,
    input_tokens      bigint NOT NULL,
    output_tokens     bigint NOT NULL,
    total_tokens      bigint NOT NULL,
    input_cost_nanos  bigint NOT NULL,
    output_cost_nanos bigint NOT NULL,
    total_cost_nanos  bigint NOT NULL,
    PRIMARY KEY (project_id, prompt_name, prompt_version, day, environment)
);

-- Latency histogram per prompt version and day: bucket b holds latencies in [1.02^b, 1.02^(b+1)) ms (double
-- precision arithmetic, as SQLite's).
CREATE TABLE rollup_prompt_latency_day (
    project_id     text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    prompt_name    text COLLATE "C" NOT NULL,
    prompt_version integer NOT NULL,
    day            bigint NOT NULL,
    environment    text COLLATE "C" NOT NULL,
    bucket         integer NOT NULL,
    n              bigint NOT NULL,
    PRIMARY KEY (project_id, prompt_name, prompt_version, day, environment, bucket)
);

-- Counters for /metrics and the OTLP metrics push (schema/sqlite 0017): model calls (GENERATION, EMBEDDING) by
-- environment, tenant, feature, model and outcome. Deletions do not subtract; updates move a call's contribution.
-- cache_read/cache_write/reasoning: the usage keys PriceKey maps onto those price keys (the lists below are the
-- aliases; TallyStoreTests checks they agree with the Swift side).
CREATE TABLE rollup_metric (
    project_id         text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    environment        text COLLATE "C" NOT NULL,
    tenant             text COLLATE "C" NOT NULL,
    feature            text COLLATE "C" NOT NULL,
    model              text COLLATE "C" NOT NULL,
    error              smallint NOT NULL CHECK (error IN (0, 1)),
    n                  bigint NOT NULL,
    input_tokens       bigint NOT NULL,
    output_tokens      bigint NOT NULL,
    cache_read_tokens  bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    reasoning_tokens   bigint NOT NULL,
    cost_nanos         bigint NOT NULL,
    PRIMARY KEY (project_id, environment, tenant, feature, model, error)
);

-- Call durations by environment, model and outcome in the buckets of LLMMetrics.durationBounds (0.1 … 300 s;
-- bucket 12 the longer ones); duration_seconds: their sum.
CREATE TABLE rollup_metric_latency (
    project_id       text NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    environment      text COLLATE "C" NOT NULL,
    model            text COLLATE "C" NOT NULL,
    error            smallint NOT NULL CHECK (error IN (0, 1)),
    bucket           smallint NOT NULL CHECK (bucket BETWEEN 0 AND 12),
    n                bigint NOT NULL,
    duration_seconds double precision NOT NULL,
    PRIMARY KEY (project_id, environment, model, error, bucket)
);

-- The signed contributions of observations: a call's own figures, or one row per share for a shared call (the
-- share's tenant and figures under the call's columns). `p_from` is the FROM clause naming the call `o` (and the
-- share `s` when `p_of_shares`). Columns: the rollup keys, n (signed count), errors and figures (signed), and for the
-- counters: is_call, error (0/1), the token classes (signed) and the duration in µs.
CREATE FUNCTION tally_delta_sql(p_from text, p_sign integer, p_of_shares boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format($f$
        SELECT o.project_id, o.start_time / 86400000000 * 86400000000 AS day,
            o.start_time / 3600000000 * 3600000000 AS hour, o.environment, %2$s AS tenant,
            coalesce(o.feature, '') AS feature, o.type, coalesce(o.model, '') AS model,
            coalesce(o.response_model, '') AS response_model, o.prompt_name, o.prompt_version,
            CASE WHEN o.end_time IS NOT NULL THEN floor(ln(greatest((o.end_time - o.start_time) / 1000.0,
                0.001)::float8) / ln(1.02::float8))::integer END AS latency_bucket,
            %1$s * %3$s AS n, %1$s * %3$s * (o.level = 'ERROR')::int AS errors,
            %1$s * %4$s.input_tokens AS input_tokens, %1$s * %4$s.output_tokens AS output_tokens,
            %1$s * %4$s.total_tokens AS total_tokens, %1$s * coalesce(%4$s.input_cost_nanos, 0) AS input_cost,
            %1$s * coalesce(%4$s.output_cost_nanos, 0) AS output_cost,
            %1$s * coalesce(%4$s.total_cost_nanos, 0) AS total_cost,
            o.type IN ('GENERATION', 'EMBEDDING') AS is_call, (o.level = 'ERROR')::int::smallint AS error,
            %1$s * %5$s AS cache_read, %1$s * %6$s AS cache_write, %1$s * %7$s AS reasoning,
            o.end_time - o.start_time AS duration
        %8$s
        $f$, p_sign,
        CASE WHEN p_of_shares THEN 's.tenant' ELSE 'coalesce(o.tenant, '''')' END,
        CASE WHEN p_of_shares THEN 's.n' ELSE '1' END,
        CASE WHEN p_of_shares THEN 's' ELSE 'o' END,
        CASE WHEN p_of_shares THEN 's.cache_read_tokens' ELSE 'tally_usage_class(o.usage_details, ''cache_read'')' END,
        CASE WHEN p_of_shares THEN 's.cache_write_tokens' ELSE 'tally_usage_class(o.usage_details, ''cache_write'')' END,
        CASE WHEN p_of_shares THEN 's.reasoning_tokens' ELSE 'tally_usage_class(o.usage_details, ''reasoning'')' END,
        p_from)
$$;

-- The contributions of a relation of observation rows `p_rows`: unshared ones as they are, shared ones through
-- their current shares.
CREATE FUNCTION tally_calls_delta_sql(p_rows text, p_sign integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT tally_delta_sql(format('FROM %s o WHERE NOT o.shared', p_rows), p_sign, false) || ' UNION ALL '
        || tally_delta_sql(format('FROM %s o JOIN observation_share s ON s.project_id = o.project_id '
            || 'AND s.observation_id = o.id WHERE o.shared', p_rows), p_sign, true)
$$;

-- The statement that adds the contributions `p_deltas` selects to every analytics rollup and, when `p_counters`, to
-- the model-call counters: one grouped upsert per table, rows in key order. The trigger functions EXECUTE it
-- themselves (a statement run by another function would not see their transition tables).
CREATE FUNCTION tally_apply_sql(p_deltas text, p_counters boolean) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($f$
        WITH d AS MATERIALIZED (%1$s),
        usage AS (
            INSERT INTO rollup_usage_day
            SELECT project_id, day, environment, tenant, feature, type, model, response_model, sum(n), sum(errors),
                sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(input_cost), sum(output_cost),
                sum(total_cost)
            FROM d GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
            ON CONFLICT (project_id, day, environment, tenant, feature, type, model, response_model) DO UPDATE SET
                n = rollup_usage_day.n + excluded.n, errors = rollup_usage_day.errors + excluded.errors,
                input_tokens = rollup_usage_day.input_tokens + excluded.input_tokens,
                output_tokens = rollup_usage_day.output_tokens + excluded.output_tokens,
                total_tokens = rollup_usage_day.total_tokens + excluded.total_tokens,
                input_cost_nanos = rollup_usage_day.input_cost_nanos + excluded.input_cost_nanos,
                output_cost_nanos = rollup_usage_day.output_cost_nanos + excluded.output_cost_nanos,
                total_cost_nanos = rollup_usage_day.total_cost_nanos + excluded.total_cost_nanos),
        tenant_day AS (
            INSERT INTO rollup_tenant_day
            SELECT project_id, day, environment, tenant, feature, sum(n), sum(errors), sum(input_tokens),
                sum(output_tokens), sum(total_tokens), sum(input_cost), sum(output_cost), sum(total_cost)
            FROM d GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (project_id, day, environment, tenant, feature) DO UPDATE SET
                n = rollup_tenant_day.n + excluded.n, errors = rollup_tenant_day.errors + excluded.errors,
                input_tokens = rollup_tenant_day.input_tokens + excluded.input_tokens,
                output_tokens = rollup_tenant_day.output_tokens + excluded.output_tokens,
                total_tokens = rollup_tenant_day.total_tokens + excluded.total_tokens,
                input_cost_nanos = rollup_tenant_day.input_cost_nanos + excluded.input_cost_nanos,
                output_cost_nanos = rollup_tenant_day.output_cost_nanos + excluded.output_cost_nanos,
                total_cost_nanos = rollup_tenant_day.total_cost_nanos + excluded.total_cost_nanos),
        tenant_hour AS (
            INSERT INTO rollup_tenant_hour
            SELECT project_id, hour, environment, tenant, feature, sum(n), sum(errors), sum(input_tokens),
                sum(output_tokens), sum(total_tokens), sum(input_cost), sum(output_cost), sum(total_cost)
            FROM d GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (project_id, hour, environment, tenant, feature) DO UPDATE SET
                n = rollup_tenant_hour.n + excluded.n, errors = rollup_tenant_hour.errors + excluded.errors,
                input_tokens = rollup_tenant_hour.input_tokens + excluded.input_tokens,
                output_tokens = rollup_tenant_hour.output_tokens + excluded.output_tokens,
                total_tokens = rollup_tenant_hour.total_tokens + excluded.total_tokens,
                input_cost_nanos = rollup_tenant_hour.input_cost_nanos + excluded.input_cost_nanos,
                output_cost_nanos = rollup_tenant_hour.output_cost_nanos + excluded.output_cost_nanos,
                total_cost_nanos = rollup_tenant_hour.total_cost_nanos + excluded.total_cost_nanos),
        total_day AS (
            INSERT INTO rollup_tenant_total_day
            SELECT project_id, day, environment, tenant, sum(n), sum(errors), sum(input_tokens), sum(output_tokens),
                sum(total_tokens), sum(input_cost), sum(output_cost), sum(total_cost)
            FROM d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (project_id, day, environment, tenant) DO UPDATE SET
                n = rollup_tenant_total_day.n + excluded.n, errors = rollup_tenant_total_day.errors + excluded.errors,
                input_tokens = rollup_tenant_total_day.input_tokens + excluded.input_tokens,
                output_tokens = rollup_tenant_total_day.output_tokens + excluded.output_tokens,
                total_tokens = rollup_tenant_total_day.total_tokens + excluded.total_tokens,
                input_cost_nanos = rollup_tenant_total_day.input_cost_nanos + excluded.input_cost_nanos,
                output_cost_nanos = rollup_tenant_total_day.output_cost_nanos + excluded.output_cost_nanos,
                total_cost_nanos = rollup_tenant_total_day.total_cost_nanos + excluded.total_cost_nanos),
        total_hour AS (
            INSERT INTO rollup_tenant_total_hour
            SELECT project_id, hour, environment, tenant, sum(n), sum(errors), sum(input_tokens), sum(output_tokens),
                sum(total_tokens), sum(input_cost), sum(output_cost), sum(total_cost)
            FROM d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (project_id, hour, environment, tenant) DO UPDATE SET
                n = rollup_tenant_total_hour.n + excluded.n,
                errors = rollup_tenant_total_hour.errors + excluded.errors,
                input_tokens = rollup_tenant_total_hour.input_tokens + excluded.input_tokens,
                output_tokens = rollup_tenant_total_hour.output_tokens + excluded.output_tokens,
                total_tokens = rollup_tenant_total_hour.total_tokens + excluded.total_tokens,
                input_cost_nanos = rollup_tenant_total_hour.input_cost_nanos + excluded.input_cost_nanos,
                output_cost_nanos = rollup_tenant_total_hour.output_cost_nanos + excluded.output_cost_nanos,
                total_cost_nanos = rollup_tenant_total_hour.total_cost_nanos + excluded.total_cost_nanos),
        prompt AS (
            INSERT INTO rollup_prompt_day
            SELECT project_id, prompt_name, prompt_version, day, environment, sum(n), sum(errors), sum(input_tokens),
                sum(output_tokens), sum(total_tokens), sum(input_cost), sum(output_cost), sum(total_cost)
            FROM d WHERE prompt_name IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (project_id, prompt_name, prompt_version, day, environment) DO UPDATE SET
                n = rollup_prompt_day.n + excluded.n, errors = rollup_prompt_day.errors + excluded.errors,
                input_tokens = rollup_prompt_day.input_tokens + excluded.input_tokens,
                output_tokens = rollup_prompt_day.output_tokens + excluded.output_tokens,
                total_tokens = rollup_prompt_day.total_tokens + excluded.total_tokens,
                input_cost_nanos = rollup_prompt_day.input_cost_nanos + excluded.input_cost_nanos,
                output_cost_nanos = rollup_prompt_day.output_cost_nanos + excluded.output_cost_nanos,
                total_cost_nanos = rollup_prompt_day.total_cost_nanos + excluded.total_cost_nanos),
        prompt_latency AS (
            INSERT INTO rollup_prompt_latency_day
            SELECT project_id, prompt_name, prompt_version, day, environment, latency_bucket, sum(n)
            FROM d WHERE prompt_name IS NOT NULL AND latency_bucket IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
            ON CONFLICT (project_id, prompt_name, prompt_version, day, environment, bucket) DO UPDATE SET
                n = rollup_prompt_latency_day.n + excluded.n),
        metric AS (
            INSERT INTO rollup_metric
            SELECT project_id, environment, tenant, feature, model, error, sum(n), sum(input_tokens),
                sum(output_tokens), sum(cache_read), sum(cache_write), sum(reasoning), sum(total_cost)
            FROM d WHERE %2$L AND is_call GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
            ON CONFLICT (project_id, environment, tenant, feature, model, error) DO UPDATE SET
                n = rollup_metric.n + excluded.n, input_tokens = rollup_metric.input_tokens + excluded.input_tokens,
                output_tokens = rollup_metric.output_tokens + excluded.output_tokens,
                cache_read_tokens = rollup_metric.cache_read_tokens + excluded.cache_read_tokens,
                cache_write_tokens = rollup_metric.cache_write_tokens + excluded.cache_write_tokens,
                reasoning_tokens = rollup_metric.reasoning_tokens + excluded.reasoning_tokens,
                cost_nanos = rollup_metric.cost_nanos + excluded.cost_nanos),
        metric_latency AS (
            INSERT INTO rollup_metric_latency
            SELECT project_id, environment, model, error, bucket, sum(n), sum(n * greatest(duration, 0) / 1e6::float8)
            FROM (SELECT d.*, (SELECT count(*) FROM unnest(ARRAY[100000, 250000, 500000, 1000000, 2000000, 5000000,
                    10000000, 20000000, 30000000, 60000000, 120000000, 300000000]::bigint[]) AS b
                    WHERE b < d.duration)::smallint AS bucket
                FROM d WHERE %2$L AND is_call AND duration IS NOT NULL AND n <> 0) x
            GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (project_id, environment, model, error, bucket) DO UPDATE SET
                n = rollup_metric_latency.n + excluded.n,
                duration_seconds = rollup_metric_latency.duration_seconds + excluded.duration_seconds)
        SELECT 1
        $f$, p_deltas, p_counters)
$$;

-- The token classes of a usage_details object (keys PriceKey maps onto cache_read, cache_write(_1h), reasoning).
CREATE FUNCTION tally_usage_class(p_usage jsonb, p_class text) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(sum(value::bigint), 0)::bigint FROM jsonb_each_text(p_usage) WHERE key = ANY(CASE p_class
        WHEN 'cache_read' THEN ARRAY['cache_read', 'cache_read_input_tokens', 'input_cached_tokens',
            'input_cache_read', 'cached_tokens', 'input_cached', 'cached_content_token_count',
            'cachedContentTokenCount']
        WHEN 'cache_write' THEN ARRAY['cache_write', 'cache_creation_input_tokens', 'input_cache_creation',
            'input_cache_creation_5m', 'input_cache_write', 'cache_write_1h', 'input_cache_creation_1h']
        ELSE ARRAY['reasoning', 'reasoning_tokens', 'output_reasoning_tokens', 'output_reasoning',
            'thoughts_token_count', 'thoughtsTokenCount'] END)
$$;

CREATE FUNCTION tally_observation_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE tally_apply_sql(tally_calls_delta_sql('new_rows', 1), true);
    RETURN NULL;
END;
$$;

-- Only rows whose rolled-up columns changed (a re-sent, identical event costs no rollup write); a row moved to
-- another month's partition is among them. The shares read are the calls' current ones (the store replaces a
-- call's shares in statements of their own, around the update).
CREATE FUNCTION tally_observation_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_changed text := '(SELECT %s.* FROM old_rows o JOIN new_rows n ON n.project_id = o.project_id AND n.id = o.id
        WHERE (o.start_time, o.end_time, o.environment, o.tenant, o.feature, o.type, o.model, o.response_model,
            o.prompt_name, o.prompt_version, o.level, o.input_tokens, o.output_tokens, o.total_tokens,
            o.input_cost_nanos, o.output_cost_nanos, o.total_cost_nanos, o.shared, o.usage_details)
        IS DISTINCT FROM (n.start_time, n.end_time, n.environment, n.tenant, n.feature, n.type, n.model,
            n.response_model, n.prompt_name, n.prompt_version, n.level, n.input_tokens, n.output_tokens,
            n.total_tokens, n.input_cost_nanos, n.output_cost_nanos, n.total_cost_nanos, n.shared,
            n.usage_details))';
BEGIN
    EXECUTE tally_apply_sql(
        tally_calls_delta_sql(format(v_changed, 'o'), -1) || ' UNION ALL '
            || tally_calls_delta_sql(format(v_changed, 'n'), 1), true);
    RETURN NULL;
END;
$$;

-- Counters keep deleted calls; the shares go with their call (their trigger then finds no call).
CREATE FUNCTION tally_observation_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE tally_apply_sql(tally_calls_delta_sql('old_rows', -1), false);
    DELETE FROM observation_share s USING old_rows o
    WHERE s.project_id = o.project_id AND s.observation_id = o.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER observation_inserted AFTER INSERT ON observation REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_observation_inserted();
CREATE TRIGGER observation_updated AFTER UPDATE ON observation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_observation_updated();
CREATE TRIGGER observation_deleted AFTER DELETE ON observation REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_observation_deleted();

-- A share written or removed while its call is stored and shared moves that share's contribution under the call's
-- current columns (the store inserts a shared call's shares after the call, and deletes replaced ones first).
CREATE FUNCTION tally_share_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_from text := 'FROM %s s JOIN observation o ON o.project_id = s.project_id AND o.id = s.observation_id '
        || 'AND o.shared';
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE tally_apply_sql(tally_delta_sql(format(v_from, 'new_rows'), 1, true), true);
    ELSE
        EXECUTE tally_apply_sql(tally_delta_sql(format(v_from, 'old_rows'), -1, true), true);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER observation_share_inserted AFTER INSERT ON observation_share REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_share_changed();
CREATE TRIGGER observation_share_deleted AFTER DELETE ON observation_share REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_share_changed();
