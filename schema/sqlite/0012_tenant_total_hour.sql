-- Hourly sums by environment and tenant only: the rolling-window top-tenants dashboard reads one row per tenant and
-- hour (rollup_tenant_hour holds one per feature as well, ~10x more: 24k rows for a day of 100 tenants x 10
-- features). Columns as in rollup_tenant_hour without feature. Maintained like the others: the ingest's grouped
-- upsert from rollup_delta, and the apply trigger (created again here with the new table) for every other writer.
CREATE TABLE rollup_tenant_total_hour (
    project_id        TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    hour              INTEGER NOT NULL,
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
    PRIMARY KEY (project_id, hour, environment, tenant)
) STRICT, WITHOUT ROWID;

INSERT INTO rollup_tenant_total_hour SELECT project_id, hour, environment, tenant, sum(n), sum(errors),
    sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(input_cost_nanos), sum(output_cost_nanos),
    sum(total_cost_nanos)
FROM rollup_tenant_hour WHERE true GROUP BY project_id, hour, environment, tenant;

DROP TRIGGER rollup_delta_apply;

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
    INSERT INTO rollup_tenant_total_hour VALUES (NEW.project_id, NEW.hour, NEW.environment, NEW.tenant,
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
