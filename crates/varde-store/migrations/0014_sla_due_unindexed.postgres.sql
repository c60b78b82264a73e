-- With `sla_due` unindexed, an incident row written without a change to an
-- indexed column (its SLA due instant, its escalation flag, counters) can be
-- written on its own page, without new index entries, if the page has room.
ALTER TABLE incidents SET (fillfactor = 70);
