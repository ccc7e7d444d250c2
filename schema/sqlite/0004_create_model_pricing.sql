-- Project-defined model prices (Langfuse's models API) and per-project pricing settings.
CREATE TABLE model (
    project_id   TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    model_name   TEXT NOT NULL,
    definition   TEXT NOT NULL CHECK (json_type(definition) = 'object'),  -- ModelPrice JSON, prices in USD per unit
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE project_setting (
    project_id      TEXT PRIMARY KEY NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    builtin_prices  INTEGER NOT NULL DEFAULT 1 CHECK (builtin_prices IN (0, 1)),
    price_by        TEXT NOT NULL DEFAULT 'requested' CHECK (price_by IN ('requested', 'response'))
) STRICT;

-- How each observation's cost was obtained: 'provided' by the client or 'inferred' from a price; the model and
-- tier that priced it and the unit prices applied (USD per unit, per usage key).
ALTER TABLE observation ADD COLUMN cost_source TEXT CHECK (cost_source IN ('provided', 'inferred'));
ALTER TABLE observation ADD COLUMN priced_model_id TEXT;
ALTER TABLE observation ADD COLUMN pricing_tier TEXT;
ALTER TABLE observation ADD COLUMN unit_prices TEXT CHECK (unit_prices IS NULL OR json_type(unit_prices) = 'object');
CREATE INDEX observation_cost_time ON observation(project_id, start_time) WHERE cost_source = 'inferred';
