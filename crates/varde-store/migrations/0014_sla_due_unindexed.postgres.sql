-- With `sla_due` unindexed, an incident row written without a change to an
-- indexed column (its SLA due instant, its escalation flag, counters) can be
-- written on the same page, without new index entries, if the page has room.
-- Rows already stored keep their packing until the table is rewritten
-- (VACUUM FULL); pages written from now on get the room.
ALTER TABLE incidents SET (fillfactor = 70);
