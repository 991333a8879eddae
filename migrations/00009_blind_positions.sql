-- Blind projects shuffle a turn's candidates: the seed of the draw is kept with the turn, and
-- each candidate keeps its place in the plan, so position bias can be measured afterwards
-- (does the pane on the left win more often than its plan place predicts?).

-- +goose Up
ALTER TABLE turns ADD COLUMN shuffle_seed bigint;
ALTER TABLE candidates ADD COLUMN plan_index integer;
COMMENT ON COLUMN turns.shuffle_seed IS 'seed of the per-turn shuffle of candidate positions; NULL when the project does not rank blind';
COMMENT ON COLUMN candidates.plan_index IS 'the candidate''s place in the generation plan (0-based), before any shuffle';

-- +goose Down
ALTER TABLE candidates DROP COLUMN plan_index;
ALTER TABLE turns DROP COLUMN shuffle_seed;
