-- Per user, UTC day (of the trace's timestamp), tenant ('' for none) and environment (SQLite schema 0024): the
-- user's traces, those with an ERROR observation, their tokens and cost (nano-USD) from the per-trace totals, and
-- the first and last trace time, for the Users view. Kept exact by statement triggers on trace: the signed deltas of
-- a statement's rows are summed per key and added by one upsert in key order (concurrent collectors lock rows in
-- the same order); first and last time take the arriving traces' min/max, and are read again from the trace_user
-- index for the keys a trace left. Rows whose traces drop to 0 are deleted. Traces without a user are not counted.
CREATE TABLE rollup_user_day (
    project_id  text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day         bigint NOT NULL,
    user_id     text COLLATE "C" NOT NULL,
    tenant      text COLLATE "C" NOT NULL,
    environment text COLLATE "C" NOT NULL,
    traces      bigint NOT NULL,
    errors      bigint NOT NULL,
    tokens      bigint NOT NULL,
    cost_nanos  bigint NOT NULL,
    first_time  bigint NOT NULL,
    last_time   bigint NOT NULL,
    PRIMARY KEY (project_id, day, user_id, tenant, environment)
);

INSERT INTO rollup_user_day
SELECT project_id, timestamp / 86400000000 * 86400000000, user_id, coalesce(tenant, ''), environment, count(*),
    sum((max_level = 3)::int), sum(total_tokens), sum(total_cost_nanos), min(timestamp), max(timestamp)
FROM trace WHERE user_id IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;

