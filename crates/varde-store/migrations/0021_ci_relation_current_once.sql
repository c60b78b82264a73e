-- A relation (from, to, kind) is current at most once. Writers checked
-- first and then inserted, which two writers at once on PostgreSQL could
-- both pass: the relation was then current twice, and ending one left the
-- other in the impact walk while the user believed it gone. Any such
-- second copy is closed where it opened (an empty interval: the relation
-- it copies was current all along), then the index holds the rule.
UPDATE ci_relations SET valid_to = valid_from
    WHERE valid_to = 9223372036854775807
    AND EXISTS (
        SELECT 1 FROM ci_relations o
        WHERE o.from_id = ci_relations.from_id AND o.to_id = ci_relations.to_id AND o.kind = ci_relations.kind
        AND o.valid_to = 9223372036854775807 AND o.id < ci_relations.id
    );
CREATE UNIQUE INDEX ci_relations_current ON ci_relations (from_id, to_id, kind) WHERE valid_to = 9223372036854775807;
