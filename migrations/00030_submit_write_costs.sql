-- +goose Up
-- Issue 17, judgment submit: what each judgment's write pays for that nothing needs.
--
-- messages_parent is read by no query: Mentor walks a conversation up, from a message to its
-- parent by the parent's id (messages_pkey), and lists a conversation by messages_conversation;
-- nothing asks for a message's children. The index's one other use, the parent key's check
-- when a message is deleted, cannot arise: messages are never deleted (messages_never_deleted).
-- Every message written (a turn's question, its candidates, an edit, a gold reply) paid for it.
DROP INDEX messages_parent;

-- Preference pairs are only ever read by their judgment, in id order (exports, the count
-- beside a replayed judgment), which one index on (judgment_id, id) serves as well as
-- preference_pairs_judgment did. With that index as the key, each of a judgment's nine or so
-- pairs is entered in one index instead of two. Ids still come from the identity column,
-- which nothing inserts into by hand.
ALTER TABLE preference_pairs DROP CONSTRAINT preference_pairs_pkey;
ALTER TABLE preference_pairs ADD PRIMARY KEY (judgment_id, id);
DROP INDEX preference_pairs_judgment;

-- The statement-level check of pairs' references (00013, 00023) ran four statements of its
-- own a submit: one collecting the ids, one looking them up, and two set_config calls that
-- turned sequential scans off around the lookup and back on. Each statement is set up and torn
-- down by the executor, and with the trigger's other work that was about a tenth of a submit's
-- PostgreSQL CPU (perf on the backends under BenchmarkJudgmentSubmit). Now the function's own
-- SET clause turns sequential scans off for its duration (PostgreSQL restores the setting when
-- it returns, whatever happens), and one statement collects and looks up the ids. Why scans
-- are off: PL/pgSQL keeps a statement's plan for the connection's life, and a plan made while
-- judgments and messages were small would read them whole for every submit until the next
-- ANALYZE. A bulk load (internal/bulkpairs, a million pairs in one statement) is checked by
-- the anti-join as before, with sequential scans allowed again for it alone.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION check_preference_pair_references() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    found boolean;
BEGIN
    -- true: every reference exists, or there are no pairs (a judgment of ties, a retry whose
    -- key was taken); false: one does not; NULL: too many ids to look up one by one.
    SELECT CASE
            WHEN ids.judgments IS NULL THEN true
            WHEN cardinality(ids.judgments) + cardinality(ids.messages) <= 1000 THEN
                (SELECT count(*) FROM judgments WHERE id = ANY (ids.judgments)) = cardinality(ids.judgments)
                AND (SELECT count(*) FROM messages WHERE id = ANY (ids.messages)) = cardinality(ids.messages)
        END
        INTO found
        FROM (SELECT array_agg(DISTINCT p.judgment_id) AS judgments, array_agg(DISTINCT v.m) AS messages
              FROM new_pairs p, LATERAL (VALUES (p.chosen_message_id), (p.rejected_message_id)) v (m)) ids;
    IF found THEN
        RETURN NULL;
    END IF;
    IF found IS NULL THEN
        SET LOCAL enable_seqscan = on;
        IF NOT EXISTS (SELECT 1 FROM new_pairs p
                       WHERE NOT EXISTS (SELECT 1 FROM judgments j WHERE j.id = p.judgment_id)
                          OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = p.chosen_message_id)
                          OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = p.rejected_message_id)) THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION 'a preference pair names a judgment or message that does not exist'
        USING ERRCODE = 'foreign_key_violation';
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION check_preference_pair_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    judgment_ids bigint[];
    message_ids bigint[];
    seqscan text;
    found boolean;
BEGIN
    SELECT array_agg(DISTINCT p.judgment_id), array_agg(DISTINCT m)
        INTO judgment_ids, message_ids FROM new_pairs p, LATERAL (VALUES (p.chosen_message_id), (p.rejected_message_id)) v (m);
    IF judgment_ids IS NULL THEN
        RETURN NULL; -- no pairs: a judgment of ties, or a retry whose key was taken
    END IF;
    IF cardinality(judgment_ids) + cardinality(message_ids) <= 1000 THEN
        seqscan := current_setting('enable_seqscan');
        PERFORM set_config('enable_seqscan', 'off', true);
        found := (SELECT count(*) FROM judgments WHERE id = ANY (judgment_ids)) = cardinality(judgment_ids)
           AND (SELECT count(*) FROM messages WHERE id = ANY (message_ids)) = cardinality(message_ids);
        PERFORM set_config('enable_seqscan', seqscan, true);
        IF found THEN
            RETURN NULL;
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM new_pairs p
                      WHERE NOT EXISTS (SELECT 1 FROM judgments j WHERE j.id = p.judgment_id)
                         OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = p.chosen_message_id)
                         OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = p.rejected_message_id)) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'a preference pair names a judgment or message that does not exist'
        USING ERRCODE = 'foreign_key_violation';
END;
$$;
-- +goose StatementEnd
ALTER TABLE preference_pairs DROP CONSTRAINT preference_pairs_pkey;
ALTER TABLE preference_pairs ADD PRIMARY KEY (id);
CREATE INDEX preference_pairs_judgment ON preference_pairs (judgment_id);
CREATE INDEX messages_parent ON messages (parent_id);
