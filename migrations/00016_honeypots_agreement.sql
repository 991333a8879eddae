-- Quality control, part B (issue 14): gold items (honeypots) and how each trainer did on
-- them, pauses, the speed floor, agreement between trainers and adaptive overlap
-- (docs/quality.md). What QC concludes about one judgment is written to judgment_checks
-- (00014): speed_flagged at submit, held when its trainer is paused.

-- +goose Up
-- A campaign's QC settings. honeypot_rate is the share of claims that are gold items (doubled,
-- up to 0.5, in a trainer's first 50 items); the speed floor is the larger of speed_floor_ms
-- and speed_floor_share × the campaign's median time per item; items whose agreement is below
-- agreement_floor get up to 2 more judgments while extra_budget lasts, else go to a reviewer.
ALTER TABLE campaigns
    ADD COLUMN honeypot_rate      double precision NOT NULL DEFAULT 0.05 CHECK (honeypot_rate BETWEEN 0 AND 0.5),
    ADD COLUMN honeypot_threshold double precision NOT NULL DEFAULT 0.7 CHECK (honeypot_threshold BETWEEN 0 AND 1),
    -- the secret key of which claims are gold (honeypot.Dealt); never shown to anyone
    ADD COLUMN honeypot_seed      bigint NOT NULL DEFAULT floor(random() * 9007199254740991)::bigint,
    ADD COLUMN speed_floor_ms     int NOT NULL DEFAULT 3000 CHECK (speed_floor_ms >= 0),
    ADD COLUMN speed_floor_share  double precision NOT NULL DEFAULT 0.25 CHECK (speed_floor_share BETWEEN 0 AND 1),
    ADD COLUMN median_ms          int, -- the campaign's median time per item, kept by the agreement refresh
    ADD COLUMN agreement_floor    double precision NOT NULL DEFAULT 0.5 CHECK (agreement_floor BETWEEN 0 AND 1),
    ADD COLUMN extra_budget       int NOT NULL DEFAULT 0 CHECK (extra_budget >= 0),
    ADD COLUMN extra_used         int NOT NULL DEFAULT 0 CHECK (extra_used >= 0);

-- A gold item is a campaign item with a known answer. It is dealt by honeypot insertion, not
-- by the queue: any number of trainers (each once), outside k and outside base quotas.
ALTER TABLE campaign_items
    ADD COLUMN gold       boolean NOT NULL DEFAULT false,
    -- adaptive overlap: judgments asked for beyond k (at most 2), and items sent to a reviewer
    ADD COLUMN extra_k    int NOT NULL DEFAULT 0 CHECK (extra_k BETWEEN 0 AND 2),
    ADD COLUMN adjudicate boolean NOT NULL DEFAULT false;
CREATE INDEX campaign_items_gold ON campaign_items (campaign_id, id) WHERE gold AND generation = 'ready';

CREATE TABLE gold_answers (
    item_id    bigint PRIMARY KEY REFERENCES campaign_items (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('best', 'ordering', 'defect')),
    -- best: {"candidate_id"}; ordering: {"ranking": [[id…]…]}; defect: {"candidate_id", "flag"}
    answer     jsonb NOT NULL,
    source     text NOT NULL CHECK (source IN ('expert', 'promoted')),
    created_by bigint NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per judgment of a gold item: was it right. Written in the judgment's transaction.
CREATE TABLE gold_results (
    judgment_id bigint PRIMARY KEY REFERENCES judgments (id),
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    item_id     bigint NOT NULL REFERENCES campaign_items (id) ON DELETE CASCADE,
    trainer_id  bigint NOT NULL REFERENCES users (id),
    correct     boolean NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX gold_results_trainer ON gold_results (campaign_id, trainer_id, created_at DESC);

-- A trainer paused in a campaign by honeypot accuracy; next refuses while lifted_at is NULL.
CREATE TABLE trainer_pauses (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    trainer_id  bigint NOT NULL REFERENCES users (id),
    accuracy    double precision NOT NULL,
    gold_items  int NOT NULL,
    paused_at   timestamptz NOT NULL,
    lifted_at   timestamptz,
    lifted_by   bigint REFERENCES users (id)
);
CREATE UNIQUE INDEX trainer_pauses_active ON trainer_pauses (campaign_id, trainer_id) WHERE lifted_at IS NULL;

-- Agreement as the last refresh found it, per campaign, base and trainer and per measure
-- (alpha_ranking, alpha_flags, alpha_ratings, loo: agreement with the leave-one-out
-- consensus). scope_id is 0 for the campaign itself.
CREATE TABLE agreement_figures (
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    scope        text NOT NULL CHECK (scope IN ('campaign', 'base', 'trainer')),
    scope_id     bigint NOT NULL,
    measure      text NOT NULL,
    value        double precision, -- NULL when there was too little to say
    units        int NOT NULL,
    refreshed_at timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, scope, scope_id, measure)
);
-- The campaign's α at each refresh that changed something, for "α over time".
CREATE TABLE agreement_history (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    measure     text NOT NULL,
    value       double precision,
    judgments   int NOT NULL,
    PRIMARY KEY (campaign_id, at, measure)
);

-- +goose Down
DROP TABLE agreement_history;
DROP TABLE agreement_figures;
DROP TABLE trainer_pauses;
DROP TABLE gold_results;
DROP TABLE gold_answers;
DROP INDEX campaign_items_gold;
ALTER TABLE campaign_items DROP COLUMN adjudicate, DROP COLUMN extra_k, DROP COLUMN gold;
ALTER TABLE campaigns DROP COLUMN extra_used, DROP COLUMN extra_budget, DROP COLUMN agreement_floor, DROP COLUMN median_ms,
    DROP COLUMN speed_floor_share, DROP COLUMN speed_floor_ms, DROP COLUMN honeypot_seed, DROP COLUMN honeypot_threshold, DROP COLUMN honeypot_rate;
