-- What-if pricing's rollup: per UTC day, environment, feature, type and requested model ('' for none) of the model
-- calls (GENERATION and EMBEDDING), the usage of the calls that have a cost, per usage key, so a what-if reprices the
-- sums instead of reading every call's usage (TallyCore WhatIf). A row with usage_key '' holds the calls: those with
-- a cost (n), those without (uncosted), and of the costed ones the errors, tokens and cost (nano-USD); a row per usage
-- key holds its summed units over the costed calls that report it, split by whether the call reports a `total`
-- (has_total: a model priced on totals bills those calls' total, the others' every unit). No tenant: a what-if by
-- tenant reads the tenant's calls through their index.
-- Inserts are added by the store's RollupAccumulator (summed per transaction, like the analytics rollups); updates
-- and deletes by the triggers below, each change subtracting the call as it was and adding it as it is. Rows whose
-- figures drop to 0 stay; readers skip them.
CREATE TABLE rollup_usage_key_day (
    project_id    TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    day           INTEGER NOT NULL,
    environment   TEXT NOT NULL,
    feature       TEXT NOT NULL,
    type          TEXT NOT NULL,
    model         TEXT NOT NULL,
    usage_key     TEXT NOT NULL,
    has_total     INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    uncosted      INTEGER NOT NULL,
    errors        INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    total_tokens  INTEGER NOT NULL,
    cost_nanos    INTEGER NOT NULL,
    units         INTEGER NOT NULL,
    PRIMARY KEY (project_id, day, environment, feature, type, model, usage_key, has_total)
) STRICT, WITHOUT ROWID;

INSERT INTO rollup_usage_key_day
SELECT project_id, start_time / 86400000000 * 86400000000, environment, coalesce(feature, ''), type,
    coalesce(model, ''), '', 0, sum(total_cost_nanos IS NOT NULL), sum(total_cost_nanos IS NULL),
    sum(total_cost_nanos IS NOT NULL AND level = 'ERROR'),
    sum(CASE WHEN total_cost_nanos IS NOT NULL THEN input_tokens ELSE 0 END),
    sum(CASE WHEN total_cost_nanos IS NOT NULL THEN output_tokens ELSE 0 END),
    sum(CASE WHEN total_cost_nanos IS NOT NULL THEN total_tokens ELSE 0 END), coalesce(sum(total_cost_nanos), 0), 0
FROM observation WHERE type IN ('GENERATION', 'EMBEDDING')
GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO rollup_usage_key_day
SELECT o.project_id, o.start_time / 86400000000 * 86400000000, o.environment, coalesce(o.feature, ''), o.type,
    coalesce(o.model, ''), j.key, json_type(o.usage_details, '$.total') IS NOT NULL, 0, 0, 0, 0, 0, 0, 0, sum(j.value)
FROM observation o, json_each(o.usage_details) j
WHERE o.type IN ('GENERATION', 'EMBEDDING') AND o.total_cost_nanos IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- A deleted call leaves the rollup (its figures row, then its usage rows).
CREATE TRIGGER observation_usage_key_delete AFTER DELETE ON observation
WHEN OLD.type IN ('GENERATION', 'EMBEDDING')
BEGIN
    INSERT INTO rollup_usage_key_day VALUES (OLD.project_id, OLD.start_time / 86400000000 * 86400000000,
        OLD.environment, coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''), '', 0,
        -(OLD.total_cost_nanos IS NOT NULL), -(OLD.total_cost_nanos IS NULL),
        -(OLD.total_cost_nanos IS NOT NULL AND OLD.level = 'ERROR'),
        -(CASE WHEN OLD.total_cost_nanos IS NOT NULL THEN OLD.input_tokens ELSE 0 END),
        -(CASE WHEN OLD.total_cost_nanos IS NOT NULL THEN OLD.output_tokens ELSE 0 END),
        -(CASE WHEN OLD.total_cost_nanos IS NOT NULL THEN OLD.total_tokens ELSE 0 END),
        -coalesce(OLD.total_cost_nanos, 0), 0)
    ON CONFLICT DO UPDATE SET n = n + excluded.n, uncosted = uncosted + excluded.uncosted,
        errors = errors + excluded.errors, input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens, total_tokens = total_tokens + excluded.total_tokens,
        cost_nanos = cost_nanos + excluded.cost_nanos;
    INSERT INTO rollup_usage_key_day SELECT OLD.project_id, OLD.start_time / 86400000000 * 86400000000,
        OLD.environment, coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''), j.key,
        json_type(OLD.usage_details, '$.total') IS NOT NULL, 0, 0, 0, 0, 0, 0, 0, -j.value
    FROM json_each(OLD.usage_details) j WHERE OLD.total_cost_nanos IS NOT NULL
    ON CONFLICT DO UPDATE SET units = units + excluded.units;
