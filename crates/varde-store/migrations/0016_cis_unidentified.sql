-- CIs without an identity: made by hand before their identifying
-- attributes were known (an ordered laptop has no serial number yet). An
-- import row that finds no CI by identity looks here, by class and name
-- (cmdb_import.rs). Only such CIs have an entry, so an import of new,
-- identified CIs writes nothing into this index.
CREATE INDEX cis_unidentified ON cis (class_id, name) WHERE identity IS NULL;
