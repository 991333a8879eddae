-- Fitted leaderboards, cached (issue 15). A board is a pure function of the project's votes
-- and the board's options; fitting a big one (a million votes, 1,000 bootstrap rounds) takes
-- seconds, so it is fitted in the background (River) and kept here. source_mark says which
-- state of the votes it was fitted from; a board whose mark differs from the votes' present
-- one is stale and is refitted.

-- +goose Up
CREATE TABLE leaderboard_boards (
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    options_key  text NOT NULL,  -- the options in canonical form (leaderboard.Options.Key)
    source_mark  text NOT NULL,  -- the votes' state: judgments, the last judgment id, the last QC change
    board        jsonb NOT NULL, -- the leaderboard.Board as the API answers it
    refreshed_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, options_key)
);

-- +goose Down
DROP TABLE leaderboard_boards;
