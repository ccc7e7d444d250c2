-- Budgets (schema/sqlite 0013): plans, tenant budgets, feature switches, throttles, and the state every collector's
-- budget check shares. Money is integer nano-USD, times µs since the Unix epoch. A NULL limit means "no limit" on a
-- plan and "the plan's value" on a tenant override.
CREATE TABLE budget_plan (
    project_id          text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    name                text COLLATE "C" NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    daily_nanos         bigint CHECK (daily_nanos IS NULL OR daily_nanos >= 0),
    monthly_nanos       bigint CHECK (monthly_nanos IS NULL OR monthly_nanos >= 0),
    requests_per_minute bigint CHECK (requests_per_minute IS NULL OR requests_per_minute >= 0),
    updated_at          bigint NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- A tenant's plan (NULL: the project's default plan) and its own overrides of the plan's limits.
CREATE TABLE tenant_budget (
    project_id          text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    tenant              text COLLATE "C" NOT NULL CHECK (length(tenant) BETWEEN 1 AND 200),
    plan                text COLLATE "C",
    daily_nanos         bigint CHECK (daily_nanos IS NULL OR daily_nanos >= 0),
    monthly_nanos       bigint CHECK (monthly_nanos IS NULL OR monthly_nanos >= 0),
    requests_per_minute bigint CHECK (requests_per_minute IS NULL OR requests_per_minute >= 0),
    updated_at          bigint NOT NULL,
    PRIMARY KEY (project_id, tenant)
);

-- default_plan: the plan of a tenant without one (NULL: such tenants are unlimited). project_monthly_nanos: the
-- project-wide ("org") monthly budget the budget alerts watch.
ALTER TABLE project_setting ADD COLUMN default_plan text COLLATE "C";
ALTER TABLE project_setting ADD COLUMN project_monthly_nanos bigint
    CHECK (project_monthly_nanos IS NULL OR project_monthly_nanos >= 0);

-- A feature switched off (enabled false) or explicitly on for every tenant (tenant = '') or for one tenant; the
-- tenant's own row wins over the project-wide one. until: when it stops applying (NULL: until deleted).
CREATE TABLE feature_switch (
    project_id text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    feature    text COLLATE "C" NOT NULL CHECK (length(feature) BETWEEN 1 AND 200),
    tenant     text COLLATE "C" NOT NULL CHECK (length(tenant) <= 200),
    enabled    boolean NOT NULL,
    reason     text,
    until      bigint,
    updated_at bigint NOT NULL,
    PRIMARY KEY (project_id, feature, tenant)
);

-- Every budget check of the tenant is refused until `until` (NULL: until deleted).
CREATE TABLE tenant_throttle (
    project_id text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    tenant     text COLLATE "C" NOT NULL CHECK (length(tenant) BETWEEN 1 AND 200),
    reason     text,
    until      bigint,
    updated_at bigint NOT NULL,
    PRIMARY KEY (project_id, tenant)
);

-- Moves with every change to the tables above and to the budget settings, whoever makes it: each collector keeps
-- a copy of the policies and reads them again when the number moved (checked at every budget read).
CREATE TABLE budget_revision (
    id       integer PRIMARY KEY CHECK (id = 1),
    revision bigint NOT NULL
);
INSERT INTO budget_revision VALUES (1, 0);

CREATE FUNCTION tally_budget_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE budget_revision SET revision = revision + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER budget_plan_revision AFTER INSERT OR UPDATE OR DELETE ON budget_plan
    FOR EACH STATEMENT EXECUTE FUNCTION tally_budget_revision();
CREATE TRIGGER tenant_budget_revision AFTER INSERT OR UPDATE OR DELETE ON tenant_budget
    FOR EACH STATEMENT EXECUTE FUNCTION tally_budget_revision();
CREATE TRIGGER feature_switch_revision AFTER INSERT OR UPDATE OR DELETE ON feature_switch
    FOR EACH STATEMENT EXECUTE FUNCTION tally_budget_revision();
CREATE TRIGGER tenant_throttle_revision AFTER INSERT OR UPDATE OR DELETE ON tenant_throttle
    FOR EACH STATEMENT EXECUTE FUNCTION tally_budget_revision();
CREATE TRIGGER project_setting_budget_revision AFTER INSERT OR UPDATE OF default_plan, project_monthly_nanos
    ON project_setting FOR EACH STATEMENT EXECUTE FUNCTION tally_budget_revision();

-- The check's shared state. A check locks its tenant (ingest_lock key "budget"), reads the tenant's spend from
-- rollup_tenant_total_day, its live holds and its allowed checks in the last minute, decides, and records: so
-- concurrent checks on any collectors are decided one after another on the same numbers. Unlogged (a crash of
-- PostgreSQL forgets holds and the last minute's count, both short-lived by nature); expired rows are pruned by
-- the checks and once a minute by every collector.

-- Budget a check set aside for the LLM call it allowed (id: the caller's trace id), until a costed observation of
-- that trace commits (the ingest deletes it in the same transaction) or expires_at.
CREATE UNLOGGED TABLE budget_hold (
    project_id text COLLATE "C" NOT NULL,
    id         text COLLATE "C" NOT NULL,
    tenant     text COLLATE "C" NOT NULL,
    nanos      bigint NOT NULL CHECK (nanos > 0),
    expires_at bigint NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX budget_hold_tenant ON budget_hold (project_id, tenant, expires_at);
CREATE INDEX budget_hold_expiry ON budget_hold (expires_at);

-- One row per allowed check of a tenant under a requests-per-minute limit, at `at`.
CREATE UNLOGGED TABLE budget_request (
    project_id text COLLATE "C" NOT NULL,
    tenant     text COLLATE "C" NOT NULL,
    at         bigint NOT NULL,
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (project_id, tenant, at, seq)
);
CREATE INDEX budget_request_time ON budget_request (at);

-- A tenant's spend this month without scanning every tenant's rows of the project.
CREATE INDEX rollup_tenant_total_day_tenant ON rollup_tenant_total_day (project_id, tenant, day)
    INCLUDE (total_cost_nanos);
