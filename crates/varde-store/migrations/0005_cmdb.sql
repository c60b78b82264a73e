-- Configuration management: CI classes, CIs, their relations, and history.
-- Versions of CIs and relations carry validity intervals [valid_from,
-- valid_to) in microseconds; the current one has valid_to =
-- 9223372036854775807 (never), so "as of T" is an index range
-- (valid_from <= T < valid_to) on both engines. Nothing in the history
-- tables is updated except to close an interval.

CREATE TABLE ci_classes (
    id {pk},
    name TEXT NOT NULL,
    parent_id BIGINT REFERENCES ci_classes (id),
    description TEXT NOT NULL DEFAULT '',
    -- The class's own attribute definitions, a JSON array (see
    -- varde_domain::cmdb::AttributeDef); subclasses inherit them.
    attributes TEXT NOT NULL DEFAULT '[]',
    -- Identification rule for reconciliation: attribute names, comma
    -- separated; empty means the CI's name.
    identify_by TEXT NOT NULL DEFAULT '',
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ci_classes_name ON ci_classes (name);

CREATE TABLE cis (
    id {pk},
    class_id BIGINT NOT NULL REFERENCES ci_classes (id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    owner_id BIGINT REFERENCES users (id),
    location_id BIGINT REFERENCES cis (id),
    supplier_id BIGINT REFERENCES cis (id),
    -- In minor units (cents).
    cost BIGINT,
    purchased_on TEXT,
    warranty_until TEXT,
    end_of_life TEXT,
    used_by_id BIGINT REFERENCES users (id),
    organisation_id BIGINT REFERENCES organisations (id),
    attributes TEXT NOT NULL DEFAULT '{}',
    -- The class's identification key ("<root class>|v1|v2"), unique, so a
    -- re-import finds the CI it made before.
    identity TEXT,
    -- The foundation's service this CI stands for, if it is one.
    service_id BIGINT REFERENCES services (id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX cis_class ON cis (class_id, id);
CREATE INDEX cis_status ON cis (status, id);
CREATE UNIQUE INDEX cis_identity ON cis (identity);
CREATE UNIQUE INDEX cis_service ON cis (service_id);
CREATE INDEX cis_used_by ON cis (used_by_id, id);
CREATE INDEX cis_owner ON cis (owner_id, id);
CREATE INDEX cis_end_of_life ON cis (end_of_life);
CREATE INDEX cis_warranty ON cis (warranty_until);

-- The attribute index: one row per indexed (CI, attribute) value, in the
-- normalised text form, so "class X with os = linux" is an index range
-- ordered by CI id on both engines.
CREATE TABLE ci_attr_values (
    ci_id BIGINT NOT NULL REFERENCES cis (id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (ci_id, name)
);
CREATE INDEX ci_attr_values_lookup ON ci_attr_values (name, value, ci_id);

-- Words of names and attribute values, for q= text search; the same
-- tokens on both engines (varde_domain::search).
CREATE TABLE ci_terms (
    term TEXT NOT NULL,
    ci_id BIGINT NOT NULL REFERENCES cis (id),
    PRIMARY KEY (term, ci_id)
);
CREATE INDEX ci_terms_ci ON ci_terms (ci_id);

-- Every version of every CI: the whole CI as JSON, valid in [valid_from, valid_to).
CREATE TABLE ci_versions (
    ci_id BIGINT NOT NULL REFERENCES cis (id),
    version BIGINT NOT NULL,
    class_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_to BIGINT NOT NULL,
    PRIMARY KEY (ci_id, version)
);
CREATE INDEX ci_versions_at ON ci_versions (ci_id, valid_to, valid_from);

-- Relations, never deleted: ending one closes its interval.
CREATE TABLE ci_relations (
    id {pk},
    from_id BIGINT NOT NULL REFERENCES cis (id),
    to_id BIGINT NOT NULL REFERENCES cis (id),
    kind TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}',
    valid_from BIGINT NOT NULL,
    valid_to BIGINT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    ended_by BIGINT REFERENCES users (id)
);
-- Covering indexes for both directions of the impact walk.
CREATE INDEX ci_relations_from ON ci_relations (from_id, valid_to, valid_from, kind, to_id);
CREATE INDEX ci_relations_to ON ci_relations (to_id, valid_to, valid_from, kind, from_id);

-- The change log of CIs: who changed which field when, from what to what,
-- and through which record (an incident, a change) if any. Append-only.
CREATE TABLE ci_changes (
    id {pk},
    ci_id BIGINT NOT NULL REFERENCES cis (id),
    at BIGINT NOT NULL,
    actor_id BIGINT REFERENCES users (id),
    record_id BIGINT REFERENCES records (id),
    import_id BIGINT,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX ci_changes_ci ON ci_changes (ci_id, id);

-- Records (incidents now; problems and changes later) and the CIs they affect.
CREATE TABLE record_cis (
    record_id BIGINT NOT NULL REFERENCES records (id),
    ci_id BIGINT NOT NULL REFERENCES cis (id),
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (record_id, ci_id)
);
CREATE INDEX record_cis_ci ON record_cis (ci_id, record_id);

CREATE TABLE ci_imports (
    id {pk},
    source TEXT NOT NULL,
    format TEXT NOT NULL,
    actor_id BIGINT REFERENCES users (id),
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    relations BIGINT NOT NULL,
    at BIGINT NOT NULL
);

-- Leaver checklists: what a person must hand back.
CREATE TABLE ci_checklists (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX ci_checklists_user ON ci_checklists (user_id, id);
CREATE TABLE ci_checklist_items (
    id {pk},
    checklist_id BIGINT NOT NULL REFERENCES ci_checklists (id),
    ci_id BIGINT NOT NULL REFERENCES cis (id),
    done_at BIGINT,
    done_by BIGINT REFERENCES users (id),
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ci_checklist_items_list ON ci_checklist_items (checklist_id, id);

-- The default classes. Parents first; ids are looked up by name so the
-- engines' numbering does not matter.
INSERT INTO ci_classes (name, parent_id, description, attributes, identify_by, created_at, updated_at) VALUES
    ('Hardware', NULL, 'Physical equipment', '[{"name":"serial_number","label":"Serial number","kind":"text","unique":true},{"name":"manufacturer","label":"Manufacturer","kind":"text"},{"name":"model","label":"Model","kind":"text"},{"name":"asset_tag","label":"Asset tag","kind":"text","unique":true}]', 'serial_number', 0, 0),
    ('Software', NULL, 'Programs and their installations', '[{"name":"vendor","label":"Vendor","kind":"text"},{"name":"version","label":"Version","kind":"text"}]', '', 0, 0),
    ('Service', NULL, 'What the provider delivers to its customers', '[{"name":"criticality","label":"Criticality","kind":"enum","values":["low","medium","high","critical"]}]', '', 0, 0),
    ('Database', NULL, 'Database instances', '[{"name":"engine","label":"Engine","kind":"text"},{"name":"hostname","label":"Host name","kind":"text"},{"name":"port","label":"Port","kind":"number"}]', '', 0, 0),
    ('Location', NULL, 'Sites, buildings, rooms', '[{"name":"address","label":"Address","kind":"text"}]', '', 0, 0),
    ('Supplier', NULL, 'Vendors and support partners', '[{"name":"website","label":"Web site","kind":"text"}]', '', 0, 0),
    ('Contract', NULL, 'Support, lease and licence contracts', '[{"name":"contract_number","label":"Contract number","kind":"text"},{"name":"expires_on","label":"Expires on","kind":"date"}]', '', 0, 0);
INSERT INTO ci_classes (name, parent_id, description, attributes, identify_by, created_at, updated_at)
    SELECT 'Computer', id, 'Computers of every kind', '[{"name":"hostname","label":"Host name","kind":"text"},{"name":"domain","label":"Domain","kind":"text"},{"name":"os","label":"Operating system","kind":"text"},{"name":"ip_address","label":"IP address","kind":"ip"},{"name":"mac_address","label":"MAC address","kind":"mac"},{"name":"ram_gb","label":"Memory (GB)","kind":"number"}]', 'serial_number', 0, 0 FROM ci_classes WHERE name = 'Hardware';
INSERT INTO ci_classes (name, parent_id, description, attributes, identify_by, created_at, updated_at)
    SELECT 'Network device', id, 'Switches, routers, firewalls', '[{"name":"ip_address","label":"IP address","kind":"ip"},{"name":"mac_address","label":"MAC address","kind":"mac"}]', 'serial_number', 0, 0 FROM ci_classes WHERE name = 'Hardware';
INSERT INTO ci_classes (name, parent_id, description, attributes, identify_by, created_at, updated_at)
    SELECT 'Laptop', id, 'Portable computers handed to people', '[]', 'serial_number', 0, 0 FROM ci_classes WHERE name = 'Computer';
INSERT INTO ci_classes (name, parent_id, description, attributes, identify_by, created_at, updated_at)
    SELECT 'Server', id, 'Servers, physical or virtual', '[]', 'hostname,domain', 0, 0 FROM ci_classes WHERE name = 'Computer';
INSERT INTO ci_classes (name, parent_id, description, attributes, identify_by, created_at, updated_at)
    SELECT 'Application', id, 'Applications the services are made of', '[]', '', 0, 0 FROM ci_classes WHERE name = 'Software';
INSERT INTO ci_classes (name, parent_id, description, attributes, identify_by, created_at, updated_at)
    SELECT 'Business service', id, 'Services customers see', '[]', '', 0, 0 FROM ci_classes WHERE name = 'Service';
INSERT INTO ci_classes (name, parent_id, description, attributes, identify_by, created_at, updated_at)
    SELECT 'Technical service', id, 'Services other services are built on', '[]', '', 0, 0 FROM ci_classes WHERE name = 'Service';

-- The foundation's services become CIs of the Service class (deployed).
-- Their search words and attribute index are written by the store when it
-- opens (ci_reindex lists them), since only Rust makes the search tokens.
INSERT INTO cis (class_id, name, status, attributes, identity, service_id, version, created_at, updated_at)
    SELECT c.id, s.name, 'deployed', '{}', 'Service|' || LOWER(s.name), s.id, 1, s.created_at, s.created_at
    FROM services s, ci_classes c WHERE c.name = 'Service';
CREATE TABLE ci_reindex (ci_id BIGINT PRIMARY KEY);
INSERT INTO ci_reindex (ci_id) SELECT id FROM cis;
