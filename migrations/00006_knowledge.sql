-- +goose Up
-- Knowledge corpora grow document versions, chunks with embeddings and a Chinese-aware
-- full-text index, and the retrieval labels trainers give.

-- Each corpus fixes its embedder and dimension when it is created: vectors of different
-- models cannot be compared, so changing either means a new corpus.
ALTER TABLE corpora
    ADD COLUMN embedder        text NOT NULL DEFAULT 'offline-ngram-256' CHECK (btrim(embedder) <> ''),
    ADD COLUMN dimension       int NOT NULL DEFAULT 256 CHECK (dimension BETWEEN 8 AND 2000),
    ADD COLUMN chunk_tokens    int NOT NULL DEFAULT 200 CHECK (chunk_tokens BETWEEN 16 AND 4000),
    ADD COLUMN chunk_overlap   int NOT NULL DEFAULT 30 CHECK (chunk_overlap >= 0),
    ADD COLUMN embedding_error text NOT NULL DEFAULT '', -- why embedding is paused; empty when it is not
    ADD CHECK (chunk_overlap < chunk_tokens);

-- +goose StatementBegin
CREATE FUNCTION forbid_embedder_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.embedder IS DISTINCT FROM OLD.embedder OR NEW.dimension IS DISTINCT FROM OLD.dimension THEN
        RAISE EXCEPTION 'a corpus''s embedder and dimension are fixed: create a new corpus instead'
            USING ERRCODE = 'MN001';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER corpora_embedder_fixed BEFORE UPDATE ON corpora
    FOR EACH ROW EXECUTE FUNCTION forbid_embedder_change();

-- A document keeps its identity (corpus and slug) across versions; its row holds the current
-- version, and document_versions keeps every version's text, because candidates and gold
-- answers cite the chunks of the version they saw.
ALTER TABLE documents
    ADD COLUMN version      int NOT NULL DEFAULT 1 CHECK (version > 0),
    ADD COLUMN content_hash bytea, -- SHA-256 of title and body; null for documents stored before versions existed
    ADD COLUMN tags         text[] NOT NULL DEFAULT '{}',
    ADD COLUMN source       text NOT NULL DEFAULT '', -- where it was imported from: a path or an upload's file name
    ADD COLUMN updated_at   timestamptz NOT NULL DEFAULT now();

CREATE TABLE document_versions (
    document_id  bigint NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version      int NOT NULL,
    content_hash bytea NOT NULL,
    title        text NOT NULL,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, version)
);

-- Chunks are what search returns and replies cite. Chunks of old versions stay (current =
-- false) so that provenance keeps pointing at the text a reply was given.
CREATE TABLE chunks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    corpus_id    bigint NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
    document_id  bigint NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version      int NOT NULL,
    position     int NOT NULL CHECK (position >= 0),
    heading_path text[] NOT NULL DEFAULT '{}',
    text         text NOT NULL CHECK (text <> ''),
    token_count  int NOT NULL,
    tags         text[] NOT NULL DEFAULT '{}',
    current      boolean NOT NULL DEFAULT true,
    -- PostgreSQL's parsers do not segment Chinese, so the tsvector is built in Go
    -- (segment.Tokens: CJK bigrams and single characters, lowercased Latin words, with their
    -- positions) and sent as it is; queries use the 'simple' configuration to match it.
    search       tsvector NOT NULL,
    dimension    int NOT NULL,
    embedding    vector, -- null until embedded
    embedded_at  timestamptz,
    UNIQUE (document_id, version, position),
    CHECK (embedding IS NULL OR vector_dims(embedding) = dimension)
);
CREATE INDEX chunks_search ON chunks USING gin (search) WHERE current;
-- One HNSW index per dimension, on an expression cast to that dimension: a column of mixed
-- dimensions cannot carry one index. Corpora of other dimensions create theirs (see
-- retrieval.Store.CreateCorpus); queries repeat the cast and the predicate to use it.
CREATE INDEX chunks_embedding_256 ON chunks USING hnsw ((embedding::vector(256)) vector_cosine_ops)
    WHERE dimension = 256 AND current;
