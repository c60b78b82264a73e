-- Human numbers: SQLite has one writer, so a counter row is enough.
CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO counters (name, value) VALUES ('incident', 0);
-- Full-text search over the normalised tokens the domain makes
-- (varde_domain::search), so both engines match the same words.
CREATE VIRTUAL TABLE record_search USING fts5 (document, tokenize = 'unicode61 remove_diacritics 0');
