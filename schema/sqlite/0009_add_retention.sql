-- Per-project retention: traces (with their observations and scores) older than this many days are deleted by
-- the retention service. NULL: the server's --retention-days; 0: keep forever.
ALTER TABLE project_setting ADD COLUMN retention_days INTEGER CHECK (retention_days IS NULL OR retention_days >= 0);
