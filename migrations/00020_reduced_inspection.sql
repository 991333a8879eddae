-- +goose Up
-- Reduced inspection and discontinuation, by GB/T 2828.1's switching rules (ISO 2859-1:1999
-- §9.3-9.4; issue 14, docs/quality.md). The rules are a function of a base's batches in a
-- campaign (their results, plans and defects) and of the two things people record beside
-- them, below; nothing else is stored.

-- A batch may now be inspected on reduced inspection (Table 2-C).
ALTER TABLE batches DROP CONSTRAINT batches_severity_check;
ALTER TABLE batches ADD CONSTRAINT batches_severity_check CHECK (severity IN ('normal', 'tightened', 'reduced'));

-- Reduced inspection is used only when "considered desirable by the responsible authority"
-- (§9.3.3 c): the project's admins say so per campaign. Off by default, as in the standard.
ALTER TABLE campaign_qc ADD COLUMN reduced_allowed boolean NOT NULL DEFAULT false;

-- What the rules cannot see in the batches, recorded by the project's admins for one base of
-- a campaign, after the base's after_seq-th batch:
--   irregular: production became irregular or delayed (§9.3.4 b, c): reduced inspection
--              returns to normal, and on normal inspection the switching score starts again;
--   resumed:   after a discontinuation (§9.4), the base has acted to improve its work and
--              inspection resumes, on tightened inspection.
CREATE TABLE inspection_notes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    base_id     bigint NOT NULL REFERENCES bases (id),
    kind        text NOT NULL CHECK (kind IN ('irregular', 'resumed')),
    after_seq   int NOT NULL CHECK (after_seq >= 0),
    note        text NOT NULL DEFAULT '',
    created_by  bigint NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL
);
CREATE INDEX inspection_notes_base ON inspection_notes (campaign_id, base_id, id);

-- +goose Down
DROP TABLE inspection_notes;
ALTER TABLE campaign_qc DROP COLUMN reduced_allowed;
ALTER TABLE batches DROP CONSTRAINT batches_severity_check;
ALTER TABLE batches ADD CONSTRAINT batches_severity_check CHECK (severity IN ('normal', 'tightened'));
