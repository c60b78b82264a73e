-- A search by the start of a word reads a range of attribute values too:
-- they compare by code point, as the search words do (migration 22).
-- Rewrites the table and its indexes once.
ALTER TABLE ci_attr_values ALTER COLUMN value TYPE TEXT COLLATE "C";
