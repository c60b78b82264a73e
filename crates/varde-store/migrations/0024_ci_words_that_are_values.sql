-- A CI's search words that are whole attribute values (`os` = `linux`) are
-- found in `ci_attr_values` by value, and `ci_terms` no longer repeats them
-- (ADR 0007, "Search words that are attribute values"): more than half of a
-- typical CI's words, and a fifth of a new CI's import cost on PostgreSQL
-- (BENCHMARKS.md, "Import, eleventh look"). The attribute index leads with
-- the value so that a search can ask it without an attribute's name; "os =
-- linux" is the same lookup either way round.
DELETE FROM ci_terms WHERE EXISTS (
    SELECT 1 FROM ci_attr_values a WHERE a.ci_id = ci_terms.ci_id AND a.value = ci_terms.term
);
DROP INDEX ci_attr_values_lookup;
CREATE INDEX ci_attr_values_lookup ON ci_attr_values (value, name, ci_id);
