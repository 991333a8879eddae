-- +goose Up
-- Issue 17, search's full-text tail: a chunk's tsvector stays in the chunk's row. Under the
-- default (EXTENDED) storage, PostgreSQL moves the row's largest value out to the TOAST table
-- first, and the tsvector (1.3-1.7 kB for a Chinese chunk of CJK bigrams with positions) is
-- larger than the embedding (1 kB): so ranking a chunk read its tsvector through the TOAST
-- index, about 3 buffers a chunk, which was 80% of the full-text list's time at 100k chunks
-- (EXPLAIN ANALYZE: 5,536 matching chunks counted in 16 ms, their tsvectors read in 80 ms).
-- MAIN keeps it inline unless the row cannot fit otherwise: the embedding (EXTERNAL) and the
-- text go out first, and only the chunks' final top k read those.
--
-- This changes how rows are written from now on; rows already stored keep their layout until
-- they are rewritten (re-imported, or `VACUUM FULL chunks` at a quiet time: docs/retrieval.md).
ALTER TABLE chunks ALTER COLUMN search SET STORAGE MAIN;

-- +goose Down
ALTER TABLE chunks ALTER COLUMN search SET STORAGE EXTENDED;