-- Adds the signed rows `d` (key columns, sign, error, tokens, cost, timestamp) to the rollup, then settles the keys
-- in `left_keys` (first/last time read again, empty rows deleted).
CREATE FUNCTION tally_user_rollup_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        CREATE TEMP TABLE IF NOT EXISTS tally_user_delta (project_id text, day bigint, user_id text, tenant text,
            environment text, sign int, error int, tokens bigint, cost bigint, ts bigint, arrives boolean)
            ON COMMIT DELETE ROWS;
        INSERT INTO tally_user_delta SELECT project_id, timestamp / 86400000000 * 86400000000, user_id,
            coalesce(tenant, ''), environment, 1, (max_level = 3)::int, total_tokens, total_cost_nanos, timestamp, true
        FROM new_rows WHERE user_id IS NOT NULL;
    ELSIF TG_OP = 'UPDATE' THEN
        CREATE TEMP TABLE IF NOT EXISTS tally_user_delta (project_id text, day bigint, user_id text, tenant text,
            environment text, sign int, error int, tokens bigint, cost bigint, ts bigint, arrives boolean)
            ON COMMIT DELETE ROWS;
        INSERT INTO tally_user_delta
        SELECT o.project_id, o.timestamp / 86400000000 * 86400000000, o.user_id, coalesce(o.tenant, ''),
            o.environment, -1, (o.max_level = 3)::int, o.total_tokens, o.total_cost_nanos, o.timestamp,
            false
        FROM old_rows o JOIN new_rows n ON n.project_id = o.project_id AND n.id = o.id
        WHERE o.user_id IS NOT NULL AND (o.user_id, o.timestamp, o.tenant, o.environment, o.total_tokens,
            o.total_cost_nanos, o.max_level) IS DISTINCT FROM (n.user_id, n.timestamp, n.tenant, n.environment,
            n.total_tokens, n.total_cost_nanos, n.max_level)
        UNION ALL
        SELECT n.project_id, n.timestamp / 86400000000 * 86400000000, n.user_id, coalesce(n.tenant, ''),
            n.environment, 1, (n.max_level = 3)::int, n.total_tokens, n.total_cost_nanos, n.timestamp, true
        FROM old_rows o JOIN new_rows n ON n.project_id = o.project_id AND n.id = o.id
        WHERE n.user_id IS NOT NULL AND (o.user_id, o.timestamp, o.tenant, o.environment, o.total_tokens,
            o.total_cost_nanos, o.max_level) IS DISTINCT FROM (n.user_id, n.timestamp, n.tenant, n.environment,
            n.total_tokens, n.total_cost_nanos, n.max_level);
    ELSE
        CREATE TEMP TABLE IF NOT EXISTS tally_user_delta (project_id text, day bigint, user_id text, tenant text,
            environment text, sign int, error int, tokens bigint, cost bigint, ts bigint, arrives boolean)
            ON COMMIT DELETE ROWS;
        INSERT INTO tally_user_delta SELECT project_id, timestamp / 86400000000 * 86400000000, user_id,
            coalesce(tenant, ''), environment, -1, (max_level = 3)::int, total_tokens, total_cost_nanos, timestamp,
            false
        FROM old_rows WHERE user_id IS NOT NULL;
    END IF;
    INSERT INTO rollup_user_day AS r
    SELECT project_id, day, user_id, tenant, environment, sum(sign), sum(sign * error), sum(sign * tokens),
        sum(sign * cost), coalesce(min(ts) FILTER (WHERE arrives), 0), coalesce(max(ts) FILTER (WHERE arrives), 0)
    FROM tally_user_delta GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (project_id, day, user_id, tenant, environment) DO UPDATE SET traces = r.traces + excluded.traces,
        errors = r.errors + excluded.errors, tokens = r.tokens + excluded.tokens,
        cost_nanos = r.cost_nanos + excluded.cost_nanos,
        first_time = CASE WHEN excluded.first_time = 0 THEN r.first_time ELSE least(r.first_time, excluded.first_time) END,
        last_time = CASE WHEN excluded.last_time = 0 THEN r.last_time ELSE greatest(r.last_time, excluded.last_time) END;
    -- The keys a trace left: first and last time from their remaining traces; gone when none remain.
    UPDATE rollup_user_day r SET
        first_time = coalesce((SELECT min(t.timestamp) FROM trace t WHERE t.project_id = r.project_id
            AND t.user_id = r.user_id AND t.timestamp >= r.day AND t.timestamp < r.day + 86400000000
            AND coalesce(t.tenant, '') = r.tenant AND t.environment = r.environment), r.first_time),
        last_time = coalesce((SELECT max(t.timestamp) FROM trace t WHERE t.project_id = r.project_id
            AND t.user_id = r.user_id AND t.timestamp >= r.day AND t.timestamp < r.day + 86400000000
            AND coalesce(t.tenant, '') = r.tenant AND t.environment = r.environment), r.last_time)
    FROM (SELECT DISTINCT project_id, day, user_id, tenant, environment FROM tally_user_delta
        WHERE sign = -1) d
    WHERE r.project_id = d.project_id AND r.day = d.day AND r.user_id = d.user_id AND r.tenant = d.tenant
        AND r.environment = d.environment;
    DELETE FROM rollup_user_day r USING (SELECT DISTINCT project_id, day, user_id, tenant, environment
        FROM tally_user_delta WHERE sign = -1) d
    WHERE r.project_id = d.project_id AND r.day = d.day AND r.user_id = d.user_id AND r.tenant = d.tenant
        AND r.environment = d.environment AND r.traces = 0;
    DELETE FROM tally_user_delta;
    RETURN NULL;
END;
$$;

CREATE TRIGGER trace_user_inserted AFTER INSERT ON trace REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_user_rollup_apply();
CREATE TRIGGER trace_user_updated AFTER UPDATE ON trace REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_user_rollup_apply();
CREATE TRIGGER trace_user_deleted AFTER DELETE ON trace REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_user_rollup_apply();

-- Traces by how many observations they hold: the agent-loop finder reads step by step only the traces with enough
-- observations to loop.
CREATE INDEX trace_observations ON trace (project_id, observation_count);

-- Model calls that ended in an error, by time: the retry-waste finder reads only these.
CREATE INDEX observation_error_time ON observation (project_id, start_time) WHERE level = 'ERROR';
