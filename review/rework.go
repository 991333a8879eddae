package review

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/rlhf"
)

// Rework states.
const (
	ReworkOpen        = "open"
	ReworkResubmitted = "resubmitted"
	ReworkOverturned  = "overturned" // an appeal found the rejection wrong
)

// Rework is a rejected judgment back with its trainer (返工), as My work lists it.
type Rework struct {
	ReviewID      int64      `json:"review_id" db:"review_id"`
	JudgmentID    int64      `json:"judgment_id" db:"judgment_id"`
	CampaignID    int64      `json:"campaign_id" db:"campaign_id"`
	Campaign      string     `json:"campaign" db:"campaign"`
	TurnID        int64      `json:"turn_id" db:"turn_id"`
	Question      string     `json:"question" db:"question"`
	State         string     `json:"state" db:"state"` // open, resubmitted or overturned
	ReasonCode    string     `json:"reason_code" db:"reason_code"`
	ReasonText    string     `json:"reason_text" db:"reason_text"`
	Comment       string     `json:"comment" db:"comment"`
	RejectedAt    time.Time  `json:"rejected_at" db:"rejected_at"`
	ResubmittedID *int64     `json:"resubmitted_id" db:"resubmitted_id"`
	Appeal        *string    `json:"appeal" db:"appeal"`                 // the trainer's appeal, if any
	AppealState   *string    `json:"appeal_state" db:"appeal_state"`     // pending, upheld or overturned
	AppealNote    *string    `json:"appeal_note" db:"appeal_note"`       // the decider's note
	AppealDecided *time.Time `json:"appeal_decided" db:"appeal_decided"` // when it was decided
}

// Reworks returns a trainer's reworks, newest first: the open ones and the last 50 closed.
func (s *Store) Reworks(ctx context.Context, trainerID int64) ([]Rework, error) {
	rows, _ := s.pool.Query(ctx, `SELECT * FROM (
			SELECT rw.review_id, rw.judgment_id, rw.campaign_id, c.name AS campaign, rw.turn_id, um.content AS question, rw.state,
				rv.reason_code, rv.reason_text, rv.comment, rv.created_at AS rejected_at, rw.resubmitted_id,
				a.reason AS appeal, CASE WHEN a.review_id IS NULL THEN NULL ELSE coalesce(a.decision, 'pending') END AS appeal_state,
				a.note AS appeal_note, a.decided_at AS appeal_decided,
				row_number() OVER (PARTITION BY rw.state = 'open' ORDER BY rw.created_at DESC) AS n
			FROM reworks rw
			JOIN reviews rv ON rv.id = rw.review_id
			JOIN campaigns c ON c.id = rw.campaign_id
			JOIN turns t ON t.id = rw.turn_id
			JOIN messages um ON um.id = t.user_message_id
			LEFT JOIN appeals a ON a.review_id = rw.review_id
			WHERE rw.trainer_id = $1) x
		WHERE state = 'open' OR n <= 50 ORDER BY rejected_at DESC`, trainerID)
	type row struct {
		Rework
		N int64 `db:"n"`
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByName[row])
	if err != nil {
		return nil, db.Error(err, "reworks of user %d", trainerID)
	}
	out := make([]Rework, len(got))
	for i, r := range got {
		out[i] = r.Rework
	}
	return out, nil
}

// ReworkOf returns one rework, for its trainer.
func (s *Store) ReworkOf(ctx context.Context, reviewID, trainerID int64) (Rework, error) {
	all, err := s.Reworks(ctx, trainerID)
	if err != nil {
		return Rework{}, err
	}
	for _, r := range all {
		if r.ReviewID == reviewID {
			return r, nil
		}
	}
	return Rework{}, errs.E(errs.NotFound, "no rework %d of yours", reviewID)
}

