-- Migration 17 made the desk's journal lines about problems and drafted
-- articles work notes, but their records' search entries were built while
-- those lines were system lines, which search leaves out: an agent found
-- them only after the record's next write. Rebuild those records' entries
-- at the next start (`Store::rebuild_search`).
INSERT INTO search_rebuild (record_id)
    SELECT DISTINCT record_id FROM journal
    WHERE kind = 'work_note'
    AND (body LIKE 'Linked to problem PRB%' OR body LIKE 'Problem PRB% is resolved: %'
         OR body LIKE 'Knowledge article KB% drafted from this incident')
    AND record_id NOT IN (SELECT record_id FROM search_rebuild);
