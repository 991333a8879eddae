-- +goose Up
-- Preference pairs are written nine or so at a time, in the statement that writes their
-- judgment (rlhf.Submit). Their three foreign keys were checked row by row: 27 trigger calls,
-- each locking its referenced row FOR KEY SHARE, were three quarters of the insert's time
-- (0.24 of 0.31 ms for 9 rows, EXPLAIN ANALYZE on PostgreSQL 15; issue 17). One
-- statement-level check of the same references keeps the integrity for every writer, and
-- costs one trigger call per statement.
--
-- A foreign key also stops the referenced row from being deleted. Judgments already refuse
-- deletion (judgments_append_only); messages are now refused it too, which Mentor never does:
-- a message is a conversation's history and a training row's text.
ALTER TABLE preference_pairs
    DROP CONSTRAINT preference_pairs_judgment_id_fkey,
    DROP CONSTRAINT preference_pairs_chosen_message_id_fkey,
    DROP CONSTRAINT preference_pairs_rejected_message_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION check_preference_pair_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    judgments_named bigint;
    messages_named bigint;
    found boolean;
BEGIN
    SELECT count(DISTINCT judgment_id) INTO judgments_named FROM new_pairs;
    SELECT count(*) INTO messages_named FROM (SELECT chosen_message_id FROM new_pairs UNION SELECT rejected_message_id FROM new_pairs) m;
    -- PL/pgSQL keeps each static statement's plan for the connection's life, so a lookup
    -- planned while a table was small scans it whole ever after (seen: two sequential scans
    -- of messages and one of judgments a submit, while a benchmark filled them). EXECUTE
    -- plans each time, on the tables as they are: two index lookups by id. A bulk load
    -- (internal/bulkpairs writes a million pairs in one statement) joins instead.
    IF judgments_named + messages_named <= 1000 THEN
        EXECUTE 'SELECT (SELECT count(*) FROM judgments WHERE id = ANY ($1)) = $2 AND (SELECT count(*) FROM messages WHERE id = ANY ($3)) = $4'
            INTO found
            USING ARRAY(SELECT DISTINCT judgment_id FROM new_pairs), judgments_named,
                ARRAY(SELECT chosen_message_id FROM new_pairs UNION SELECT rejected_message_id FROM new_pairs), messages_named;
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

CREATE TRIGGER preference_pairs_references AFTER INSERT ON preference_pairs
    REFERENCING NEW TABLE AS new_pairs
    FOR EACH STATEMENT EXECUTE FUNCTION check_preference_pair_references();

-- +goose StatementBegin
CREATE FUNCTION forbid_message_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'messages are never deleted: they are conversations'' history and training data'
        USING ERRCODE = 'MN001';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER messages_never_deleted BEFORE DELETE ON messages
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_message_delete();

-- +goose Down
DROP TRIGGER messages_never_deleted ON messages;
DROP FUNCTION forbid_message_delete();
DROP TRIGGER preference_pairs_references ON preference_pairs;
DROP FUNCTION check_preference_pair_references();
ALTER TABLE preference_pairs
    ADD CONSTRAINT preference_pairs_judgment_id_fkey FOREIGN KEY (judgment_id) REFERENCES judgments (id),
    ADD CONSTRAINT preference_pairs_chosen_message_id_fkey FOREIGN KEY (chosen_message_id) REFERENCES messages (id),
    ADD CONSTRAINT preference_pairs_rejected_message_id_fkey FOREIGN KEY (rejected_message_id) REFERENCES messages (id);
