-- +goose Up
-- Every corpus stores embeddings as pgvector columns. Creating the extension needs a role
-- allowed to do so; scripts/setup.sh's private cluster runs as its owner.
CREATE EXTENSION IF NOT EXISTS vector;

-- +goose Down
DROP EXTENSION IF EXISTS vector;
