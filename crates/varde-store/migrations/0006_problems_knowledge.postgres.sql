CREATE SEQUENCE problem_number_seq;
CREATE SEQUENCE article_number_seq;
-- A knowledge search names these kinds; the partial index keeps it off the
-- incidents' entries.
CREATE INDEX records_search_knowledge ON records USING GIN (search) WHERE kind IN ('problem', 'article');
