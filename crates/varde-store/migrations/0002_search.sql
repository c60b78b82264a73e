-- Search keeps a requester's view of each record beside the full one, so
-- that work notes cannot be found by requesters (see incidents::reindex).
-- Records indexed before this version are listed here and rebuilt once by
-- the store when it opens, since only Rust makes the search tokens.
CREATE TABLE search_rebuild (record_id BIGINT PRIMARY KEY);
INSERT INTO search_rebuild (record_id) SELECT id FROM records;

-- People are found by a prefix of their name in any case. SQLite's LOWER
-- folds ASCII only, so the folded name is made in Rust (str::to_lowercase)
-- and stored; rows from before are folded by the store when it opens
-- (an empty key marks them: names are never empty).
ALTER TABLE users ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
CREATE INDEX users_name_key ON users (name_key);
