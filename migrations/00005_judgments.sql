-- +goose Up
-- A trainer's judgment of one turn. Each submission is one row; editing a judgment adds a
-- new revision and keeps the old. The client's idempotency key makes a retried submission
-- return the stored result instead of a duplicate.
CREATE TABLE judgments (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    turn_id                  bigint NOT NULL REFERENCES turns (id),
    trainer_id               bigint NOT NULL REFERENCES users (id),
    revision                 int NOT NULL CHECK (revision > 0),
    idempotency_key          text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 8 AND 128),
    request_hash             bytea NOT NULL, -- the submission's canonical form, to tell a retry from a different submission
    ranking                  jsonb NOT NULL, -- candidate ids, best first; ties share a group
    ratings                  jsonb NOT NULL, -- per candidate and dimension: value and the scale it was given on
    flags                    jsonb NOT NULL, -- per candidate: hallucination, unsafe, off_persona, refusal
    comment                  text NOT NULL DEFAULT '',
    edited_candidate_id      bigint REFERENCES candidates (id),
    edited_message_id        bigint REFERENCES messages (id),
    edit_diff                jsonb, -- [[op, text], …] from the candidate to the edit; op -1 delete, 0 keep, 1 insert
    gold_message_id          bigint REFERENCES messages (id),
    continuation_message_id  bigint NOT NULL REFERENCES messages (id),
    time_spent_ms            int NOT NULL CHECK (time_spent_ms >= 0),
    created_at               timestamptz NOT NULL DEFAULT now(),
    UNIQUE (trainer_id, idempotency_key),
    UNIQUE (turn_id, trainer_id, revision),
    CHECK ((edited_candidate_id IS NULL) = (edited_message_id IS NULL))
);
CREATE INDEX judgments_turn ON judgments (turn_id, trainer_id, revision DESC);

-- Preference pairs derived from a judgment in the same transaction (rlhf.Derive).
CREATE TABLE preference_pairs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    judgment_id         bigint NOT NULL REFERENCES judgments (id),
    chosen_message_id   bigint NOT NULL REFERENCES messages (id),
    rejected_message_id bigint NOT NULL REFERENCES messages (id),
    rule                text NOT NULL CHECK (rule IN ('ranking', 'edit', 'gold')),
    margin              real NOT NULL CHECK (margin >= 0),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX preference_pairs_judgment ON preference_pairs (judgment_id);

-- Training data is never edited in place: a new revision replaces a judgment.
CREATE TRIGGER judgments_append_only BEFORE UPDATE OR DELETE ON judgments
    FOR EACH ROW EXECUTE FUNCTION forbid_published_change();
CREATE TRIGGER preference_pairs_append_only BEFORE UPDATE OR DELETE ON preference_pairs
    FOR EACH ROW EXECUTE FUNCTION forbid_published_change();

-- +goose Down
DROP TABLE preference_pairs;
DROP TABLE judgments;
