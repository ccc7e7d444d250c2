-- What a model call asked, as a number (SQLite schema 0023): the first 8 bytes of SHA-256 over the requested model,
-- a NUL and the call's input as the store serialises it, as a big-endian signed bigint; NULL for other observations
-- and for rows stored before this column existed. The waste finders group repeated inputs on it.
ALTER TABLE observation ADD COLUMN input_hash bigint;

CREATE INDEX observation_input_hash ON observation (project_id, type, input_hash, start_time)
    WHERE input_hash IS NOT NULL;
