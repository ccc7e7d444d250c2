-- Per-tenant budgets, kill switches and throttles (the budget check API). Money is integer nano-USD, as in the
-- observation and rollup tables; times are µs since the Unix epoch. A NULL limit means "no limit" on a plan and
-- "the plan's value" on a tenant override.

CREATE TABLE budget_plan (
    project_id          TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    name                TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    daily_nanos         INTEGER CHECK (daily_nanos IS NULL OR daily_nanos >= 0),
    monthly_nanos       INTEGER CHECK (monthly_nanos IS NULL OR monthly_nanos >= 0),
    requests_per_minute INTEGER CHECK (requests_per_minute IS NULL OR requests_per_minute >= 0),
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
) STRICT, WITHOUT ROWID;

-- A tenant's plan (NULL: the project's default plan) and its own overrides of the plan's limits.
CREATE TABLE tenant_budget (
    project_id          TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    tenant              TEXT NOT NULL CHECK (length(tenant) BETWEEN 1 AND 200),
    plan                TEXT,
    daily_nanos         INTEGER CHECK (daily_nanos IS NULL OR daily_nanos >= 0),
    monthly_nanos       INTEGER CHECK (monthly_nanos IS NULL OR monthly_nanos >= 0),
    requests_per_minute INTEGER CHECK (requests_per_minute IS NULL OR requests_per_minute >= 0),
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (project_id, tenant)
) STRICT, WITHOUT ROWID;

-- default_plan: the plan of a tenant without one (NULL: such tenants are unlimited). project_monthly_nanos: the
-- project-wide ("org") monthly budget the budget alerts watch.
ALTER TABLE project_setting ADD COLUMN default_plan TEXT;
ALTER TABLE project_setting ADD COLUMN project_monthly_nanos INTEGER
    CHECK (project_monthly_nanos IS NULL OR project_monthly_nanos >= 0);

-- A feature switched off (enabled = 0) or explicitly on (1) for every tenant (tenant = '') or for one tenant; the
-- tenant's own row wins over the project-wide one. until: when it stops applying (NULL: until deleted).
CREATE TABLE feature_switch (
    project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    feature    TEXT NOT NULL CHECK (length(feature) BETWEEN 1 AND 200),
    tenant     TEXT NOT NULL CHECK (length(tenant) <= 200),
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    reason     TEXT,
    until      INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, feature, tenant)
) STRICT, WITHOUT ROWID;

-- Every budget check of the tenant is refused until `until` (NULL: until deleted).
CREATE TABLE tenant_throttle (
    project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    tenant     TEXT NOT NULL CHECK (length(tenant) BETWEEN 1 AND 200),
    reason     TEXT,
    until      INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, tenant)
) STRICT, WITHOUT ROWID;

-- Bumped by every change to the tables above (and the budget settings), whoever makes it: a running server reloads
-- its in-memory copy when the number moves (the CLI writes the same tables from another process).
CREATE TABLE budget_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
) STRICT;
INSERT INTO budget_revision VALUES (1, 0);

CREATE TRIGGER budget_plan_revision_insert AFTER INSERT ON budget_plan
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER budget_plan_revision_update AFTER UPDATE ON budget_plan
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER budget_plan_revision_delete AFTER DELETE ON budget_plan
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER tenant_budget_revision_insert AFTER INSERT ON tenant_budget
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER tenant_budget_revision_update AFTER UPDATE ON tenant_budget
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER tenant_budget_revision_delete AFTER DELETE ON tenant_budget
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER feature_switch_revision_insert AFTER INSERT ON feature_switch
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER feature_switch_revision_update AFTER UPDATE ON feature_switch
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER feature_switch_revision_delete AFTER DELETE ON feature_switch
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER tenant_throttle_revision_insert AFTER INSERT ON tenant_throttle
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER tenant_throttle_revision_update AFTER UPDATE ON tenant_throttle
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER tenant_throttle_revision_delete AFTER DELETE ON tenant_throttle
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER project_setting_budget_revision_insert AFTER INSERT ON project_setting
BEGIN UPDATE budget_revision SET revision = revision + 1; END;
CREATE TRIGGER project_setting_budget_revision_update AFTER UPDATE OF default_plan, project_monthly_nanos
    ON project_setting
BEGIN UPDATE budget_revision SET revision = revision + 1; END;

-- Bumped by every rollup change made outside an ingest's grouped transaction (repricing, retention, deletes, the
-- per-event fallback, another process): the server's in-memory spend ledger reloads from the rollups when it moves.
-- The ingest's own grouped deltas (rollup_control.deferred = 1) reach the ledger directly.
CREATE TABLE spend_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
) STRICT;
INSERT INTO spend_revision VALUES (1, 0);

CREATE TRIGGER rollup_delta_spend_revision AFTER INSERT ON rollup_delta
WHEN (SELECT deferred FROM rollup_control WHERE id = 1) = 0
BEGIN UPDATE spend_revision SET revision = revision + 1; END;