// Resubmit stores the trainer's reworked judgment as a new revision of their judgment of the
// turn, closes the rework, and puts the new judgment in the review queue, unreviewed: all in
// the judgment's transaction. The rejected revision is kept.
func (s *Store) Resubmit(ctx context.Context, reviewID, trainerID int64, sub rlhf.Submission) (rlhf.Submitted, error) {
	var turnID, campaignID int64
	var owner int64
	var state string
	var baseID *int64
	err := s.pool.QueryRow(ctx, `SELECT rw.turn_id, rw.campaign_id, rw.trainer_id, rw.state,
			(SELECT coalesce(q.base_id, cl.base_id) FROM judgments j LEFT JOIN claims cl ON cl.judgment_id = j.id
			 LEFT JOIN review_queue q ON q.judgment_id = j.id WHERE j.id = rw.judgment_id)
		FROM reworks rw WHERE rw.review_id = $1`, reviewID).Scan(&turnID, &campaignID, &owner, &state, &baseID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && owner != trainerID) {
		return rlhf.Submitted{}, errs.E(errs.NotFound, "no rework %d of yours", reviewID)
	}
	if err != nil {
		return rlhf.Submitted{}, db.Error(err, "rework %d", reviewID)
	}
	// A retry of a resubmission that was stored finds the rework closed: Submit replays it.
	if state == ReworkOverturned {
		return rlhf.Submitted{}, errs.E(errs.Conflict, "this rejection was overturned on appeal: there is nothing to rework")
	}
	if state == ReworkResubmitted {
		sub.InTx = func(context.Context, pgx.Tx, int64) error {
			return errs.E(errs.Conflict, "this rework was resubmitted already")
		}
		return s.live.Submit(ctx, turnID, trainerID, sub)
	}
	sub.InTx = func(ctx context.Context, tx pgx.Tx, judgmentID int64) error {
		now := s.now()
		tag, err := tx.Exec(ctx, `UPDATE reworks SET state = 'resubmitted', resubmitted_id = $2, closed_at = $3 WHERE review_id = $1 AND state = 'open'`,
			reviewID, judgmentID, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errs.E(errs.Conflict, "this rework was resubmitted already")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO review_queue (judgment_id, campaign_id, base_id, trainer_id, queued_at) VALUES ($1, $2, $3, $4, $5)`,
			judgmentID, campaignID, baseID, trainerID, now); err != nil {
			return err
		}
		return setState(ctx, tx, judgmentID, "unreviewed", now)
	}
	return s.live.Submit(ctx, turnID, trainerID, sub)
}

// Appeal states.
const (
	AppealPending    = "pending"
	AppealUpheld     = "upheld"     // the rejection stands
	AppealOverturned = "overturned" // the rejection was wrong: the judgment is accepted
)

// Appeal is a trainer's appeal of a rejection, as a lead or admin decides it.
type Appeal struct {
	ReviewID   int64      `json:"review_id" db:"review_id"`
	JudgmentID int64      `json:"judgment_id" db:"judgment_id"`
	CampaignID int64      `json:"campaign_id" db:"campaign_id"`
	TrainerID  int64      `json:"trainer_id" db:"trainer_id"`
	Trainer    string     `json:"trainer" db:"trainer"`
	ReviewerID int64      `json:"reviewer_id" db:"reviewer_id"`
	ReasonCode string     `json:"reason_code" db:"reason_code"`
	Comment    string     `json:"comment" db:"comment"` // the reviewer's
	Reason     string     `json:"reason" db:"reason"`   // the trainer's
	CreatedAt  time.Time  `json:"created_at" db:"created_at"`
	State      string     `json:"state" db:"state"` // pending, upheld or overturned
	DecidedBy  *int64     `json:"decided_by" db:"decided_by"`
	Note       string     `json:"note" db:"note"`
	DecidedAt  *time.Time `json:"decided_at" db:"decided_at"`
	BaseID     *int64     `json:"base_id" db:"base_id"`
}

// ErrAppealedAlready refuses a second appeal of one rejection.
var ErrAppealedAlready = errs.Field("review_id", "this rejection was appealed already: a rejection can be appealed once")

// FileAppeal records a trainer's appeal of a rejection of their judgment.
func (s *Store) FileAppeal(ctx context.Context, reviewID, trainerID int64, reason string) (Appeal, error) {
	if strings.TrimSpace(reason) == "" {
		return Appeal{}, errs.Field("reason", "say why the rejection is wrong")
	}
	if utf8.RuneCountInString(reason) > 4000 {
		return Appeal{}, errs.Field("reason", "must be at most 4000 characters")
	}
	var owner int64
	var verdict string
	err := s.pool.QueryRow(ctx, `SELECT j.trainer_id, rv.verdict FROM reviews rv JOIN judgments j ON j.id = rv.judgment_id WHERE rv.id = $1`, reviewID).
		Scan(&owner, &verdict)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && owner != trainerID) {
		return Appeal{}, errs.Field("review_id", "no rejection %d of your work", reviewID)
	}
	if err != nil {
		return Appeal{}, db.Error(err, "review %d", reviewID)
	}
	if verdict != Reject {
		return Appeal{}, errs.Field("review_id", "review %d is not a rejection: only rejections can be appealed", reviewID)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO appeals (review_id, trainer_id, reason, created_at) VALUES ($1, $2, $3, $4)`, reviewID, trainerID, reason, s.now())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Appeal{}, ErrAppealedAlready
	}
	if err != nil {
		return Appeal{}, db.Error(err, "appeal review %d", reviewID)
	}
	return s.appeal(ctx, reviewID)
}

