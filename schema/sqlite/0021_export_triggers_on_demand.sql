-- The change-log triggers of 0018 cost every observation insert even with their WHEN clause false: an AFTER INSERT
-- trigger on observation, whatever it does, doubled SQLite's time per inserted row (28 → 58 µs in a measurement on
-- this schema). They are dropped here and installed by the store only while some project has an export sink
-- (TallyDatabase.syncExportTriggers: on start, and when a sink is created or the last one deleted), with the same
-- definitions as in 0018.
DROP TRIGGER observation_export_insert;
DROP TRIGGER observation_export_update;
