-- +goose Up
-- Issue 17, ingest: chunks_document indexed (document_id, version, position), the columns
-- of chunks' own unique constraint, whose index serves the same lookups in the same order.
-- Every chunk an import wrote paid for both: about a tenth of the WAL records of a COPY of
-- chunks (27,151 -> 24,031 for 3,200 chunks, EXPLAIN (ANALYZE, WAL) on PostgreSQL 15).
DROP INDEX chunks_document;

-- Issue 17, ingest: chunks' two foreign keys were checked row by row, each chunk locking its
-- document and its corpus FOR KEY SHARE: an import's COPY names 25 documents and one corpus
-- for 200 chunks. Inserting 3,200 chunks 200 a statement (without the GIN index, whose
-- pending-list cleanups would hide it; backend CPU, three alternating runs on a busy
-- machine): 91-106 µs a chunk with the foreign keys, 72-94 with this check, 75-88 with
-- none, so the keys cost about 14 µs a chunk and the check about 3. One
-- statement-level check of the same references, taking the same locks once per row named,
-- keeps the integrity for every writer (as 00013 and 00023 did for preference pairs).
ALTER TABLE chunks
    DROP CONSTRAINT chunks_corpus_id_fkey,
    DROP CONSTRAINT chunks_document_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION check_chunk_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    document_ids bigint[];
    corpus_ids bigint[];
    seqscan text;
    found int;
    complete boolean;
BEGIN
    SELECT array_agg(DISTINCT document_id), array_agg(DISTINCT corpus_id) INTO document_ids, corpus_ids FROM new_chunks;
    IF document_ids IS NULL THEN
        RETURN NULL;
    END IF;
    -- Static statements keep their plans for the connection's life: planned with sequential
    -- scans off, so that one planned while the tables were small does not read them whole ever
    -- after (00023). The setting is put back at once.
    seqscan := current_setting('enable_seqscan');
    PERFORM set_config('enable_seqscan', 'off', true);
    -- The locks the foreign keys took: a document or corpus being deleted waits for the
    -- chunks' transaction, and its deletion then removes them (below).
    PERFORM 1 FROM documents WHERE id = ANY (document_ids) FOR KEY SHARE;
    GET DIAGNOSTICS found = ROW_COUNT;
    complete := found = cardinality(document_ids);
    IF complete THEN
        PERFORM 1 FROM corpora WHERE id = ANY (corpus_ids) FOR KEY SHARE;
        GET DIAGNOSTICS found = ROW_COUNT;
        complete := found = cardinality(corpus_ids);
    END IF;
    PERFORM set_config('enable_seqscan', seqscan, true);
    IF complete THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'a chunk names a document or corpus that does not exist'
        USING ERRCODE = 'foreign_key_violation';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER chunks_references AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS new_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION check_chunk_references();

-- A chunk never moves to another document or corpus; refusing it keeps the insert check
-- the only one needed. The WHEN clause costs updates of other columns (retiring chunks,
-- embedding them) no function call.
-- +goose StatementBegin
CREATE FUNCTION forbid_chunk_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a chunk belongs to its document and corpus for good'
        USING ERRCODE = 'MN001';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER chunks_never_move BEFORE UPDATE ON chunks
    FOR EACH ROW WHEN (OLD.document_id IS DISTINCT FROM NEW.document_id OR OLD.corpus_id IS DISTINCT FROM NEW.corpus_id)
    EXECUTE FUNCTION forbid_chunk_move();

-- ON DELETE CASCADE, as the foreign keys had it: deleting documents (or a corpus, whose
-- documents go with it) deletes their chunks.
-- +goose StatementBegin
CREATE FUNCTION delete_documents_chunks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM chunks WHERE document_id IN (SELECT id FROM gone);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION delete_corpora_chunks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM chunks WHERE corpus_id IN (SELECT id FROM gone);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER documents_delete_chunks AFTER DELETE ON documents
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION delete_documents_chunks();
CREATE TRIGGER corpora_delete_chunks AFTER DELETE ON corpora
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION delete_corpora_chunks();

-- +goose Down
DROP TRIGGER corpora_delete_chunks ON corpora;
DROP TRIGGER documents_delete_chunks ON documents;
DROP FUNCTION delete_corpora_chunks();
DROP FUNCTION delete_documents_chunks();
DROP TRIGGER chunks_never_move ON chunks;
DROP FUNCTION forbid_chunk_move();
DROP TRIGGER chunks_references ON chunks;
DROP FUNCTION check_chunk_references();
ALTER TABLE chunks
    ADD CONSTRAINT chunks_corpus_id_fkey FOREIGN KEY (corpus_id) REFERENCES corpora (id) ON DELETE CASCADE,
    ADD CONSTRAINT chunks_document_id_fkey FOREIGN KEY (document_id) REFERENCES documents (id) ON DELETE CASCADE;
CREATE INDEX chunks_document ON chunks (document_id, version, position);
