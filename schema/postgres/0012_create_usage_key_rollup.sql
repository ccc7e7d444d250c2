-- What-if pricing's rollup (SQLite schema 0025): per UTC day, environment, feature, type and requested model ('' for
-- none) of the model calls, the costed calls' usage per key (usage_key '' holds the calls: costed n, uncosted, and of
-- the costed ones errors, tokens and cost in nano-USD; a usage key's row its units, split by whether the call reports
-- a `total`). No tenant. Kept by statement triggers on observation: the signed rows of a statement's calls are
-- summed per key and added by one upsert in key order.
CREATE TABLE rollup_usage_key_day (
    project_id    text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day           bigint NOT NULL,
    environment   text COLLATE "C" NOT NULL,
    feature       text COLLATE "C" NOT NULL,
    type          text COLLATE "C" NOT NULL,
    model         text COLLATE "C" NOT NULL,
    usage_key     text COLLATE "C" NOT NULL,
    has_total     boolean NOT NULL,
    n             bigint NOT NULL,
    uncosted      bigint NOT NULL,
    errors        bigint NOT NULL,
    input_tokens  bigint NOT NULL,
    output_tokens bigint NOT NULL,
    total_tokens  bigint NOT NULL,
    cost_nanos    bigint NOT NULL,
    units         bigint NOT NULL,
    PRIMARY KEY (project_id, day, environment, feature, type, model, usage_key, has_total)
);

