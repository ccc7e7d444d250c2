-- rollup_user_day (0024/0027) is kept by the store's writers of trace from here on (UserRollupChanges in the
-- TallyStore module): each notes a trace's row before its first write in the transaction and moves the rollup by the
-- difference before the commit. With any trigger on trace, SQLite kept a statement journal for every trace upsert
-- (the row and its index pages written again): 50k observations in time order wrote 1.43 GB with these triggers and
-- 0.33 GB without. The rows are exact when this runs, so they are kept.
DROP TRIGGER trace_user_insert;
DROP TRIGGER trace_user_totals;
DROP TRIGGER trace_user_update;
DROP TRIGGER trace_user_delete;
