-- Each incident's search entry gets the reader tokens of its requester and
-- watchers: a private-use character (U+E000) and the user id, as lexemes
-- without a position, which no text or query can make
-- (search::reader_token, ADR 0018). A requester's search asks for their
-- token with the words, and the GIN index intersects the two.
UPDATE records r SET search = COALESCE(r.search, ''::tsvector) || array_to_tsvector(
        ARRAY[chr(57344) || r.requester_id] || ARRAY(SELECT chr(57344) || w.user_id FROM watchers w WHERE w.record_id = r.id))
    WHERE r.kind = 'incident';
-- The update queued an entry per row in the GIN index's pending list:
-- merge it now rather than have every search scan it (see migration 11).
SELECT gin_clean_pending_list('records_search');
