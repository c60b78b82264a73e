-- Each assignment group may name a manager: the person escalations reach
-- ("notify the manager") when a service level is at risk.
ALTER TABLE assignment_groups ADD COLUMN manager_id BIGINT REFERENCES users (id);