CREATE INDEX chunks_unembedded ON chunks (corpus_id, id) WHERE embedding IS NULL;

-- How many current chunks of a corpus hold each full-text term. Search uses it to leave out
-- terms that match most of a corpus (携带, 申报 in a customs corpus): ranking every chunk that
-- shares a common bigram with the question is what made full-text search slow, and those
-- terms say little about relevance anyway (see retrieval.SearchSQL).
CREATE TABLE corpus_terms (
    corpus_id bigint NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
    term      text NOT NULL,
    chunks    int NOT NULL,
    PRIMARY KEY (corpus_id, term)
);
CREATE INDEX chunks_document ON chunks (document_id, version, position);
-- Lets the planner search a small corpus exactly instead of through the HNSW index that all
-- corpora of a dimension share, where a filter would let few rows through.
CREATE INDEX chunks_corpus ON chunks (corpus_id) WHERE current;

-- Candidates now record chunk ids; earlier rows held document ids, which would now point at
-- the wrong text.
UPDATE candidates SET passage_ids = '{}' WHERE passage_ids <> '{}';
COMMENT ON COLUMN candidates.passage_ids IS 'chunk ids, in citation order';

-- How each prompt version fuses vector and full-text results (reciprocal rank fusion).
ALTER TABLE prompt_versions
    ADD COLUMN rrf_k         int NOT NULL DEFAULT 60 CHECK (rrf_k BETWEEN 1 AND 1000),
    ADD COLUMN vector_weight real NOT NULL DEFAULT 1 CHECK (vector_weight >= 0),
    ADD COLUMN text_weight   real NOT NULL DEFAULT 1 CHECK (text_weight >= 0),
    ADD CHECK (vector_weight + text_weight > 0);

-- A trainer's mark on one passage shown for one turn: grade 0 is irrelevant, 1 relevant,
-- 2 highly relevant (trec_eval's gain). Marks are training data, so they are never changed:
-- a trainer's latest mark on a passage is the one that counts, and an export as of an earlier
-- moment sees the marks of that moment.
CREATE TABLE relevance_marks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    turn_id    bigint NOT NULL REFERENCES turns (id),
    chunk_id   bigint NOT NULL REFERENCES chunks (id),
    trainer_id bigint NOT NULL REFERENCES users (id),
    grade      smallint NOT NULL CHECK (grade BETWEEN 0 AND 2),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX relevance_marks_latest ON relevance_marks (turn_id, trainer_id, chunk_id, id DESC);
CREATE INDEX relevance_marks_chunk ON relevance_marks (chunk_id);
CREATE TRIGGER relevance_marks_append_only BEFORE UPDATE OR DELETE ON relevance_marks
    FOR EACH ROW EXECUTE FUNCTION forbid_published_change();

-- The passages a gold answer cites, by the number the trainer wrote ([n]).
CREATE TABLE judgment_citations (
    judgment_id bigint NOT NULL REFERENCES judgments (id),
    n           int NOT NULL CHECK (n > 0),
    chunk_id    bigint NOT NULL REFERENCES chunks (id),
    PRIMARY KEY (judgment_id, n)
);
CREATE INDEX judgment_citations_chunk ON judgment_citations (chunk_id);

-- +goose Down
DROP TABLE judgment_citations;
DROP TABLE relevance_marks;
ALTER TABLE prompt_versions DROP COLUMN rrf_k, DROP COLUMN vector_weight, DROP COLUMN text_weight;
COMMENT ON COLUMN candidates.passage_ids IS NULL;
DROP TABLE corpus_terms;
DROP TABLE chunks;
DROP TABLE document_versions;
ALTER TABLE documents DROP COLUMN version, DROP COLUMN content_hash, DROP COLUMN tags, DROP COLUMN source, DROP COLUMN updated_at;
DROP TRIGGER corpora_embedder_fixed ON corpora;
DROP FUNCTION forbid_embedder_change();
ALTER TABLE corpora DROP COLUMN embedder, DROP COLUMN dimension, DROP COLUMN chunk_tokens, DROP COLUMN chunk_overlap, DROP COLUMN embedding_error;
