-- Problem management, known errors, knowledge articles and recurring-incident
-- candidates (ADR 0008). Problems and articles are records on the kernel
-- (kind 'problem' / 'article'); these tables hold what only they have.

CREATE TABLE problems (
    record_id BIGINT PRIMARY KEY REFERENCES records (id),
    service_id BIGINT REFERENCES services (id),
    category_id BIGINT REFERENCES categories (id),
    root_cause TEXT,
    rca_method TEXT,
    contributing_factors TEXT,
    workaround TEXT,
    permanent_fix TEXT
);
CREATE INDEX problems_service ON problems (service_id, record_id);

-- The version readers see (published_version) is kept apart from the one
-- being written (current_version): editing a published article does not
-- take it away from readers while the new text waits for review.
CREATE TABLE articles (
    record_id BIGINT PRIMARY KEY REFERENCES records (id),
    category_id BIGINT REFERENCES categories (id),
    service_id BIGINT REFERENCES services (id),
    audience TEXT NOT NULL,
    review_required BIGINT NOT NULL DEFAULT 1,
    current_version BIGINT NOT NULL,
    published_version BIGINT,
    published_at BIGINT,
    review_at BIGINT,
    expires_at BIGINT,
    views BIGINT NOT NULL DEFAULT 0,
    helpful_yes BIGINT NOT NULL DEFAULT 0,
    helpful_no BIGINT NOT NULL DEFAULT 0,
    source_incident_id BIGINT REFERENCES records (id)
);
CREATE INDEX articles_audience ON articles (audience, record_id);

CREATE TABLE article_versions (
    record_id BIGINT NOT NULL REFERENCES records (id),
    version_no BIGINT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    author_id BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (record_id, version_no)
);

-- Restricted articles are read by members of these groups.
CREATE TABLE article_groups (
    record_id BIGINT NOT NULL REFERENCES records (id),
    group_id BIGINT NOT NULL REFERENCES assignment_groups (id),
    PRIMARY KEY (record_id, group_id)
);

CREATE TABLE article_feedback (
    id {pk},
    record_id BIGINT NOT NULL REFERENCES records (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    helpful BIGINT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX article_feedback_record ON article_feedback (record_id, id);

-- A requester who found their answer in the portal and did not file.
CREATE TABLE deflections (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES users (id),
    article_id BIGINT NOT NULL REFERENCES records (id),
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX deflections_at ON deflections (created_at);

-- Groups of similar incidents proposed as problems; decided ones are kept
-- so that a rejected group is not proposed again.
CREATE TABLE problem_candidates (
    id {pk},
    group_key TEXT NOT NULL,
    service_id BIGINT,
    category_id BIGINT,
    terms TEXT NOT NULL,
    cohesion BIGINT NOT NULL,
    state TEXT NOT NULL,
    problem_id BIGINT REFERENCES records (id),
    created_at BIGINT NOT NULL,
    decided_by BIGINT REFERENCES users (id),
    decided_at BIGINT
);
CREATE INDEX problem_candidates_state ON problem_candidates (state, id);

CREATE TABLE problem_candidate_incidents (
    candidate_id BIGINT NOT NULL REFERENCES problem_candidates (id),
    incident_id BIGINT NOT NULL REFERENCES records (id),
    PRIMARY KEY (candidate_id, incident_id)
);
CREATE INDEX problem_candidate_incidents_incident ON problem_candidate_incidents (incident_id);

-- Links are read from both ends by kind (incidents of a problem).
CREATE INDEX record_links_to_kind ON record_links (to_id, kind, from_id);

-- Search documents now carry stems (ADR 0012): rebuild every record once.
INSERT INTO search_rebuild (record_id) SELECT id FROM records WHERE id NOT IN (SELECT record_id FROM search_rebuild);
