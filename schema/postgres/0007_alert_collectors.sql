-- Alert work every collector runs, each item done once. A collector evaluates a project's rules only after it
-- claimed the interval here (an UPDATE of the project's row: one claim wins); the delivery service leases due
-- outbox rows with FOR UPDATE SKIP LOCKED and pushes their next attempt past the lease, addressing them by id.
CREATE TABLE alert_evaluation (
    project_id   text COLLATE "C" PRIMARY KEY REFERENCES project(id) ON DELETE CASCADE,
    evaluated_at bigint NOT NULL
);
CREATE UNIQUE INDEX alert_delivery_id ON alert_delivery (id);
