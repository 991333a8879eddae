-- +goose Up
-- Campaigns, continued (issue 13): live generation. A live campaign's items have no
-- candidates ahead of time: the first claim of an item starts its turn streaming through the
-- live engine (as the trainer's screen does), and later claimants follow that turn, or read
-- its stored candidates once it finished (docs/campaigns.md, "Live generation").
--
-- Such an item is ready (claimable) before it has a turn, which 00011's check forbade. The
-- item says so itself (a CHECK cannot read the campaign's row), so an item of a campaign that
-- generates ahead still cannot be ready without its candidates. The queue's partial index
-- (generation = 'ready') and the claim's statement are unchanged: a live item is dealt exactly
-- as any other, k included.
ALTER TABLE campaign_items ADD COLUMN live boolean NOT NULL DEFAULT false;
ALTER TABLE campaign_items DROP CONSTRAINT campaign_items_check;
ALTER TABLE campaign_items ADD CONSTRAINT campaign_items_ready_has_turn CHECK (generation <> 'ready' OR turn_id IS NOT NULL OR live);

-- The claim counts a trainer's claims in the campaign (every state: the honeypot draw is by
-- how many items the trainer has been dealt there). Only partial indexes covered parts of it
-- (open claims; closed ones by trainer and time), so at 1,000,000 items and 500 trainers
-- each claim read all of the trainer's closed claims of every campaign.
CREATE INDEX claims_trainer_campaign ON claims (trainer_id, campaign_id);

-- +goose Down
DROP INDEX claims_trainer_campaign;
ALTER TABLE campaign_items DROP CONSTRAINT campaign_items_ready_has_turn;
UPDATE campaign_items SET generation = 'pending' WHERE generation = 'ready' AND turn_id IS NULL;
ALTER TABLE campaign_items ADD CONSTRAINT campaign_items_check CHECK (generation <> 'ready' OR turn_id IS NOT NULL);
ALTER TABLE campaign_items DROP COLUMN live;
