-- Keys with a narrower reach than their project: read_only keys may only read (GET, HEAD); a key with a tenant may
-- read only that tenant's analytics, exports and traces (always read-only: the store refuses a tenant key that
-- could write). A UI session takes its key's reach (it joins api_key on every request).
ALTER TABLE api_key ADD COLUMN tenant TEXT CHECK (tenant IS NULL OR length(tenant) BETWEEN 1 AND 1000);
ALTER TABLE api_key ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1));
