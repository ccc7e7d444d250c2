-- What a model call's cache saved: the call priced at list price with its cache-read tokens billed as plain input
-- (and, for a call marked cache_hit, its whole usage at list price) minus what it cost, in nano-USD, never below 0.
-- NULL: no cache involved, or no list price known for the model. Written with the cost (ingest, recompute).
ALTER TABLE observation ADD COLUMN savings_nanos INTEGER CHECK (savings_nanos IS NULL OR savings_nanos >= 0);

-- Export sinks send the saving with each event (`cache_savings_usd`); the ledger keeps it like the other figures.
ALTER TABLE export_ledger ADD COLUMN cache_savings_nanos INTEGER NOT NULL DEFAULT 0;
