-- Live streams on several replicas: each streaming candidate names the replica that streams it
-- (owner) and how long that replica's claim holds (lease_until), renewed by its once-a-second
-- save. Start-up and a periodic sweep interrupt only candidates whose lease ran out, so a
-- replica starting never interrupts another's live streams, and a dead replica's streams end
-- as interrupted within a lease and a sweep.

-- seq is the sequence number of the candidate's last event the saved content includes, so a
-- replica that does not own a stream can follow it from the database with the owner's
-- numbering (see docs/websocket.md, "Several replicas").

-- +goose Up
ALTER TABLE candidates ADD COLUMN owner text, ADD COLUMN lease_until timestamptz, ADD COLUMN seq bigint NOT NULL DEFAULT 0;
-- Candidates left streaming before leases existed have no live owner: their lease has run out.
UPDATE candidates SET owner = '', lease_until = '-infinity' WHERE status = 'streaming';
ALTER TABLE candidates ADD CONSTRAINT candidates_streaming_leased
    CHECK (status <> 'streaming' OR (owner IS NOT NULL AND lease_until IS NOT NULL));
COMMENT ON COLUMN candidates.owner IS 'replica id of the server that streams (or last streamed) the candidate';
COMMENT ON COLUMN candidates.lease_until IS 'while streaming: the owner''s claim holds until then; NULL once finished';
COMMENT ON COLUMN candidates.seq IS 'sequence number of the last event the saved content includes (the owner''s numbering)';
-- Streaming candidates are few; the sweep finds those whose lease ran out.
DROP INDEX candidates_streaming;
CREATE INDEX candidates_streaming_lease ON candidates (lease_until) WHERE status = 'streaming';

-- +goose Down
DROP INDEX candidates_streaming_lease;
CREATE INDEX candidates_streaming ON candidates (id) WHERE status = 'streaming';
ALTER TABLE candidates DROP CONSTRAINT candidates_streaming_leased;
ALTER TABLE candidates DROP COLUMN seq, DROP COLUMN lease_until, DROP COLUMN owner;