const appealSQL = `SELECT a.review_id, rv.judgment_id, rv.campaign_id, a.trainer_id, u.display_name AS trainer, rv.reviewer_id,
		coalesce(rv.reason_code, '') AS reason_code, rv.comment, a.reason, a.created_at, coalesce(a.decision, 'pending') AS state,
		a.decided_by, a.note, a.decided_at, m.base_id
	FROM appeals a JOIN reviews rv ON rv.id = a.review_id JOIN users u ON u.id = a.trainer_id
	LEFT JOIN base_members m ON m.user_id = a.trainer_id`

func (s *Store) appeal(ctx context.Context, reviewID int64) (Appeal, error) {
	rows, _ := s.pool.Query(ctx, appealSQL+` WHERE a.review_id = $1`, reviewID)
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Appeal])
	return a, db.Error(err, "appeal of review %d", reviewID)
}

// Appeals returns a campaign's appeals waiting for a decision, oldest first; a lead's scope
// sees their base's only.
func (s *Store) Appeals(ctx context.Context, sc Scope) ([]Appeal, error) {
	rows, _ := s.pool.Query(ctx, appealSQL+` WHERE rv.campaign_id = $1 AND a.decision IS NULL AND ($2::bigint IS NULL OR m.base_id = $2)
		ORDER BY a.created_at`, sc.CampaignID, sc.BaseID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Appeal])
	return out, db.Error(err, "appeals of campaign %d", sc.CampaignID)
}

// DecideAppeal records a lead's or admin's decision. Overturned, the judgment is accepted and
// its rework (if not resubmitted yet) is closed; upheld, nothing else changes. Only leads and
// admins decide (privileged: the project's admins; anyone else must lead the trainer's
// base), and never the reviewer who rejected.
func (s *Store) DecideAppeal(ctx context.Context, reviewID, deciderID int64, privileged bool, decision, note string) (Appeal, error) {
	if decision != AppealUpheld && decision != AppealOverturned {
		return Appeal{}, errs.Field("decision", "%q is not upheld or overturned", decision)
	}
	if utf8.RuneCountInString(note) > 4000 {
		return Appeal{}, errs.Field("note", "must be at most 4000 characters")
	}
	a, err := s.appeal(ctx, reviewID)
	if err != nil {
		return a, err
	}
	if !privileged {
		var lead bool
		if a.BaseID != nil {
			if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM base_members WHERE base_id = $1 AND user_id = $2 AND is_lead)`,
				*a.BaseID, deciderID).Scan(&lead); err != nil {
				return a, db.Error(err, "lead of base %d", *a.BaseID)
			}
		}
		if !lead {
			return a, errs.E(errs.Forbidden, "only the project's admins and the leads of the trainer's base decide appeals")
		}
	}
	if a.ReviewerID == deciderID {
		return a, errs.E(errs.Forbidden, "you rejected this judgment: someone else decides its appeal")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return a, db.Error(err, "decide appeal %d", reviewID)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	now := s.now()
	tag, err := tx.Exec(ctx, `UPDATE appeals SET decision = $2, decided_by = $3, note = $4, decided_at = $5 WHERE review_id = $1 AND decision IS NULL`,
		reviewID, decision, deciderID, note, now)
	if err != nil {
		return a, db.Error(err, "decide appeal %d", reviewID)
	}
	if tag.RowsAffected() != 1 {
		return a, errs.E(errs.Conflict, "this appeal was decided already")
	}
	if decision == AppealOverturned {
		if err := setState(ctx, tx, a.JudgmentID, Accept, now); err != nil {
			return a, db.Error(err, "decide appeal %d", reviewID)
		}
		if _, err := tx.Exec(ctx, `UPDATE reworks SET state = 'overturned', closed_at = $2 WHERE review_id = $1 AND state = 'open'`, reviewID, now); err != nil {
			return a, db.Error(err, "decide appeal %d", reviewID)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return a, db.Error(err, "decide appeal %d", reviewID)
	}
	return s.appeal(ctx, reviewID)
}
