-- The model that answered, next to the one requested (observation.model): gen_ai.response.model and the like.
ALTER TABLE observation ADD COLUMN response_model TEXT;
