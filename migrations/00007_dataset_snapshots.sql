-- +goose Up
-- A dataset snapshot records one export: what was asked for (format, kind, filter, split) and
-- the moment it was taken (as_of), so the same files can be produced again byte for byte,
-- and what came out (row count, each file's SHA-256, the manifest).
CREATE TABLE dataset_snapshots (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES projects (id),
    format          text NOT NULL CHECK (btrim(format) <> ''),
    kind            text NOT NULL,
    encoding        text NOT NULL CHECK (encoding IN ('jsonl', 'jsonl.gz', 'parquet')),
    filter          jsonb NOT NULL,
    seed            bigint NOT NULL,
    test_fraction   double precision NOT NULL CHECK (test_fraction >= 0 AND test_fraction < 1),
    as_of           timestamptz NOT NULL,
    row_count       bigint NOT NULL CHECK (row_count >= 0),
    file_sha256     jsonb NOT NULL, -- file name -> hex SHA-256
    manifest        jsonb NOT NULL,
    created_by      bigint REFERENCES users (id), -- null when the CLI exported
    creator         text NOT NULL,                -- a login, or cli:<os user>
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dataset_snapshots_project ON dataset_snapshots (project_id, created_at DESC);

-- +goose Down
DROP TABLE dataset_snapshots;
