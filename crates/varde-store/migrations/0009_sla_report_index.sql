-- The compliance report reads stopped clocks only (`stopped_at >= $n`, which
-- both engines know implies NOT NULL). Open clocks stay out of its index:
-- every recompute after a calendar change rewrites their state and elapsed
-- time, and each such row cost an index entry moved for nothing.
DROP INDEX sla_clocks_report;
CREATE INDEX sla_clocks_report ON sla_clocks (kind, stopped_at, cancelled, agreement_id, state, target_name, elapsed_us)
    WHERE stopped_at IS NOT NULL;
