-- A CI search finds the words a typed word begins ("pay" finds "payroll")
-- by an index range: the words from "pay" up to "paz". That holds when the
-- words compare by code point, as SQLite's do; under a language's collation
-- (a database made with en_US.UTF-8, say) other words can fall inside the
-- range or outside it. The search words are lower-cased tokens with no
-- order of their own to keep, so they compare as bytes. Rewrites the table
-- and its indexes once.
ALTER TABLE ci_terms ALTER COLUMN term TYPE TEXT COLLATE "C";
