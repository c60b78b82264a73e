-- The queue's "breaches next" sort orders by COALESCE(sla_due, max), which
-- this index on the bare column cannot serve: neither engine ever used it
-- (measured: idx_scan 0 on PostgreSQL, a temp b-tree sort on SQLite). It
-- only cost every due-instant write an index entry, and on PostgreSQL it
-- kept those writes from being HOT (BENCHMARKS.md, tenth SLA run).
DROP INDEX incidents_sla_due;
