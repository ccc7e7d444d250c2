-- A trace whose own metadata and tags name no tenant takes the tenant named by its earliest observation (start
-- time, then id) whose metadata names one; feature likewise. Every observation of a trace then carries the trace's
-- tenant and feature (README "Tenants and features"). Before this rule a trace without its own tenant stayed
-- without one while its observations kept their own, so per-trace and per-observation analytics disagreed.
--
-- Until now an observation of a trace without a tenant stored its own tenant, so the earliest non-NULL one is the
-- one the rule names. Moving observations' tenants below goes through observation_rollup_update: rollups stay exact.

UPDATE trace SET tenant = (
    SELECT o.tenant FROM observation o
    WHERE o.project_id = trace.project_id AND o.trace_id = trace.id AND o.tenant IS NOT NULL
    ORDER BY o.start_time, o.id LIMIT 1)
WHERE tenant IS NULL;

UPDATE trace SET feature = (
    SELECT o.feature FROM observation o
    WHERE o.project_id = trace.project_id AND o.trace_id = trace.id AND o.feature IS NOT NULL
    ORDER BY o.start_time, o.id LIMIT 1)
WHERE feature IS NULL;

UPDATE observation SET
    tenant = coalesce((SELECT t.tenant FROM trace t WHERE t.project_id = observation.project_id
        AND t.id = observation.trace_id), tenant),
    feature = coalesce((SELECT t.feature FROM trace t WHERE t.project_id = observation.project_id
        AND t.id = observation.trace_id), feature)
WHERE EXISTS (SELECT 1 FROM trace t WHERE t.project_id = observation.project_id AND t.id = observation.trace_id
    AND ((t.tenant IS NOT NULL AND t.tenant IS NOT observation.tenant)
        OR (t.feature IS NOT NULL AND t.feature IS NOT observation.feature)));
