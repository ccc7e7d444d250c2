-- The tag-filtered trace lists page in (timestamp DESC, trace_id) order: with the tie in the index too, a page (and
-- a deep offset) walks the index alone, without reading the tag rows, before it joins the page's traces. It
-- replaces trace_tag_time, a prefix of it.
CREATE INDEX trace_tag_order ON trace_tag (project_id, tag, "timestamp" DESC, trace_id);
DROP INDEX trace_tag_time;
