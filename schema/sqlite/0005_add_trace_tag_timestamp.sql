-- The trace timestamp beside each tag, so a tag-filtered trace list reads its newest page straight off an index.
ALTER TABLE trace_tag ADD COLUMN timestamp INTEGER NOT NULL DEFAULT 0;
UPDATE trace_tag SET timestamp = coalesce(
    (SELECT t.timestamp FROM trace t WHERE t.project_id = trace_tag.project_id AND t.id = trace_tag.trace_id), 0);
CREATE INDEX trace_tag_time ON trace_tag(project_id, tag, timestamp DESC);
