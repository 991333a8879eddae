package retrieval

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// Relevance grades, as trec_eval reads them: the gain of a passage at a rank.
const (
	Irrelevant     = 0
	Relevant       = 1
	HighlyRelevant = 2
	maxRelevance   = HighlyRelevant
)

// Mark is a trainer's relevance grade for one passage shown with one turn.
type Mark struct {
	TurnID    int64     `json:"turn_id" db:"turn_id"`
	ChunkID   int64     `json:"chunk_id" db:"chunk_id"`
	TrainerID int64     `json:"trainer_id" db:"trainer_id"`
	Grade     int       `json:"grade" db:"grade"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
}

// SetMark records a trainer's grade for a passage of a turn; it supersedes their earlier one,
// which stays in the history. Only passages the turn's candidates were given can be marked.
func (s *Store) SetMark(ctx context.Context, m Mark) (Mark, error) {
	if m.Grade < Irrelevant || m.Grade > maxRelevance {
		return Mark{}, errs.Field("grade", "must be 0 (irrelevant), 1 (relevant) or 2 (highly relevant), not %d", m.Grade)
	}
	rows, _ := s.pool.Query(ctx, `INSERT INTO relevance_marks (turn_id, chunk_id, trainer_id, grade)
		SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM candidates WHERE turn_id = $1 AND $2 = ANY(passage_ids))
		RETURNING turn_id, chunk_id, trainer_id, grade, created_at`, m.TurnID, m.ChunkID, m.TrainerID, m.Grade)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Mark])
	if err == pgx.ErrNoRows {
		return Mark{}, errs.Field("chunk_id", "passage %d was not shown with turn %d", m.ChunkID, m.TurnID)
	}
	return out, db.Error(err, "mark passage %d", m.ChunkID)
}

// Marks returns a trainer's marks on a turn's passages, by chunk id.
func (s *Store) Marks(ctx context.Context, turnID, trainerID int64) (map[int64]int, error) {
	rows, _ := s.pool.Query(ctx, `SELECT DISTINCT ON (chunk_id) chunk_id, grade FROM relevance_marks
		WHERE turn_id = $1 AND trainer_id = $2 ORDER BY chunk_id, id DESC`, turnID, trainerID)
	out := map[int64]int{}
	var chunk int64
	var grade int
	_, err := pgx.ForEachRow(rows, []any{&chunk, &grade}, func() error { out[chunk] = grade; return nil })
	return out, db.Error(err, "marks of turn %d", turnID)
}

// StaleGold is a gold reply that cites a passage of a document version that is no longer
// current: an expert should check it against the new text.
type StaleGold struct {
	JudgmentID     int64  `json:"judgment_id" db:"judgment_id"`
	TurnID         int64  `json:"turn_id" db:"turn_id"`
	DocumentID     int64  `json:"document_id" db:"document_id"`
	DocumentSlug   string `json:"document_slug" db:"document_slug"`
	CitedVersion   int    `json:"cited_version" db:"cited_version"`
	CurrentVersion int    `json:"current_version" db:"current_version"`
}

// StaleGold lists the corpus's stale gold replies, newest judgment first (at most 500),
// counting only each trainer's latest revision of a judgment.
func (s *Store) StaleGold(ctx context.Context, corpusID int64) ([]StaleGold, error) {
	rows, _ := s.pool.Query(ctx, `SELECT DISTINCT ON (j.id, d.id) j.id AS judgment_id, j.turn_id, d.id AS document_id, d.slug AS document_slug,
			c.version AS cited_version, d.version AS current_version
		FROM judgment_citations jc JOIN chunks c ON c.id = jc.chunk_id JOIN documents d ON d.id = c.document_id
		JOIN judgments j ON j.id = jc.judgment_id
		WHERE c.corpus_id = $1 AND NOT c.current
			AND j.revision = (SELECT max(revision) FROM judgments j2 WHERE j2.turn_id = j.turn_id AND j2.trainer_id = j.trainer_id)
		ORDER BY j.id DESC, d.id LIMIT 500`, corpusID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[StaleGold])
	if out == nil {
		out = []StaleGold{}
	}
	return out, db.Error(err, "stale gold replies of corpus %d", corpusID)
}
