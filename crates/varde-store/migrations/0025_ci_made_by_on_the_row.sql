-- Who made a CI, and through which record or import, is kept on its row,
-- as when it was made (`created_at`) always was, instead of as a "created"
-- line in `ci_changes` (ADR 0007, "Who made a CI"). The change log reads it
-- from there as its first entry. That line was a fifth of a new CI's import
-- cost on PostgreSQL (BENCHMARKS.md, "Import, eleventh look"). The columns
-- have no foreign keys, as `ci_changes.import_id` never had: no user,
-- record or import is ever deleted, and the ids come from the session and
-- the transaction that made the CI.
ALTER TABLE cis ADD COLUMN created_by BIGINT;
ALTER TABLE cis ADD COLUMN created_record_id BIGINT;
ALTER TABLE cis ADD COLUMN created_import_id BIGINT;
UPDATE cis SET
    created_by = (SELECT MIN(g.actor_id) FROM ci_changes g WHERE g.ci_id = cis.id AND g.field = 'created'),
    created_record_id = (SELECT MIN(g.record_id) FROM ci_changes g WHERE g.ci_id = cis.id AND g.field = 'created'),
    created_import_id = (SELECT MIN(g.import_id) FROM ci_changes g WHERE g.ci_id = cis.id AND g.field = 'created')
WHERE EXISTS (SELECT 1 FROM ci_changes g WHERE g.ci_id = cis.id AND g.field = 'created');
DELETE FROM ci_changes WHERE field = 'created';
