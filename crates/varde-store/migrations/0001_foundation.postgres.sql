-- Human numbers: a sequence per kind stays unique across any number of nodes.
CREATE SEQUENCE incident_number_seq;
-- Full-text search over the normalised tokens the domain makes
-- (varde_domain::search), so both engines match the same words.
ALTER TABLE records ADD COLUMN search tsvector;
CREATE INDEX records_search ON records USING GIN (search);
