-- Issue 16 part B: webhooks per project, the page each chunk of a PDF starts on, and Excel
-- as an export encoding.

-- +goose Up
ALTER TABLE dataset_snapshots DROP CONSTRAINT dataset_snapshots_encoding_check,
    ADD CONSTRAINT dataset_snapshots_encoding_check CHECK (encoding IN ('jsonl', 'jsonl.gz', 'parquet', 'xlsx'));

-- Chunks of a document with pages (an imported PDF) cite the page they start on.
ALTER TABLE chunks ADD COLUMN page int CHECK (page > 0);
COMMENT ON COLUMN chunks.page IS 'the page the chunk starts on, counted from 1; NULL for documents without pages';

-- An endpoint that a project's events are delivered to. The signing secret is stored
-- encrypted (AES-256-GCM with MENTOR_WEBHOOK_KEY, the row id as additional data): every
-- delivery needs it to sign, so it cannot be hashed.
CREATE TABLE webhooks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id    bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url           text NOT NULL CHECK (url ~ '^https?://'),
    events        text[] NOT NULL CHECK (cardinality(events) > 0),
    description   text NOT NULL DEFAULT '',
    secret_sealed bytea NOT NULL,
    created_by    bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Failed attempts since the last success; at 50 the endpoint is paused and nothing is
    -- sent to it until someone resumes it.
    failures      int NOT NULL DEFAULT 0 CHECK (failures >= 0),
    paused_at     timestamptz
);
CREATE INDEX webhooks_project ON webhooks (project_id);

-- One event for one endpoint. status: pending (queued or waiting to retry), delivered,
-- failed (gave up after a day of retries), paused (not sent: the endpoint was paused).
CREATE TABLE webhook_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id   bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event        text NOT NULL,
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'paused')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id DESC);

-- Every attempt of a delivery, for the delivery log: the status code, or why there was none.
CREATE TABLE webhook_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL,
    status_code  int,
    error        text NOT NULL DEFAULT '',
    duration_ms  int NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
ALTER TABLE chunks DROP COLUMN page;
DELETE FROM dataset_snapshots WHERE encoding = 'xlsx';
ALTER TABLE dataset_snapshots DROP CONSTRAINT dataset_snapshots_encoding_check,
    ADD CONSTRAINT dataset_snapshots_encoding_check CHECK (encoding IN ('jsonl', 'jsonl.gz', 'parquet'));
