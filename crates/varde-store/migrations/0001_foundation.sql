-- Varde foundation: people, access, catalogue basics, the record kernel,
-- incidents, jobs and idempotency. Instants are BIGINT microseconds since
-- the Unix epoch, UTC. Booleans are BIGINT 0/1 (portable across engines).

CREATE TABLE organisations (
    id {pk},
    name TEXT NOT NULL,
    parent_id BIGINT REFERENCES organisations (id),
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX organisations_name ON organisations (name);

CREATE TABLE users (
    id {pk},
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    organisation_id BIGINT REFERENCES organisations (id),
    password_hash TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE assignment_groups (
    id {pk},
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX assignment_groups_name ON assignment_groups (name);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES assignment_groups (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (token_hash);

CREATE TABLE services (
    id {pk},
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX services_name ON services (name);

-- parent_id 0 is the root, so that (parent_id, name) can be unique on both engines.
CREATE TABLE categories (
    id {pk},
    parent_id BIGINT NOT NULL DEFAULT 0,
    name TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX categories_parent_name ON categories (parent_id, name);

CREATE TABLE priority_matrix (
    impact BIGINT NOT NULL,
    urgency BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    PRIMARY KEY (impact, urgency)
);
INSERT INTO priority_matrix (impact, urgency, priority) VALUES
    (1, 1, 1), (1, 2, 2), (1, 3, 3),
    (2, 1, 2), (2, 2, 3), (2, 3, 4),
    (3, 1, 3), (3, 2, 4), (3, 3, 5);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO settings (key, value) VALUES ('auto_close_days', '5');

-- The record kernel: what every record type shares.
CREATE TABLE records (
    id {pk},
    kind TEXT NOT NULL,
    number TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    state TEXT NOT NULL,
    is_open BIGINT NOT NULL,
    short_description TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    requester_id BIGINT NOT NULL REFERENCES users (id),
    created_by BIGINT NOT NULL REFERENCES users (id),
    assignment_group_id BIGINT REFERENCES assignment_groups (id),
    assignee_id BIGINT REFERENCES users (id),
    priority BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    closed_at BIGINT
);
CREATE UNIQUE INDEX records_number ON records (number);
-- Indexes that match the queues: each ends in id for keyset pagination.
CREATE INDEX records_kind_open ON records (kind, is_open, id);
CREATE INDEX records_kind_open_priority ON records (kind, is_open, priority, id);
CREATE INDEX records_kind_updated ON records (kind, updated_at, id);
CREATE INDEX records_group_open ON records (assignment_group_id, is_open, id);
CREATE INDEX records_assignee_open ON records (assignee_id, is_open, id);
CREATE INDEX records_requester ON records (requester_id, id);
CREATE INDEX records_state ON records (kind, state, id);

CREATE TABLE incidents (
    record_id BIGINT PRIMARY KEY REFERENCES records (id),
    impact BIGINT NOT NULL,
    urgency BIGINT NOT NULL,
    category_id BIGINT REFERENCES categories (id),
    service_id BIGINT REFERENCES services (id),
    hold_reason TEXT,
    resolution_code TEXT,
    resolution_notes TEXT,
    reopen_count BIGINT NOT NULL DEFAULT 0,
    reassignment_count BIGINT NOT NULL DEFAULT 0,
    first_contact BIGINT NOT NULL DEFAULT 0,
    major BIGINT NOT NULL DEFAULT 0,
    channel TEXT NOT NULL
);
CREATE INDEX incidents_service ON incidents (service_id, record_id);
CREATE INDEX incidents_category ON incidents (category_id, record_id);

CREATE TABLE journal (
    id {pk},
    record_id BIGINT NOT NULL REFERENCES records (id),
    author_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX journal_record ON journal (record_id, id);

CREATE TABLE attachments (
    id {pk},
    record_id BIGINT NOT NULL REFERENCES records (id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    data {blob} NOT NULL,
    uploaded_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_record ON attachments (record_id, id);

CREATE TABLE record_links (
    id {pk},
    from_id BIGINT NOT NULL REFERENCES records (id),
    to_id BIGINT NOT NULL REFERENCES records (id),
    kind TEXT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX record_links_unique ON record_links (from_id, to_id, kind);
CREATE INDEX record_links_to ON record_links (to_id);

-- Watchers follow a record; a requester who watches one may also read it
-- (this is how a record is shared).
CREATE TABLE watchers (
    record_id BIGINT NOT NULL REFERENCES records (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (record_id, user_id)
);
CREATE INDEX watchers_user ON watchers (user_id, record_id);

-- Append-only: nothing here is ever updated or deleted.
CREATE TABLE audit (
    id {pk},
    entity TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    actor_id BIGINT,
    at BIGINT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX audit_entity ON audit (entity, entity_id, id);

CREATE TABLE saved_filters (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX saved_filters_user_name ON saved_filters (user_id, name);

CREATE TABLE idempotency (
    user_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    location TEXT,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE jobs (
    id {pk},
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    locked_by TEXT,
    last_error TEXT,
    dedupe_key TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at);
CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key);
