-- A recompute after a calendar change rewrites every open clock's due
-- instant, version and timer. None of those columns is indexed, so
-- PostgreSQL can write the new row version on the same page (a HOT update,
-- no new index entries in the clock's six indexes) if the page has room.
-- Pages filled to 70 % leave room for that: in a measured batch of 2,000
-- clock updates, 29 ms at 100 % became 16 ms at 70 % (13 ms at 50 %, at
-- twice the table's size; BENCHMARKS.md). Rows already stored keep their
-- packing until the table is rewritten (VACUUM FULL); new clocks get it.
ALTER TABLE sla_clocks SET (fillfactor = 70);
