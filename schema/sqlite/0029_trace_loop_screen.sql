-- Per trace, with its totals (0011): the model calls (GENERATION and EMBEDDING observations) and the most
-- observations of one name among the others (tools, spans, …; unnamed ones not counted). The agent-loop finder reads
-- step by step only the traces these say can loop (calls ≥ loopCalls or one name ≥ loopRepeats times) instead of
-- every trace with enough observations: an agent project whose traces hold many steps but do not loop costs it
-- nothing. Kept with the other totals by every writer (SharedSQL.setTraceTotals, the ingest's in-memory sums).
ALTER TABLE trace ADD COLUMN call_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trace ADD COLUMN step_repeat INTEGER NOT NULL DEFAULT 0;
UPDATE trace AS t SET
    -- By the trace's observations (a condition on type would let the planner walk every call of the project).
    call_count = (SELECT coalesce(sum(CASE WHEN x.type IN ('GENERATION', 'EMBEDDING') THEN 1 ELSE 0 END), 0)
        FROM observation x WHERE x.project_id = t.project_id AND x.trace_id = t.id),
    step_repeat = (SELECT coalesce(max(r.n), 0) FROM (
        SELECT count(*) AS n FROM observation y WHERE y.project_id = t.project_id AND y.trace_id = t.id
            AND y.type NOT IN ('GENERATION', 'EMBEDDING') AND y.name IS NOT NULL
        GROUP BY y.name) r)
WHERE t.observation_count > 0;
