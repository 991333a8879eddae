-- Issue 17, recall of the vector index: an HNSW build is poor by chance about one time in
-- four, and some questions then find none of their nearest chunks (docs/retrieval.md,
-- "Recall of the vector index"). retrieval.Store's
-- RepairVectorIndex measures each index's recall@10 on the latest questions trainers asked of
-- it and rebuilds it while that is below 0.95; every check is kept here, so that what the index
-- found, and whether it was rebuilt, can be read after the fact.

-- +goose Up
CREATE TABLE vector_index_checks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dimension  int NOT NULL CHECK (dimension > 0),
    checked_at timestamptz NOT NULL DEFAULT now(),
    vectors    int NOT NULL CHECK (vectors >= 0),
    questions  int NOT NULL CHECK (questions >= 0),
    recall     float8 NOT NULL CHECK (recall BETWEEN 0 AND 1),
    none_found int NOT NULL CHECK (none_found BETWEEN 0 AND questions),
    -- The recall was below the policy's and the index was rebuilt after the check.
    rebuilt    boolean NOT NULL
);
CREATE INDEX vector_index_checks_dimension ON vector_index_checks (dimension, checked_at DESC);

-- +goose Down
DROP TABLE vector_index_checks;
