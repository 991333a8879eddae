-- +goose Up
-- Side-swap checks for blind pairwise campaigns (issue 14): now and then a trainer is dealt
-- again a pair they judged before, with the two replies' places swapped. Whether they pick
-- the same reply gives their consistency; which side wins gives their position bias.
--
-- swap_rate is the share of a trainer's claims that are such repeats, when one is due.
ALTER TABLE campaigns ADD COLUMN swap_rate double precision NOT NULL DEFAULT 0.05 CHECK (swap_rate BETWEEN 0 AND 0.5);

-- A repeat is a claim of its own (lease, heartbeat, skip and expiry work as for any claim)
-- that names the claim it repeats. It takes no place toward k and no unit of a base's quota.
-- A trainer still gets an item at most once as work, and at most once more as a repeat.
ALTER TABLE claims ADD COLUMN swap_of bigint REFERENCES claims (id);
ALTER TABLE claims DROP CONSTRAINT claims_item_id_trainer_id_key;
-- (item_id, trainer_id) first, so "never claimed by me" is still a probe of this index.
CREATE UNIQUE INDEX claims_item_trainer ON claims (item_id, trainer_id, (swap_of IS NOT NULL));

-- A repeat's answer is a check of the trainer, not work to review: it joins no review queue
-- (00015's trigger queued every submitted claim).
DROP TRIGGER claims_queue_for_review ON claims;
CREATE TRIGGER claims_queue_for_review AFTER UPDATE OF state ON claims
    FOR EACH ROW WHEN (NEW.state = 'submitted' AND OLD.state <> 'submitted' AND NEW.swap_of IS NULL) EXECUTE FUNCTION queue_for_review();

-- +goose Down
DROP TRIGGER claims_queue_for_review ON claims;
CREATE TRIGGER claims_queue_for_review AFTER UPDATE OF state ON claims
    FOR EACH ROW WHEN (NEW.state = 'submitted' AND OLD.state <> 'submitted') EXECUTE FUNCTION queue_for_review();
DROP INDEX claims_item_trainer;
DELETE FROM claims WHERE swap_of IS NOT NULL;
ALTER TABLE claims ADD CONSTRAINT claims_item_id_trainer_id_key UNIQUE (item_id, trainer_id);
ALTER TABLE claims DROP COLUMN swap_of;
ALTER TABLE campaigns DROP COLUMN swap_rate;
