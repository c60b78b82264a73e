-- A CI's current version is its `cis` row, valid from its `updated_at`:
-- `ci_versions` keeps only the versions a change has ended (ADR 0007, "The
-- current version is the row"). The open rows repeated the CI row, and
-- writing them was a sixth of a new CI's cost on PostgreSQL (BENCHMARKS.md,
-- "Import, eleventh look"). Where a CI's row and its open version disagree
-- on when that version began, the version says it.
UPDATE cis SET updated_at = (
    SELECT MIN(v.valid_from) FROM ci_versions v WHERE v.ci_id = cis.id AND v.valid_to = 9223372036854775807
) WHERE EXISTS (
    SELECT 1 FROM ci_versions v
    WHERE v.ci_id = cis.id AND v.valid_to = 9223372036854775807 AND v.valid_from <> cis.updated_at
);
DELETE FROM ci_versions WHERE valid_to = 9223372036854775807;
-- A list "as of" a recent instant asks for the few versions ended since:
-- without this index it walked every CI's history to find them.
CREATE INDEX ci_versions_ended ON ci_versions (valid_to, ci_id);
-- Most CIs have no owner, user, service, warranty or end of life: their
-- indexes need not list the CIs that have none (every query on them names a
-- value, which implies NOT NULL on both engines).
DROP INDEX cis_service;
CREATE UNIQUE INDEX cis_service ON cis (service_id) WHERE service_id IS NOT NULL;
DROP INDEX cis_used_by;
CREATE INDEX cis_used_by ON cis (used_by_id, id) WHERE used_by_id IS NOT NULL;
DROP INDEX cis_owner;
CREATE INDEX cis_owner ON cis (owner_id, id) WHERE owner_id IS NOT NULL;
DROP INDEX cis_end_of_life;
CREATE INDEX cis_end_of_life ON cis (end_of_life) WHERE end_of_life IS NOT NULL;
DROP INDEX cis_warranty;
CREATE INDEX cis_warranty ON cis (warranty_until) WHERE warranty_until IS NOT NULL;
