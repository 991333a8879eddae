-- +goose Up
-- What quality control has found out about each judgment (issue 14). Judgments are
-- append-only training data, so their checks live beside them in one small mutable row:
-- review and batch acceptance write review_state, the speed floor writes speed_flagged,
-- a paused trainer's unchecked work is held. Exports (export filters) and leaderboards
-- (which votes count) read this one table instead of each knowing every QC feature.
-- A judgment without a row is unreviewed, not flagged and not held.
CREATE TABLE judgment_checks (
    judgment_id   bigint PRIMARY KEY REFERENCES judgments (id),
    review_state  text NOT NULL DEFAULT 'unreviewed' CHECK (review_state IN ('unreviewed', 'accepted', 'rejected')),
    speed_flagged boolean NOT NULL DEFAULT false,
    held          boolean NOT NULL DEFAULT false, -- its trainer was paused; out of exports until reviewed
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX judgment_checks_unchecked ON judgment_checks (judgment_id) WHERE review_state = 'unreviewed';

-- How far an item's judgments agree: Kendall's W for rankings, with ties corrected, from
-- 0 (none) to 1 (all alike). Refreshed in the background; adaptive overlap and the
-- "minimum item agreement" export filter read it.
CREATE TABLE item_agreement (
    item_id      bigint PRIMARY KEY REFERENCES campaign_items (id) ON DELETE CASCADE,
    agreement    double precision NOT NULL CHECK (agreement BETWEEN 0 AND 1),
    judgments    int NOT NULL CHECK (judgments >= 0),
    refreshed_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE item_agreement;
DROP TABLE judgment_checks;
