-- The agent's and the group's queue (assigned to me / to my group, open,
-- most urgent first) need an index that both filters and orders: with only
-- (assignee_id, is_open, id) the planner may instead walk the
-- (kind, is_open, priority, id) index in order and look up every open
-- record's row to test its assignee, which at a million incidents costs
-- tens of milliseconds per page.
CREATE INDEX records_assignee_open_priority ON records (assignee_id, is_open, priority, id);
CREATE INDEX records_group_open_priority ON records (assignment_group_id, is_open, priority, id);
