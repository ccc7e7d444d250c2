-- Per user, UTC day (of the trace's timestamp), tenant ('' for none) and environment: the user's traces, those with
-- an ERROR observation, their tokens and cost (nano-USD) from the per-trace totals, and the first and last trace
-- time. The Users view sums whole days from here instead of reading every trace. Kept exact by the triggers below
-- in the same transaction as every trace insert, update and delete: sums by signed deltas; first and last time by
-- min/max when a trace arrives, and read again from the trace_user index for a key a trace left. Rows whose traces
-- drop to 0 are deleted. Traces without a user are not counted.
CREATE TABLE rollup_user_day (
    project_id  TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day         INTEGER NOT NULL,
    user_id     TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    environment TEXT NOT NULL,
    traces      INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    tokens      INTEGER NOT NULL,
    cost_nanos  INTEGER NOT NULL,
    first_time  INTEGER NOT NULL,
    last_time   INTEGER NOT NULL,
    PRIMARY KEY (project_id, day, user_id, tenant, environment)
) STRICT, WITHOUT ROWID;

INSERT INTO rollup_user_day
SELECT project_id, timestamp / 86400000000 * 86400000000, user_id, coalesce(tenant, ''), environment, count(*),
    sum(max_level = 3), sum(total_tokens), sum(total_cost_nanos), min(timestamp), max(timestamp)
FROM trace WHERE user_id IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;

CREATE TRIGGER trace_user_insert AFTER INSERT ON trace WHEN NEW.user_id IS NOT NULL BEGIN
    INSERT INTO rollup_user_day VALUES (NEW.project_id, NEW.timestamp / 86400000000 * 86400000000, NEW.user_id,
        coalesce(NEW.tenant, ''), NEW.environment, 1, NEW.max_level = 3, NEW.total_tokens, NEW.total_cost_nanos,
        NEW.timestamp, NEW.timestamp)
    ON CONFLICT DO UPDATE SET traces = traces + 1, errors = errors + excluded.errors,
        tokens = tokens + excluded.tokens, cost_nanos = cost_nanos + excluded.cost_nanos,
        first_time = min(first_time, excluded.first_time), last_time = max(last_time, excluded.last_time);
END;

CREATE TRIGGER trace_user_update AFTER UPDATE ON trace
WHEN (OLD.user_id IS NOT NULL OR NEW.user_id IS NOT NULL) AND (OLD.user_id IS NOT NEW.user_id
    OR OLD.timestamp IS NOT NEW.timestamp OR OLD.tenant IS NOT NEW.tenant OR OLD.environment IS NOT NEW.environment
    OR OLD.total_tokens IS NOT NEW.total_tokens OR OLD.total_cost_nanos IS NOT NEW.total_cost_nanos
    OR OLD.max_level IS NOT NEW.max_level)
BEGIN
    UPDATE rollup_user_day SET traces = traces - 1, errors = errors - (OLD.max_level = 3),
        tokens = tokens - OLD.total_tokens, cost_nanos = cost_nanos - OLD.total_cost_nanos
    WHERE OLD.user_id IS NOT NULL AND project_id = OLD.project_id
        AND day = OLD.timestamp / 86400000000 * 86400000000 AND user_id = OLD.user_id
        AND tenant = coalesce(OLD.tenant, '') AND environment = OLD.environment;
    INSERT INTO rollup_user_day SELECT NEW.project_id, NEW.timestamp / 86400000000 * 86400000000, NEW.user_id,
        coalesce(NEW.tenant, ''), NEW.environment, 1, NEW.max_level = 3, NEW.total_tokens, NEW.total_cost_nanos,
        NEW.timestamp, NEW.timestamp
    WHERE NEW.user_id IS NOT NULL
    ON CONFLICT DO UPDATE SET traces = traces + 1, errors = errors + excluded.errors,
        tokens = tokens + excluded.tokens, cost_nanos = cost_nanos + excluded.cost_nanos,
        first_time = min(first_time, excluded.first_time), last_time = max(last_time, excluded.last_time);
    -- The key the trace left (another user, day, tenant or environment, or a moved time): first and last time
    -- read again from its remaining traces; gone when none remain.
    UPDATE rollup_user_day SET
        first_time = coalesce((SELECT min(t.timestamp) FROM trace t WHERE t.project_id = OLD.project_id
            AND t.user_id = OLD.user_id AND t.timestamp >= rollup_user_day.day
            AND t.timestamp < rollup_user_day.day + 86400000000 AND coalesce(t.tenant, '') = rollup_user_day.tenant
            AND t.environment = rollup_user_day.environment), first_time),
        last_time = coalesce((SELECT max(t.timestamp) FROM trace t WHERE t.project_id = OLD.project_id
            AND t.user_id = OLD.user_id AND t.timestamp >= rollup_user_day.day
            AND t.timestamp < rollup_user_day.day + 86400000000 AND coalesce(t.tenant, '') = rollup_user_day.tenant
            AND t.environment = rollup_user_day.environment), last_time)
    WHERE OLD.user_id IS NOT NULL AND (OLD.user_id IS NOT NEW.user_id OR OLD.timestamp IS NOT NEW.timestamp
            OR OLD.tenant IS NOT NEW.tenant OR OLD.environment IS NOT NEW.environment)
        AND project_id = OLD.project_id AND day = OLD.timestamp / 86400000000 * 86400000000
        AND user_id = OLD.user_id AND tenant = coalesce(OLD.tenant, '') AND environment = OLD.environment;
    DELETE FROM rollup_user_day WHERE OLD.user_id IS NOT NULL AND project_id = OLD.project_id
        AND day = OLD.timestamp / 86400000000 * 86400000000 AND user_id = OLD.user_id
        AND tenant = coalesce(OLD.tenant, '') AND environment = OLD.environment AND traces = 0;
END;

CREATE TRIGGER trace_user_delete AFTER DELETE ON trace WHEN OLD.user_id IS NOT NULL BEGIN
    UPDATE rollup_user_day SET traces = traces - 1, errors = errors - (OLD.max_level = 3),
        tokens = tokens - OLD.total_tokens, cost_nanos = cost_nanos - OLD.total_cost_nanos,
        first_time = coalesce((SELECT min(t.timestamp) FROM trace t WHERE t.project_id = OLD.project_id
            AND t.user_id = OLD.user_id AND t.timestamp >= rollup_user_day.day
            AND t.timestamp < rollup_user_day.day + 86400000000 AND coalesce(t.tenant, '') = rollup_user_day.tenant
            AND t.environment = rollup_user_day.environment), first_time),
        last_time = coalesce((SELECT max(t.timestamp) FROM trace t WHERE t.project_id = OLD.project_id
            AND t.user_id = OLD.user_id AND t.timestamp >= rollup_user_day.day
            AND t.timestamp < rollup_user_day.day + 86400000000 AND coalesce(t.tenant, '') = rollup_user_day.tenant
            AND t.environment = rollup_user_day.environment), last_time)
    WHERE project_id = OLD.project_id AND day = OLD.timestamp / 86400000000 * 86400000000
        AND user_id = OLD.user_id AND tenant = coalesce(OLD.tenant, '') AND environment = OLD.environment;
    DELETE FROM rollup_user_day WHERE project_id = OLD.project_id
        AND day = OLD.timestamp / 86400000000 * 86400000000 AND user_id = OLD.user_id
        AND tenant = coalesce(OLD.tenant, '') AND environment = OLD.environment AND traces = 0;
END;

-- Traces by how many observations they hold: the agent-loop finder reads step by step only the traces with enough
-- observations to loop.
CREATE INDEX trace_observations ON trace(project_id, observation_count);

-- Model calls that ended in an error, by time: the retry-waste finder reads only these.
CREATE INDEX observation_error_time ON observation(project_id, start_time) WHERE level = 'ERROR';
