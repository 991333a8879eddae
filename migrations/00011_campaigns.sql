-- Campaigns: work dealt to trainers of labelling bases, with candidates generated ahead and
-- exactly k judgments per item (docs/campaigns.md).

-- +goose Up
-- A labelling base (基地) is a team of people in the instance, with leads.
CREATE TABLE bases (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (btrim(name) <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A person works in one base; a lead sees the base's people, work and statistics.
CREATE TABLE base_members (
    base_id    bigint NOT NULL REFERENCES bases (id),
    user_id    bigint NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    is_lead    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (base_id, user_id)
);

-- The bases a project admits: only they can be given the project's campaigns.
CREATE TABLE project_bases (
    project_id bigint NOT NULL REFERENCES projects (id),
    base_id    bigint NOT NULL REFERENCES bases (id),
    PRIMARY KEY (project_id, base_id)
);

CREATE TABLE campaigns (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id         bigint NOT NULL REFERENCES projects (id),
    persona_id         bigint NOT NULL REFERENCES personas (id),
    name               text NOT NULL CHECK (btrim(name) <> ''),
    task_kind          text NOT NULL CHECK (task_kind IN ('rank_rate', 'correct_best', 'write_gold', 'blind_pairwise')),
    -- The candidate plan: [{prompt_version_id, model, temperature}], 1 to 8 entries, checked
    -- by campaign.Plan.Validate against the model registry when the campaign is saved.
    plan               jsonb NOT NULL CHECK (jsonb_typeof(plan) = 'array' AND jsonb_array_length(plan) BETWEEN 1 AND 8),
    k                  int NOT NULL CHECK (k BETWEEN 1 AND 10),
    guidelines         text NOT NULL DEFAULT '',
    guidelines_version int NOT NULL DEFAULT 1 CHECK (guidelines_version > 0),
    deadline           timestamptz,
    priority           int NOT NULL DEFAULT 0,
    lease_seconds      int NOT NULL DEFAULT 600 CHECK (lease_seconds BETWEEN 30 AND 86400),
    claim_cap          int NOT NULL DEFAULT 3 CHECK (claim_cap BETWEEN 1 AND 20),
    -- Items skipped this many times leave the queues and wait for a lead.
    skip_limit         int NOT NULL DEFAULT 3 CHECK (skip_limit BETWEEN 1 AND 100),
    live               boolean NOT NULL DEFAULT false, -- generate when claimed, streaming as today
    state              text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'generating', 'open', 'paused', 'closed')),
    created_by         bigint NOT NULL REFERENCES users (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_project ON campaigns (project_id, state);

-- A campaign's bases, each with a quota: a number of judgments or a share of all of them
-- (k × items); neither means no limit.
CREATE TABLE campaign_bases (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    base_id     bigint NOT NULL REFERENCES bases (id),
    quota_items int CHECK (quota_items > 0),
    quota_share numeric(6,5) CHECK (quota_share > 0 AND quota_share <= 1),
    -- Claims counted against the quota: open ones and submitted ones. Kept here, under the
    -- row's lock, so two claims cannot both take the last unit of a quota.
    used        int NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (campaign_id, base_id),
    CHECK (quota_items IS NULL OR quota_share IS NULL)
);

CREATE TABLE campaign_items (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id      bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    external_id      text,
    question         text NOT NULL CHECK (btrim(question) <> ''),
    normalized       text NOT NULL, -- the question as duplicates are found: NFKC, case-folded, spaces collapsed
    prior            jsonb NOT NULL DEFAULT '[]', -- earlier messages, [{role, content}]
    tags             text[] NOT NULL DEFAULT '{}',
    reference        text NOT NULL DEFAULT '',
    -- The turn whose candidates trainers judge: generated ahead, or the turn the item was made from.
    turn_id          bigint UNIQUE REFERENCES turns (id),
    generation       text NOT NULL DEFAULT 'pending' CHECK (generation IN ('pending', 'generating', 'ready', 'failed')),
    generation_error text NOT NULL DEFAULT '',
    -- taken counts open claims plus judgments; judged counts judgments. Both change only under
    -- the item's row lock, which is what makes "never more than k" hold (campaign/claim.go).
    taken            int NOT NULL DEFAULT 0 CHECK (taken >= 0),
    judged           int NOT NULL DEFAULT 0 CHECK (judged >= 0),
    skips            int NOT NULL DEFAULT 0,
    set_aside        boolean NOT NULL DEFAULT false,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, external_id),
    UNIQUE (campaign_id, normalized),
    CHECK (generation <> 'ready' OR turn_id IS NOT NULL)
);
-- The queue: ready items still short of k, evenly spread (fewest taken first).
CREATE INDEX campaign_items_queue ON campaign_items (campaign_id, taken, id)
    WHERE generation = 'ready' AND completed_at IS NULL AND NOT set_aside;
CREATE INDEX campaign_items_generation ON campaign_items (campaign_id, generation);

-- A claim is a trainer's lease on one item. A trainer claims an item at most once, ever.
CREATE TABLE claims (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id        bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    item_id            bigint NOT NULL REFERENCES campaign_items (id) ON DELETE CASCADE,
    trainer_id         bigint NOT NULL REFERENCES users (id),
    base_id            bigint REFERENCES bases (id),
    state              text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'submitted', 'expired', 'skipped')),
    claimed_at         timestamptz NOT NULL,
    lease_until        timestamptz NOT NULL,
    closed_at          timestamptz,
    skip_reason        text CHECK (skip_reason IN ('unclear', 'needs_expertise', 'harmful', 'broken_candidates')),
    judgment_id        bigint UNIQUE REFERENCES judgments (id),
    guidelines_version int NOT NULL, -- the guidelines the trainer worked under
    UNIQUE (item_id, trainer_id),
    CHECK ((state = 'skipped') = (skip_reason IS NOT NULL)),
    CHECK ((state = 'submitted') = (judgment_id IS NOT NULL))
);
CREATE INDEX claims_open_trainer ON claims (trainer_id, lease_until) WHERE state = 'open';
CREATE INDEX claims_open_campaign ON claims (campaign_id, lease_until) WHERE state = 'open';
CREATE INDEX claims_trainer_closed ON claims (trainer_id, closed_at) WHERE closed_at IS NOT NULL;

-- +goose Down
DROP TABLE claims;
DROP TABLE campaign_items;
DROP TABLE campaign_bases;
DROP TABLE campaigns;
DROP TABLE project_bases;
DROP TABLE base_members;
DROP TABLE bases;
