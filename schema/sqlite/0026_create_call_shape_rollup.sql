-- The waste finders' profile of generations (TallyCore CallShapes): per UTC day, environment, feature, requested
-- model and prompt version ('' and 0 for none), a histogram of input tokens (axis 0) and of output tokens (axis 1)
-- in powers of two: bucket b counts the generations whose tokens are in [2^b, 2^(b+1)); bucket 0 also holds 0 and 1,
-- bucket 40 every count from 2^40 up. `n` counts every generation, `costed` those with a cost. No tenant: a tenant's
-- profile scans its calls.
-- Inserts are added by the store's RollupAccumulator (summed per transaction, like the other rollups); updates and
-- deletes by the triggers below, each change subtracting the generation as it was and adding it as it is. Rows whose
-- counts drop to 0 stay; readers skip them.
-- The key leads with the group, not the day: a finder sums a range's days per group, which then streams in key order
-- without a sort (over 190k rows, 30 days at 1M observations: 0.06 s, against 0.26 s with the day first).
-- The bucket of v in [1, 2^40] in SQL: b = CAST(log2(v) AS INTEGER) is ⌊log2 v⌋ or one off at a power of two (the
-- logarithm is rounded); b - (2^b > v) + (2^(b+1) <= v) corrects it exactly.
CREATE TABLE rollup_call_shape_day (
    project_id     TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day            INTEGER NOT NULL,
    environment    TEXT NOT NULL,
    feature        TEXT NOT NULL,
    model          TEXT NOT NULL,
    prompt_name    TEXT NOT NULL,
    prompt_version INTEGER NOT NULL,
    axis           INTEGER NOT NULL CHECK (axis IN (0, 1)),
    bucket         INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 40),
    n              INTEGER NOT NULL,
    costed         INTEGER NOT NULL,
    PRIMARY KEY (project_id, feature, model, prompt_name, prompt_version, axis, bucket, environment, day)
) STRICT, WITHOUT ROWID;

INSERT INTO rollup_call_shape_day
SELECT project_id, day, environment, feature, model, prompt_name, prompt_version, axis,
    b - ((1 << b) > v) + ((2 << b) <= v), count(*), sum(costed)
FROM (
    SELECT *, CAST(log2(v) AS INTEGER) AS b FROM (
        SELECT project_id, start_time / 86400000000 * 86400000000 AS day, environment, coalesce(feature, '') AS feature,
            coalesce(model, '') AS model, coalesce(prompt_name, '') AS prompt_name,
            coalesce(prompt_version, 0) AS prompt_version, 0 AS axis, min(max(input_tokens, 1), 1099511627776) AS v,
            total_cost_nanos IS NOT NULL AS costed
        FROM observation WHERE type = 'GENERATION'
        UNION ALL
        SELECT project_id, start_time / 86400000000 * 86400000000, environment, coalesce(feature, ''),
            coalesce(model, ''), coalesce(prompt_name, ''), coalesce(prompt_version, 0), 1,
            min(max(output_tokens, 1), 1099511627776), total_cost_nanos IS NOT NULL
        FROM observation WHERE type = 'GENERATION'
    )
) WHERE true
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

-- A deleted generation leaves both histograms.
CREATE TRIGGER observation_call_shape_delete AFTER DELETE ON observation WHEN OLD.type = 'GENERATION' BEGIN
    INSERT INTO rollup_call_shape_day
    SELECT OLD.project_id, OLD.start_time / 86400000000 * 86400000000, OLD.environment, coalesce(OLD.feature, ''),
        coalesce(OLD.model, ''), coalesce(OLD.prompt_name, ''), coalesce(OLD.prompt_version, 0), axis,
        b - ((1 << b) > v) + ((2 << b) <= v), -1, -(OLD.total_cost_nanos IS NOT NULL)
    FROM (SELECT axis, v, CAST(log2(v) AS INTEGER) AS b FROM (
        SELECT 0 AS axis, min(max(OLD.input_tokens, 1), 1099511627776) AS v
        UNION ALL SELECT 1, min(max(OLD.output_tokens, 1), 1099511627776)))
    WHERE true
    ON CONFLICT DO UPDATE SET n = n + excluded.n, costed = costed + excluded.costed;
END;

-- Only when a column the rollup reads changed: the generation as it was leaves, as it is arrives.
CREATE TRIGGER observation_call_shape_update AFTER UPDATE ON observation
WHEN (OLD.type = 'GENERATION' OR NEW.type = 'GENERATION')
    AND (OLD.start_time IS NOT NEW.start_time OR OLD.environment IS NOT NEW.environment
        OR OLD.feature IS NOT NEW.feature OR OLD.model IS NOT NEW.model OR OLD.prompt_name IS NOT NEW.prompt_name
        OR OLD.prompt_version IS NOT NEW.prompt_version OR OLD.type IS NOT NEW.type
        OR OLD.input_tokens IS NOT NEW.input_tokens OR OLD.output_tokens IS NOT NEW.output_tokens
        OR (OLD.total_cost_nanos IS NULL) IS NOT (NEW.total_cost_nanos IS NULL))
BEGIN
    INSERT INTO rollup_call_shape_day
    SELECT OLD.project_id, OLD.start_time / 86400000000 * 86400000000, OLD.environment, coalesce(OLD.feature, ''),
        coalesce(OLD.model, ''), coalesce(OLD.prompt_name, ''), coalesce(OLD.prompt_version, 0), axis,
        b - ((1 << b) > v) + ((2 << b) <= v), -1, -(OLD.total_cost_nanos IS NOT NULL)
    FROM (SELECT axis, v, CAST(log2(v) AS INTEGER) AS b FROM (
        SELECT 0 AS axis, min(max(OLD.input_tokens, 1), 1099511627776) AS v
        UNION ALL SELECT 1, min(max(OLD.output_tokens, 1), 1099511627776)))
    WHERE OLD.type = 'GENERATION'
    ON CONFLICT DO UPDATE SET n = n + excluded.n, costed = costed + excluded.costed;
    INSERT INTO rollup_call_shape_day
    SELECT NEW.project_id, NEW.start_time / 86400000000 * 86400000000, NEW.environment, coalesce(NEW.feature, ''),
        coalesce(NEW.model, ''), coalesce(NEW.prompt_name, ''), coalesce(NEW.prompt_version, 0), axis,
        b - ((1 << b) > v) + ((2 << b) <= v), 1, NEW.total_cost_nanos IS NOT NULL
    FROM (SELECT axis, v, CAST(log2(v) AS INTEGER) AS b FROM (
        SELECT 0 AS axis, min(max(NEW.input_tokens, 1), 1099511627776) AS v
        UNION ALL SELECT 1, min(max(NEW.output_tokens, 1), 1099511627776)))
    WHERE NEW.type = 'GENERATION'
    ON CONFLICT DO UPDATE SET n = n + excluded.n, costed = costed + excluded.costed;
END;
