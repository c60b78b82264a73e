-- Search keeps a requester's view of each record beside the full one, so
-- that work notes cannot be found by requesters (see incidents::reindex).
-- Records indexed before this version are listed here and rebuilt once by
-- the store when it opens, since only Rust makes the search tokens.
CREATE TABLE search_rebuild (record_id BIGINT PRIMARY KEY);
INSERT INTO search_rebuild (record_id) SELECT id FROM records;
