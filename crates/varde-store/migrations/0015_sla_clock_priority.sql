-- The priority a clock's target was chosen for. A stopped clock keeps its
-- target when the record's priority changes later (ADR 0009), so the
-- record's priority no longer says which target measured it; the what-if
-- replay pairs a target change with clocks by this. NULL for clocks written
-- before: the replay falls back to the record's priority, as it did.
ALTER TABLE sla_clocks ADD COLUMN priority BIGINT;
