-- +goose Up
-- Issue 17, the full-text list's stricter fallback: how many current chunks a corpus has,
-- beside corpus_terms' count per term, so that search can estimate how many chunks a
-- conjunction of terms matches (df_a · df_b / N) and choose a tsquery whose match fits
-- its budget before running it. Ingest keeps it, in the transaction that changes the
-- chunks (retrieval.termCounts.store), as it keeps corpus_terms.
ALTER TABLE corpora ADD COLUMN current_chunks bigint NOT NULL DEFAULT 0 CHECK (current_chunks >= 0);
UPDATE corpora SET current_chunks = (SELECT count(*) FROM chunks c WHERE c.corpus_id = corpora.id AND c.current);

-- Issue 17, judgment submit: judgments_turn duplicates the unique index on (turn_id,
-- trainer_id, revision), which a backward scan reads in the same order, and every judgment
-- paid for both.
DROP INDEX judgments_turn;

-- +goose Down
CREATE INDEX judgments_turn ON judgments (turn_id, trainer_id, revision DESC);
ALTER TABLE corpora DROP COLUMN current_chunks;
