-- Service level agreements, their clocks on records, warnings and in-app
-- notifications (issue 3). Calendars (migration 4) are referenced by id
-- inside an agreement's targets, without a foreign key, so this migration
-- applies whether or not the calendar tables exist yet.

-- Suppliers: the parties of underpinning contracts. An incident is "with
-- supplier X" while it is on hold awaiting a supplier and names X.
CREATE TABLE suppliers (
    id {pk},
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX suppliers_name ON suppliers (name);

ALTER TABLE incidents ADD COLUMN supplier_id BIGINT REFERENCES suppliers (id);
-- Set by an escalation action; visible on the incident.
ALTER TABLE incidents ADD COLUMN escalated BIGINT NOT NULL DEFAULT 0;
-- The earliest due instant of the record's running clocks (NULL when none
-- runs), kept with the clocks so the queue can sort by "breaches next".
ALTER TABLE incidents ADD COLUMN sla_due BIGINT;
CREATE INDEX incidents_sla_due ON incidents (sla_due, record_id);

-- One row per agreement (SLA, OLA or UC). `spec` is the agreement as JSON
-- (varde_domain::sla::agreement::AgreementSpec); name and kind are copied
-- out for listing and uniqueness.
CREATE TABLE slas (
    id {pk},
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    spec TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX slas_name ON slas (name);

-- The calendars an agreement's targets use (they sit inside `spec`), kept
-- beside it so that a calendar in use cannot be deleted.
CREATE TABLE sla_calendars (
    sla_id BIGINT NOT NULL REFERENCES slas (id),
    calendar_id BIGINT NOT NULL,
    PRIMARY KEY (sla_id, calendar_id)
);
CREATE INDEX sla_calendars_calendar ON sla_calendars (calendar_id);

-- A clock: one target of one agreement on one record. `spans` (JSON) are
-- the wall-clock spans it ran; everything else is derived from them and the
-- target's calendar, and stored for queues and reports.
CREATE TABLE sla_clocks (
    id {pk},
    record_id BIGINT NOT NULL REFERENCES records (id),
    clock_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    party_id BIGINT NOT NULL,
    target_name TEXT NOT NULL,
    agreement_id BIGINT NOT NULL REFERENCES slas (id),
    target_us BIGINT NOT NULL,
    calendar_id BIGINT,
    state TEXT NOT NULL,
    spans TEXT NOT NULL,
    running_since BIGINT,
    stopped_at BIGINT,
    cancelled BIGINT NOT NULL DEFAULT 0,
    elapsed_us BIGINT NOT NULL,
    due_at BIGINT,
    started_at BIGINT NOT NULL,
    -- Warning thresholds already fired, as a comma list of percents.
    fired TEXT NOT NULL DEFAULT '',
    version BIGINT NOT NULL DEFAULT 1,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sla_clocks_key ON sla_clocks (record_id, clock_key);
CREATE INDEX sla_clocks_agreement ON sla_clocks (agreement_id, started_at);
CREATE INDEX sla_clocks_started ON sla_clocks (started_at, id);
CREATE INDEX sla_clocks_calendar ON sla_clocks (calendar_id, id);
-- The compliance report reads only these columns of the clocks stopped in a
-- period: covered by one index, it never touches the rows (and their spans).
CREATE INDEX sla_clocks_report ON sla_clocks (kind, stopped_at, cancelled, agreement_id, state, target_name, elapsed_us);

-- Every clock event, append-only: the clock history, and what the what-if
-- simulation replays.
CREATE TABLE sla_clock_events (
    id {pk},
    clock_id BIGINT NOT NULL REFERENCES sla_clocks (id),
    record_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sla_clock_events_clock ON sla_clock_events (clock_id, id);
CREATE INDEX sla_clock_events_record ON sla_clock_events (record_id, id);

-- In-app notifications (warnings, escalations) for one person.
CREATE TABLE notifications (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES users (id),
    record_id BIGINT REFERENCES records (id),
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    dedupe_key TEXT,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_user ON notifications (user_id, read_at, id);
CREATE UNIQUE INDEX notifications_dedupe ON notifications (dedupe_key);
