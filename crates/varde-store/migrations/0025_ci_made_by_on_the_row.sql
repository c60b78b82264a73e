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
-- From each CI's first "created" line, whole.
UPDATE cis SET created_by = g.actor_id, created_record_id = g.record_id, created_import_id = g.import_id
FROM (
    SELECT ci_id, actor_id, record_id, import_id FROM ci_changes
    WHERE id IN (SELECT MIN(id) FROM ci_changes WHERE field = 'created' GROUP BY ci_id)
) AS g
WHERE g.ci_id = cis.id;
DELETE FROM ci_changes WHERE field = 'created';
