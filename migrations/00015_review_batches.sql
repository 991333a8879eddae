-- Review and rework, appeals, and batches inspected by GB/T 2828.1 (issue 14, part A;
-- docs/quality.md). What was decided about a judgment is written to judgment_checks
-- (00014); these tables keep who decided it, why, and on which sample.

-- +goose Up
-- A project's reasons for rejecting a judgment. A project without rows uses the defaults
-- (review.DefaultReasons); needs_text asks the reviewer to say more ("other").
CREATE TABLE review_reasons (
    project_id bigint NOT NULL REFERENCES projects (id),
    code       text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]{0,39}$'),
    label_en   text NOT NULL CHECK (btrim(label_en) <> ''),
    label_zh   text NOT NULL CHECK (btrim(label_zh) <> ''),
    needs_text boolean NOT NULL DEFAULT false,
    position   int NOT NULL,
    PRIMARY KEY (project_id, code)
);

-- Judgments waiting for a reviewer: one row each, gone once reviewed (or accepted with an
-- accepted batch). The next item is the first row of an index range, never a scan of the
-- reviewed ones (BenchmarkReviewNext). taken_by/taken_until keep two reviewers from being
-- shown the same judgment at once.
CREATE TABLE review_queue (
    judgment_id bigint PRIMARY KEY REFERENCES judgments (id),
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    base_id     bigint REFERENCES bases (id),
    trainer_id  bigint NOT NULL REFERENCES users (id),
    batch_id    bigint, -- set when the judgment's batch is closed (REFERENCES batches, below)
    queued_at   timestamptz NOT NULL DEFAULT now(),
    taken_by    bigint REFERENCES users (id),
    taken_until timestamptz
);
CREATE INDEX review_queue_campaign ON review_queue (campaign_id, judgment_id);
CREATE INDEX review_queue_base ON review_queue (campaign_id, base_id, judgment_id);
CREATE INDEX review_queue_batch ON review_queue (batch_id, judgment_id) WHERE batch_id IS NOT NULL;

-- A campaign judgment joins the queue when its claim is submitted, in the same transaction:
-- a trigger, so that no way of completing a claim can forget it.
-- +goose StatementBegin
CREATE FUNCTION queue_for_review() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO review_queue (judgment_id, campaign_id, base_id, trainer_id)
    VALUES (NEW.judgment_id, NEW.campaign_id, NEW.base_id, NEW.trainer_id)
    ON CONFLICT (judgment_id) DO NOTHING;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER claims_queue_for_review AFTER UPDATE OF state ON claims
    FOR EACH ROW WHEN (NEW.state = 'submitted' AND OLD.state <> 'submitted') EXECUTE FUNCTION queue_for_review();

