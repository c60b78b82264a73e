-- The attribute index and search words of CIs are derived rows: written in
-- the same transaction as the CI they describe, from the id that insert
-- returned, and CIs are never deleted (retired and disposed are statuses).
-- Their foreign keys to `cis` guard nothing the code does not already
-- guarantee, and on PostgreSQL each row paid for one: a trigger that looks
-- the CI up and locks it FOR KEY SHARE. That was a third of an import's
-- time in these two tables: 25,000 attribute rows 165 ms with the check,
-- 110 ms without; 30,000 words 166 ms and 92 ms (BENCHMARKS.md, "Import,
-- tenth look"). The history (`ci_versions`, `ci_changes`) keeps its keys:
-- it is the record of what happened, not an index of it. SQLite checks a
-- foreign key for the cost of a b-tree probe and keeps them.
ALTER TABLE ci_attr_values DROP CONSTRAINT IF EXISTS ci_attr_values_ci_id_fkey;
ALTER TABLE ci_terms DROP CONSTRAINT IF EXISTS ci_terms_ci_id_fkey;
