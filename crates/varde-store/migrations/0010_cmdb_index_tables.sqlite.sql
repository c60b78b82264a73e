-- The CMDB's attribute index and search words as clustered tables
-- (WITHOUT ROWID) on SQLite: a row is then stored once, in its primary key's
-- b-tree, instead of in a rowid table plus a primary-key index. An import
-- writes about a dozen such rows per new CI; this takes one b-tree insert
-- off each (BENCHMARKS.md, CMDB import). PostgreSQL has no such tables.
CREATE TABLE ci_attr_values_clustered (
    ci_id BIGINT NOT NULL REFERENCES cis (id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (ci_id, name)
) WITHOUT ROWID;
INSERT INTO ci_attr_values_clustered (ci_id, name, value) SELECT ci_id, name, value FROM ci_attr_values;
DROP TABLE ci_attr_values;
ALTER TABLE ci_attr_values_clustered RENAME TO ci_attr_values;
CREATE INDEX ci_attr_values_lookup ON ci_attr_values (name, value, ci_id);
CREATE TABLE ci_terms_clustered (
    term TEXT NOT NULL,
    ci_id BIGINT NOT NULL REFERENCES cis (id),
    PRIMARY KEY (term, ci_id)
) WITHOUT ROWID;
INSERT INTO ci_terms_clustered (term, ci_id) SELECT term, ci_id FROM ci_terms;
DROP TABLE ci_terms;
ALTER TABLE ci_terms_clustered RENAME TO ci_terms;
CREATE INDEX ci_terms_ci ON ci_terms (ci_id);
