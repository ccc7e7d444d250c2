-- The envelope time of the newest event merged into each entity (µs since the epoch; NULL for rows written
-- before this migration and for placeholder traces no trace event has named). An event older than it fills only
-- the fields the entity lacks, so a stale re-send (SDKs retry whole batches) never reverts newer data.
ALTER TABLE trace ADD COLUMN event_time INTEGER;
ALTER TABLE observation ADD COLUMN event_time INTEGER;
ALTER TABLE score ADD COLUMN event_time INTEGER;
