-- A CI identified by two or more attributes now escapes `|` and `\` in
-- each value of its key (`cmdb::identity_of`), so that ("a|b", "c") and
-- ("a", "b|c") are two CIs. Keys of one value or of a name are unchanged.
-- The keys that may change are those with a `\` or with three or more
-- `|` (a value holding `|`); the store re-keys them at start
-- (`cmdb_reindex`), where the Rust rule is.
INSERT INTO ci_reindex (ci_id)
    SELECT id FROM cis
    WHERE identity IS NOT NULL
    AND (identity LIKE '%|%|%|%' OR REPLACE(identity, '\', '') <> identity)
    AND id NOT IN (SELECT ci_id FROM ci_reindex);
-- Their old keys go first: one CI's new key can be another's old one
-- (("a|b", "c") becomes `a\|b|c`, which ("a\", "b|c") was), and the
-- re-keying, one CI after another, would meet it in the unique index.
UPDATE cis SET identity = NULL
    WHERE identity IS NOT NULL
    AND (identity LIKE '%|%|%|%' OR REPLACE(identity, '\', '') <> identity);
