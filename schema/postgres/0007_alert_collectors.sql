-- Background work every collector runs, each item done once. Periodic tasks (a project's alert evaluation,
-- retention, planner statistics) run on the collector that claims the period here: an upsert that only takes a row
-- claimed longer ago than the period, so one claim wins. The delivery service leases due outbox rows with FOR
-- UPDATE SKIP LOCKED and pushes their next attempt past the lease, addressing them by id.
CREATE TABLE work_claim (
    task       text COLLATE "C" PRIMARY KEY,
    claimed_at bigint NOT NULL
);
CREATE UNIQUE INDEX alert_delivery_id ON alert_delivery (id);
