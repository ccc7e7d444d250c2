-- Usage export sinks (schema/sqlite 0018, 0020-0022): billing systems Tally pushes each billable model call to, from
-- a persisted cursor, at least once, with stable event ids. Times are µs since the Unix epoch.

-- One destination per project and name; see the SQLite schema for the columns. cursor: the last export_change.seq
-- fully pushed. leased_until: the collector running a pass over the sink holds it until then (renewed as the pass
-- goes, cleared when it ends); no other collector starts a pass before.
CREATE TABLE export_sink (
    project_id      text COLLATE "C" NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    name            text COLLATE "C" NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    type            text NOT NULL CHECK (type IN ('lago', 'openmeter')),
    url             text NOT NULL CHECK (url LIKE 'http://%' OR url LIKE 'https://%'),
    api_key         text,
    config          jsonb NOT NULL CHECK (jsonb_typeof(config) = 'object'),
    cursor          bigint NOT NULL DEFAULT 0,
    next_push_at    bigint NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    events_sent     bigint NOT NULL DEFAULT 0,
    requests_sent   bigint NOT NULL DEFAULT 0,
    last_success_at bigint,
    last_failure_at bigint,
    last_error      text,
    last_status     integer,
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL,
    leased_until    bigint,
    PRIMARY KEY (project_id, name)
);
CREATE INDEX export_sink_due ON export_sink (next_push_at);

-- The change log the sinks read: one row per model call written or changed in a way a bill reads, appended by the
-- triggers below while the project has a sink.
--
-- Many writers commit in any order, so a number drawn at insert time could become visible after a higher one that a
-- reader already passed. Rows are therefore inserted without a number and numbered after they committed, by
-- `PostgresStore.sequenceExportChanges` under the project's lock (one numbering at a time, each from the one
-- sequence): every row numbered later gets a larger seq than every row numbered before, so a cursor on seq skips
-- nothing.
CREATE TABLE export_change (
    project_id     text COLLATE "C" NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    seq            bigint,
    observation_id text COLLATE "C" NOT NULL,
    at             bigint NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE UNIQUE INDEX export_change_numbered ON export_change (project_id, seq);
CREATE INDEX export_change_unsequenced ON export_change (project_id, id) WHERE seq IS NULL;
CREATE SEQUENCE export_change_seq AS bigint;

-- What each sink's receiver holds for each call (the values of the last event(s) it accepted).
CREATE TABLE export_ledger (
    project_id          text COLLATE "C" NOT NULL,
    sink                text COLLATE "C" NOT NULL,
    observation_id      text COLLATE "C" NOT NULL,
    revision            bigint NOT NULL,
    subject             text NOT NULL,
    model               text NOT NULL,
    feature             text NOT NULL,
    timestamp           bigint NOT NULL,
    input_tokens        bigint NOT NULL,
    output_tokens       bigint NOT NULL,
    cache_read_tokens   bigint NOT NULL,
    cache_write_tokens  bigint NOT NULL,
    reasoning_tokens    bigint NOT NULL,
    cost_nanos          bigint NOT NULL,
    pushed_at           bigint NOT NULL,
    cache_savings_nanos bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, sink, observation_id),
    FOREIGN KEY (project_id, sink) REFERENCES export_sink(project_id, name) ON DELETE CASCADE
);

-- Calls a sink could not bill as they are, one row per call and kind while it holds.
CREATE TABLE export_issue (
    project_id     text COLLATE "C" NOT NULL,
    sink           text COLLATE "C" NOT NULL,
    observation_id text COLLATE "C" NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('correction', 'rejected', 'unattributed')),
    trace_id       text NOT NULL,
    cost_nanos     bigint NOT NULL,
    detail         jsonb NOT NULL CHECK (jsonb_typeof(detail) = 'object'),
    at             bigint NOT NULL,
    PRIMARY KEY (project_id, sink, kind, observation_id),
    FOREIGN KEY (project_id, sink) REFERENCES export_sink(project_id, name) ON DELETE CASCADE
);
CREATE INDEX export_issue_time ON export_issue (project_id, sink, kind, at DESC);

-- The change-log triggers: a model call written, changed in a column an event carries, or given new tenant shares.
-- Statement-level; while no project has a sink each costs one probe of export_sink per statement.
CREATE FUNCTION tally_now_micros() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
$$;

CREATE FUNCTION tally_export_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM export_sink) THEN
        INSERT INTO export_change (project_id, observation_id, at)
        SELECT n.project_id, n.id, tally_now_micros() FROM new_rows n
        WHERE n.type IN ('GENERATION', 'EMBEDDING')
            AND EXISTS (SELECT 1 FROM export_sink s WHERE s.project_id = n.project_id)
        ORDER BY n.project_id, n.id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION tally_export_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM export_sink) THEN
        INSERT INTO export_change (project_id, observation_id, at)
        SELECT n.project_id, n.id, tally_now_micros()
        FROM old_rows o JOIN new_rows n ON n.project_id = o.project_id AND n.id = o.id
        WHERE (o.type IN ('GENERATION', 'EMBEDDING') OR n.type IN ('GENERATION', 'EMBEDDING'))
            AND (o.type, o.tenant, o.feature, o.model, o.level, o.usage_details, o.input_tokens, o.output_tokens,
                o.total_cost_nanos, o.start_time, o.is_placeholder, o.savings_nanos, o.shared)
            IS DISTINCT FROM (n.type, n.tenant, n.feature, n.model, n.level, n.usage_details, n.input_tokens,
                n.output_tokens, n.total_cost_nanos, n.start_time, n.is_placeholder, n.savings_nanos, n.shared)
            AND EXISTS (SELECT 1 FROM export_sink s WHERE s.project_id = n.project_id)
        ORDER BY n.project_id, n.id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION tally_export_share_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM export_sink) THEN
        INSERT INTO export_change (project_id, observation_id, at)
        SELECT DISTINCT n.project_id, n.observation_id, tally_now_micros() FROM new_rows n
        WHERE EXISTS (SELECT 1 FROM export_sink s WHERE s.project_id = n.project_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER observation_export_inserted AFTER INSERT ON observation REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_export_inserted();
CREATE TRIGGER observation_export_updated AFTER UPDATE ON observation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_export_updated();
CREATE TRIGGER observation_share_export_inserted AFTER INSERT ON observation_share REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_export_share_inserted();