-- A campaign's quality settings: the AQL its batches are inspected at, and "every N items"
-- batching. No row: AQL 1.0, batches closed by period only.
CREATE TABLE campaign_qc (
    campaign_id bigint PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    aql         text NOT NULL DEFAULT '1.0',
    batch_every int CHECK (batch_every > 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A base's delivery: some of a campaign's judgments from one base, closed by a lead, with
-- the plan it is inspected by and the seed its sample was drawn with.
CREATE TABLE batches (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id     bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    base_id         bigint NOT NULL REFERENCES bases (id),
    seq             int NOT NULL CHECK (seq > 0), -- the base's n-th batch of the campaign
    period_from     timestamptz,
    period_to       timestamptz,
    lot_size        int NOT NULL CHECK (lot_size > 0),
    aql             text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('normal', 'tightened')),
    code_letter     text NOT NULL,
    plan_letter     text NOT NULL,
    sample_size     int NOT NULL CHECK (sample_size > 0 AND sample_size <= lot_size),
    ac              int NOT NULL CHECK (ac >= 0),
    re              int NOT NULL CHECK (re > ac),
    seed            bigint NOT NULL,
    -- Each tier's result: the base's own check (质检) and the centre's acceptance (验收).
    base_result     text NOT NULL DEFAULT 'pending' CHECK (base_result IN ('pending', 'accepted', 'rejected')),
    centre_result   text NOT NULL DEFAULT 'pending' CHECK (centre_result IN ('pending', 'accepted', 'rejected')),
    base_decided_at   timestamptz,
    centre_decided_at timestamptz,
    closed_by       bigint NOT NULL REFERENCES users (id),
    closed_at       timestamptz NOT NULL,
    UNIQUE (campaign_id, base_id, seq)
);
CREATE INDEX batches_campaign ON batches (campaign_id, closed_at);
ALTER TABLE review_queue ADD FOREIGN KEY (batch_id) REFERENCES batches (id);

-- The judgments of a batch; sample_rank is the position in the seeded draw, NULL when not
-- drawn. A judgment is delivered in one batch only.
CREATE TABLE batch_judgments (
    batch_id    bigint NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    judgment_id bigint NOT NULL UNIQUE REFERENCES judgments (id),
    sample_rank int,
    PRIMARY KEY (batch_id, judgment_id)
);
CREATE INDEX batch_judgments_sample ON batch_judgments (batch_id, sample_rank) WHERE sample_rank IS NOT NULL;

-- Every review decision, append-only: accept, reject (with a reason) or fix (the reviewer's
-- corrected judgment is fixed_judgment_id). batch_id and tier say when it was the
-- inspection of a batch's sample.
CREATE TABLE reviews (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    judgment_id       bigint NOT NULL REFERENCES judgments (id),
    campaign_id       bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    reviewer_id       bigint NOT NULL REFERENCES users (id),
    verdict           text NOT NULL CHECK (verdict IN ('accepted', 'rejected', 'fixed')),
    reason_code       text,
    reason_text       text NOT NULL DEFAULT '',
    comment           text NOT NULL DEFAULT '',
    fixed_judgment_id bigint REFERENCES judgments (id),
    batch_id          bigint REFERENCES batches (id),
    tier              text CHECK (tier IN ('base', 'centre')),
    created_at        timestamptz NOT NULL,
    CHECK ((verdict = 'rejected') = (reason_code IS NOT NULL)),
    CHECK ((verdict = 'fixed') = (fixed_judgment_id IS NOT NULL)),
    CHECK ((batch_id IS NULL) = (tier IS NULL))
);
CREATE INDEX reviews_judgment ON reviews (judgment_id, id DESC);
CREATE INDEX reviews_campaign ON reviews (campaign_id, created_at);
CREATE INDEX reviews_batch ON reviews (batch_id, tier) WHERE batch_id IS NOT NULL;
CREATE TRIGGER reviews_append_only BEFORE UPDATE OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION forbid_published_change();

-- Rework (返工): a rejected judgment back with its trainer until they resubmit it (a new
-- revision, which joins the review queue) or an appeal overturns the rejection.
CREATE TABLE reworks (
    review_id      bigint PRIMARY KEY REFERENCES reviews (id),
    judgment_id    bigint NOT NULL REFERENCES judgments (id),
    campaign_id    bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    trainer_id     bigint NOT NULL REFERENCES users (id),
    turn_id        bigint NOT NULL REFERENCES turns (id),
    state          text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resubmitted', 'overturned')),
    resubmitted_id bigint REFERENCES judgments (id),
    created_at     timestamptz NOT NULL,
    closed_at      timestamptz,
    CHECK ((state = 'resubmitted') = (resubmitted_id IS NOT NULL))
);
CREATE INDEX reworks_trainer ON reworks (trainer_id, created_at DESC);
-- A resubmission is looked up by its judgment on every review of it (review.Item).
CREATE UNIQUE INDEX reworks_resubmitted ON reworks (resubmitted_id) WHERE resubmitted_id IS NOT NULL;

-- An appeal of a rejection: one per rejection (the primary key), decided by a lead or an
-- admin. The audit log records both as well.
CREATE TABLE appeals (
    review_id  bigint PRIMARY KEY REFERENCES reviews (id),
    trainer_id bigint NOT NULL REFERENCES users (id),
    reason     text NOT NULL CHECK (btrim(reason) <> '' AND char_length(reason) <= 4000),
    created_at timestamptz NOT NULL,
    decision   text CHECK (decision IN ('upheld', 'overturned')),
    decided_by bigint REFERENCES users (id),
    note       text NOT NULL DEFAULT '',
    decided_at timestamptz,
    CHECK ((decision IS NULL) = (decided_at IS NULL))
);
CREATE INDEX appeals_open ON appeals (created_at) WHERE decision IS NULL;

-- +goose Down
DROP TABLE appeals;
DROP TABLE reworks;
DROP TABLE reviews;
DROP TABLE batch_judgments;
ALTER TABLE review_queue DROP COLUMN batch_id;
DROP TABLE batches;
DROP TABLE campaign_qc;
DROP TRIGGER claims_queue_for_review ON claims;
DROP FUNCTION queue_for_review();
DROP TABLE review_queue;
DROP TABLE review_reasons;
