-- The journal lines Varde writes for the desk about problems and draft
-- articles were system lines, which requesters see: they named internal
-- problems and their fixes on the requester's ticket. They are work notes
-- now (`problems::desk_note`); these are the ones written before.
UPDATE journal SET kind = 'work_note'
    WHERE kind = 'system'
    AND (body LIKE 'Linked to problem PRB%' OR body LIKE 'Problem PRB% is resolved: %'
         OR body LIKE 'Knowledge article KB% drafted from this incident');
