-- Business calendars (issue 3). The spec is the domain's CalendarSpec as JSON:
-- the store keeps it whole, the domain validates and compiles it. Agreement
-- targets (migration 0007) refer to calendars by id.
CREATE TABLE calendars (
    id {pk},
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX calendars_name ON calendars (name);
