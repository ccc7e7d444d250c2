-- The waste finders' profile of generations (SQLite schema 0026): per UTC day, environment, feature, requested model
-- and prompt version ('' and 0 for none), histograms of input tokens (axis 0) and output tokens (axis 1) in powers
-- of two (bucket b: tokens in [2^b, 2^(b+1)); 0 also holds 0 and 1, 40 everything from 2^40 up); `n` every
-- generation, `costed` those with a cost. No tenant. Kept by statement triggers on observation: the signed rows of a
-- statement's generations are summed per key and added by one upsert in key order.
CREATE TABLE rollup_call_shape_day (
    project_id     text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day            bigint NOT NULL,
    environment    text COLLATE "C" NOT NULL,
    feature        text COLLATE "C" NOT NULL,
    model          text COLLATE "C" NOT NULL,
    prompt_name    text COLLATE "C" NOT NULL,
    prompt_version bigint NOT NULL,
    axis           smallint NOT NULL CHECK (axis IN (0, 1)),
    bucket         smallint NOT NULL CHECK (bucket BETWEEN 0 AND 40),
    n              bigint NOT NULL,
    costed         bigint NOT NULL,
    PRIMARY KEY (project_id, feature, model, prompt_name, prompt_version, axis, bucket, environment, day)
);

-- The bucket of `tokens`: the bit length of tokens clamped to [1, 2^40], less one (exact, no logarithm).
CREATE FUNCTION tally_token_bucket(tokens bigint) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (length(ltrim(least(greatest(tokens, 1), 1099511627776)::bit(64)::text, '0')) - 1)::smallint
$$;

-- The signed contribution rows of the generations in relation `p_rows` (`o`): one per axis.
CREATE FUNCTION tally_call_shape_delta_sql(p_rows text, p_sign integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($f$
        SELECT o.project_id, o.start_time / 86400000000 * 86400000000 AS day, o.environment,
            coalesce(o.feature, '') AS feature, coalesce(o.model, '') AS model,
            coalesce(o.prompt_name, '') AS prompt_name, coalesce(o.prompt_version, 0)::bigint AS prompt_version,
            a.axis, tally_token_bucket(CASE a.axis WHEN 0 THEN o.input_tokens ELSE o.output_tokens END) AS bucket,
            %2$s AS n, %2$s * (o.total_cost_nanos IS NOT NULL)::int AS costed
        FROM %1$s o CROSS JOIN (VALUES (0::smallint), (1::smallint)) AS a(axis) WHERE o.type = 'GENERATION'
        $f$, p_rows, p_sign)
$$;

-- The statement adding the rows `p_deltas` selects, summed per key, in key order.
CREATE FUNCTION tally_call_shape_apply_sql(p_deltas text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($f$
        INSERT INTO rollup_call_shape_day AS r
        SELECT project_id, day, environment, feature, model, prompt_name, prompt_version, axis, bucket, sum(n),
            sum(costed)
        FROM (%s) d GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9
        ON CONFLICT (project_id, day, environment, feature, model, prompt_name, prompt_version, axis, bucket)
        DO UPDATE SET n = r.n + excluded.n, costed = r.costed + excluded.costed
        $f$, p_deltas)
$$;

CREATE FUNCTION tally_call_shape_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE tally_call_shape_apply_sql(tally_call_shape_delta_sql('new_rows', 1));
    RETURN NULL;
END;
$$;

-- Only generations whose read columns changed: as they were, subtracted; as they are, added.
CREATE FUNCTION tally_call_shape_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_changed text := '(SELECT %s.* FROM old_rows o JOIN new_rows n ON n.project_id = o.project_id AND n.id = o.id
        WHERE (o.start_time, o.environment, o.feature, o.model, o.prompt_name, o.prompt_version, o.type,
            o.input_tokens, o.output_tokens, o.total_cost_nanos IS NULL)
        IS DISTINCT FROM (n.start_time, n.environment, n.feature, n.model, n.prompt_name, n.prompt_version, n.type,
            n.input_tokens, n.output_tokens, n.total_cost_nanos IS NULL))';
BEGIN
    EXECUTE tally_call_shape_apply_sql(
        tally_call_shape_delta_sql(format(v_changed, 'o'), -1) || ' UNION ALL '
            || tally_call_shape_delta_sql(format(v_changed, 'n'), 1));
    RETURN NULL;
END;
$$;

CREATE FUNCTION tally_call_shape_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE tally_call_shape_apply_sql(tally_call_shape_delta_sql('old_rows', -1));
    RETURN NULL;
END;
$$;

CREATE TRIGGER observation_call_shape_inserted AFTER INSERT ON observation REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_call_shape_inserted();
CREATE TRIGGER observation_call_shape_updated AFTER UPDATE ON observation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_call_shape_updated();
CREATE TRIGGER observation_call_shape_deleted AFTER DELETE ON observation REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_call_shape_deleted();

-- Generations stored before this table.
INSERT INTO rollup_call_shape_day
SELECT project_id, day, environment, feature, model, prompt_name, prompt_version, axis, bucket, sum(n), sum(costed)
FROM (
    SELECT o.project_id, o.start_time / 86400000000 * 86400000000 AS day, o.environment,
        coalesce(o.feature, '') AS feature, coalesce(o.model, '') AS model, coalesce(o.prompt_name, '') AS prompt_name,
        coalesce(o.prompt_version, 0)::bigint AS prompt_version, a.axis,
        tally_token_bucket(CASE a.axis WHEN 0 THEN o.input_tokens ELSE o.output_tokens END) AS bucket, 1 AS n,
        (o.total_cost_nanos IS NOT NULL)::int AS costed
    FROM observation o CROSS JOIN (VALUES (0::smallint), (1::smallint)) AS a(axis) WHERE o.type = 'GENERATION'
) d GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