END;

-- Only when a column the rollup reads changed: the call as it was leaves, the call as it is arrives.
CREATE TRIGGER observation_usage_key_update AFTER UPDATE ON observation
WHEN (OLD.type IN ('GENERATION', 'EMBEDDING') OR NEW.type IN ('GENERATION', 'EMBEDDING'))
    AND (OLD.start_time IS NOT NEW.start_time OR OLD.environment IS NOT NEW.environment
        OR OLD.feature IS NOT NEW.feature OR OLD.type IS NOT NEW.type OR OLD.model IS NOT NEW.model
        OR OLD.level IS NOT NEW.level OR OLD.input_tokens IS NOT NEW.input_tokens
        OR OLD.output_tokens IS NOT NEW.output_tokens OR OLD.total_tokens IS NOT NEW.total_tokens
        OR OLD.total_cost_nanos IS NOT NEW.total_cost_nanos OR OLD.usage_details IS NOT NEW.usage_details)
BEGIN
    INSERT INTO rollup_usage_key_day SELECT OLD.project_id, OLD.start_time / 86400000000 * 86400000000,
        OLD.environment, coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''), '', 0,
        -(OLD.total_cost_nanos IS NOT NULL), -(OLD.total_cost_nanos IS NULL),
        -(OLD.total_cost_nanos IS NOT NULL AND OLD.level = 'ERROR'),
        -(CASE WHEN OLD.total_cost_nanos IS NOT NULL THEN OLD.input_tokens ELSE 0 END),
        -(CASE WHEN OLD.total_cost_nanos IS NOT NULL THEN OLD.output_tokens ELSE 0 END),
        -(CASE WHEN OLD.total_cost_nanos IS NOT NULL THEN OLD.total_tokens ELSE 0 END),
        -coalesce(OLD.total_cost_nanos, 0), 0
    WHERE OLD.type IN ('GENERATION', 'EMBEDDING')
    ON CONFLICT DO UPDATE SET n = n + excluded.n, uncosted = uncosted + excluded.uncosted,
        errors = errors + excluded.errors, input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens, total_tokens = total_tokens + excluded.total_tokens,
        cost_nanos = cost_nanos + excluded.cost_nanos;
    INSERT INTO rollup_usage_key_day SELECT OLD.project_id, OLD.start_time / 86400000000 * 86400000000,
        OLD.environment, coalesce(OLD.feature, ''), OLD.type, coalesce(OLD.model, ''), j.key,
        json_type(OLD.usage_details, '$.total') IS NOT NULL, 0, 0, 0, 0, 0, 0, 0, -j.value
    FROM json_each(OLD.usage_details) j
    WHERE OLD.type IN ('GENERATION', 'EMBEDDING') AND OLD.total_cost_nanos IS NOT NULL
    ON CONFLICT DO UPDATE SET units = units + excluded.units;
    INSERT INTO rollup_usage_key_day SELECT NEW.project_id, NEW.start_time / 86400000000 * 86400000000,
        NEW.environment, coalesce(NEW.feature, ''), NEW.type, coalesce(NEW.model, ''), '', 0,
        NEW.total_cost_nanos IS NOT NULL, NEW.total_cost_nanos IS NULL,
        NEW.total_cost_nanos IS NOT NULL AND NEW.level = 'ERROR',
        CASE WHEN NEW.total_cost_nanos IS NOT NULL THEN NEW.input_tokens ELSE 0 END,
        CASE WHEN NEW.total_cost_nanos IS NOT NULL THEN NEW.output_tokens ELSE 0 END,
        CASE WHEN NEW.total_cost_nanos IS NOT NULL THEN NEW.total_tokens ELSE 0 END,
        coalesce(NEW.total_cost_nanos, 0), 0
    WHERE NEW.type IN ('GENERATION', 'EMBEDDING')
    ON CONFLICT DO UPDATE SET n = n + excluded.n, uncosted = uncosted + excluded.uncosted,
        errors = errors + excluded.errors, input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens, total_tokens = total_tokens + excluded.total_tokens,
        cost_nanos = cost_nanos + excluded.cost_nanos;
    INSERT INTO rollup_usage_key_day SELECT NEW.project_id, NEW.start_time / 86400000000 * 86400000000,
        NEW.environment, coalesce(NEW.feature, ''), NEW.type, coalesce(NEW.model, ''), j.key,
        json_type(NEW.usage_details, '$.total') IS NOT NULL, 0, 0, 0, 0, 0, 0, 0, j.value
    FROM json_each(NEW.usage_details) j
    WHERE NEW.type IN ('GENERATION', 'EMBEDDING') AND NEW.total_cost_nanos IS NOT NULL
    ON CONFLICT DO UPDATE SET units = units + excluded.units;
END;
