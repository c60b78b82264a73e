-- Problems and articles get a search table of their own on PostgreSQL, as
-- they have on SQLite (the FTS5 table knowledge_search): a knowledge search
-- then reads a GIN index of tens of thousands of entries instead of one it
-- shares with a million incidents (ADR 0017). Weight A marks what a
-- requester may find, D the rest, as in records.search.
CREATE TABLE knowledge_search (
    record_id BIGINT PRIMARY KEY REFERENCES records (id),
    search TSVECTOR NOT NULL
);
INSERT INTO knowledge_search (record_id, search)
    SELECT id, search FROM records WHERE kind IN ('problem', 'article') AND search IS NOT NULL;
-- Without fastupdate: new entries go into the index at once instead of a
-- pending list (up to 4 MB) that every search scans until vacuum merges it.
-- Knowledge is written rarely; the dearer insert does not matter.
CREATE INDEX knowledge_search_words ON knowledge_search USING GIN (search) WITH (fastupdate = off);
-- records.search is the incidents' alone from now on.
UPDATE records SET search = NULL WHERE kind IN ('problem', 'article');
DROP INDEX records_search_knowledge;
-- The update queued an entry per row in the GIN index's pending list, which
-- every incident search would scan until autovacuum merged it: merge it now.
SELECT gin_clean_pending_list('records_search');
