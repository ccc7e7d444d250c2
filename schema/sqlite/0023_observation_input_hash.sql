-- What a model call asked, as a number: the first 8 bytes of SHA-256 over the requested model, a NUL and the call's
-- input as the store serialises it (compact JSON, object keys sorted), read as a big-endian signed 64-bit integer.
-- Written with the row for GENERATION and EMBEDDING observations that have an input; NULL otherwise (and for rows
-- stored before this column existed). Two calls with the same hash asked the same model the same thing: the waste
-- finders (identical inputs repeated within an hour, documents embedded again) group on it instead of re-reading
-- every payload.
ALTER TABLE observation ADD COLUMN input_hash INTEGER;

-- Repeats of one input, by type (the duplicated inputs of the cache_opportunity and embed_reindex finders, read
-- from the index alone).
CREATE INDEX observation_input_hash ON observation(project_id, type, input_hash, start_time)
    WHERE input_hash IS NOT NULL;
