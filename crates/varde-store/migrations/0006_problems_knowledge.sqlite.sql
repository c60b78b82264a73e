INSERT INTO counters (name, value) VALUES ('problem', 0);
INSERT INTO counters (name, value) VALUES ('article', 0);
-- Problems and articles are searched in their own FTS5 table, so that a
-- knowledge search is not driven through a million incidents' entries.
-- Like record_search: rowid = record id for the desk's document, the
-- negated id for what a requester may find.
CREATE VIRTUAL TABLE knowledge_search USING fts5 (document, tokenize = 'unicode61 remove_diacritics 0');