-- The signed contribution rows of the model calls in relation `p_rows` (`o`): one figures row per call and one row
-- per usage key of a costed call.
CREATE FUNCTION tally_usage_key_delta_sql(p_rows text, p_sign integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($f$
        SELECT o.project_id, o.start_time / 86400000000 * 86400000000 AS day, o.environment,
            coalesce(o.feature, '') AS feature, o.type, coalesce(o.model, '') AS model, ''::text AS usage_key,
            false AS has_total, %2$s * (o.total_cost_nanos IS NOT NULL)::int AS n,
            %2$s * (o.total_cost_nanos IS NULL)::int AS uncosted,
            %2$s * (o.total_cost_nanos IS NOT NULL AND o.level = 'ERROR')::int AS errors,
            %2$s * CASE WHEN o.total_cost_nanos IS NOT NULL THEN o.input_tokens ELSE 0 END AS input_tokens,
            %2$s * CASE WHEN o.total_cost_nanos IS NOT NULL THEN o.output_tokens ELSE 0 END AS output_tokens,
            %2$s * CASE WHEN o.total_cost_nanos IS NOT NULL THEN o.total_tokens ELSE 0 END AS total_tokens,
            %2$s * coalesce(o.total_cost_nanos, 0) AS cost_nanos, 0::bigint AS units
        FROM %1$s o WHERE o.type IN ('GENERATION', 'EMBEDDING')
        UNION ALL
        SELECT o.project_id, o.start_time / 86400000000 * 86400000000, o.environment, coalesce(o.feature, ''),
            o.type, coalesce(o.model, ''), j.key, jsonb_exists(o.usage_details, 'total'), 0, 0, 0, 0, 0, 0, 0,
            %2$s * j.value::bigint
        FROM %1$s o CROSS JOIN jsonb_each_text(o.usage_details) AS j(key, value)
        WHERE o.type IN ('GENERATION', 'EMBEDDING') AND o.total_cost_nanos IS NOT NULL
        $f$, p_rows, p_sign)
$$;

-- The statement adding the rows `p_deltas` selects, summed per key, in key order.
CREATE FUNCTION tally_usage_key_apply_sql(p_deltas text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($f$
        INSERT INTO rollup_usage_key_day AS r
        SELECT project_id, day, environment, feature, type, model, usage_key, has_total, sum(n), sum(uncosted),
            sum(errors), sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(cost_nanos), sum(units)
        FROM (%s) d GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
        ON CONFLICT (project_id, day, environment, feature, type, model, usage_key, has_total) DO UPDATE SET
            n = r.n + excluded.n, uncosted = r.uncosted + excluded.uncosted, errors = r.errors + excluded.errors,
            input_tokens = r.input_tokens + excluded.input_tokens,
            output_tokens = r.output_tokens + excluded.output_tokens,
            total_tokens = r.total_tokens + excluded.total_tokens, cost_nanos = r.cost_nanos + excluded.cost_nanos,
            units = r.units + excluded.units
        $f$, p_deltas)
$$;

CREATE FUNCTION tally_usage_key_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE tally_usage_key_apply_sql(tally_usage_key_delta_sql('new_rows', 1));
    RETURN NULL;
END;
$$;

-- Only calls whose read columns changed: as they were, subtracted; as they are, added.
CREATE FUNCTION tally_usage_key_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_changed text := '(SELECT %s.* FROM old_rows o JOIN new_rows n ON n.project_id = o.project_id AND n.id = o.id
        WHERE (o.start_time, o.environment, o.feature, o.type, o.model, o.level, o.input_tokens, o.output_tokens,
            o.total_tokens, o.total_cost_nanos, o.usage_details)
        IS DISTINCT FROM (n.start_time, n.environment, n.feature, n.type, n.model, n.level, n.input_tokens,
            n.output_tokens, n.total_tokens, n.total_cost_nanos, n.usage_details))';
BEGIN
    EXECUTE tally_usage_key_apply_sql(
        tally_usage_key_delta_sql(format(v_changed, 'o'), -1) || ' UNION ALL '
            || tally_usage_key_delta_sql(format(v_changed, 'n'), 1));
    RETURN NULL;
END;
$$;

CREATE FUNCTION tally_usage_key_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE tally_usage_key_apply_sql(tally_usage_key_delta_sql('old_rows', -1));
    RETURN NULL;
END;
$$;

CREATE TRIGGER observation_usage_key_inserted AFTER INSERT ON observation REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_usage_key_inserted();
CREATE TRIGGER observation_usage_key_updated AFTER UPDATE ON observation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_usage_key_updated();
CREATE TRIGGER observation_usage_key_deleted AFTER DELETE ON observation REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_usage_key_deleted();

-- Calls stored before this table.
INSERT INTO rollup_usage_key_day
SELECT project_id, day, environment, feature, type, model, usage_key, has_total, sum(n), sum(uncosted), sum(errors),
    sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(cost_nanos), sum(units)
FROM (
    SELECT o.project_id, o.start_time / 86400000000 * 86400000000 AS day, o.environment,
        coalesce(o.feature, '') AS feature, o.type, coalesce(o.model, '') AS model, ''::text AS usage_key,
        false AS has_total, (o.total_cost_nanos IS NOT NULL)::int AS n, (o.total_cost_nanos IS NULL)::int AS uncosted,
        (o.total_cost_nanos IS NOT NULL AND o.level = 'ERROR')::int AS errors,
        CASE WHEN o.total_cost_nanos IS NOT NULL THEN o.input_tokens ELSE 0 END AS input_tokens,
        CASE WHEN o.total_cost_nanos IS NOT NULL THEN o.output_tokens ELSE 0 END AS output_tokens,
        CASE WHEN o.total_cost_nanos IS NOT NULL THEN o.total_tokens ELSE 0 END AS total_tokens,
        coalesce(o.total_cost_nanos, 0) AS cost_nanos, 0::bigint AS units
    FROM observation o WHERE o.type IN ('GENERATION', 'EMBEDDING')
    UNION ALL
    SELECT o.project_id, o.start_time / 86400000000 * 86400000000, o.environment, coalesce(o.feature, ''), o.type,
        coalesce(o.model, ''), j.key, jsonb_exists(o.usage_details, 'total'), 0, 0, 0, 0, 0, 0, 0, j.value::bigint
    FROM observation o CROSS JOIN jsonb_each_text(o.usage_details) AS j(key, value)
    WHERE o.type IN ('GENERATION', 'EMBEDDING') AND o.total_cost_nanos IS NOT NULL
) d GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
