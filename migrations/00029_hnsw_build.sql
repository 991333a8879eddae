-- +goose NO TRANSACTION
-- Issue 17, recall of the vector index: the HNSW indexes are built with ef_construction 200
-- (pgvector's default is 64; m stays 16), retrieval.VectorIndexBuild. A parallel build
-- inserts in another order each time and the graph differs: at 100k generated chunks, six
-- builds at 64 gave recall@10 at ef_search 200 as low as 0.9365, and one 0.615; three at 200
-- gave 0.987 to 0.994 at ef_search 100, which every search now uses up to 100k vectors
-- (db.HNSWEfSearch), at about half the index work of 200 (docs/retrieval.md). A build takes
-- about three times as long, and a chunk's insert into an existing index costs more too.
--
-- Every HNSW index on chunks gets the parameters (a change of the catalog only), and the
-- offline embedder's, which migration 00006 made, is rebuilt now, concurrently, so that
-- searches and imports go on meanwhile. An index of another dimension (an embeddings
-- endpoint's) keeps its graph until it is rebuilt with them: REINDEX INDEX CONCURRENTLY
-- chunks_embedding_<dimension> at a quiet time. Outside a transaction, since REINDEX
-- CONCURRENTLY cannot run in one.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    idx regclass;
BEGIN
    FOR idx IN SELECT i.indexrelid::regclass FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
               WHERE i.indrelid = 'chunks'::regclass AND a.amname = 'hnsw' LOOP
        EXECUTE format('ALTER INDEX %s SET (m = 16, ef_construction = 200)', idx);
    END LOOP;
END
$$;
-- +goose StatementEnd
REINDEX INDEX CONCURRENTLY chunks_embedding_256;

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    idx regclass;
BEGIN
    FOR idx IN SELECT i.indexrelid::regclass FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
               WHERE i.indrelid = 'chunks'::regclass AND a.amname = 'hnsw' LOOP
        EXECUTE format('ALTER INDEX %s RESET (m, ef_construction)', idx);
    END LOOP;
END
$$;
-- +goose StatementEnd
REINDEX INDEX CONCURRENTLY chunks_embedding_256;
