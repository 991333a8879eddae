package review

// A judgment's revisions, readable after the fact (issue 14): every revision of one
// trainer's judgment of a turn, and the reviewers' fixes of them, in the order they were
// made, each with the review decisions about it and any appeal. Nothing here writes: the
// revisions are the judgments rows the trainer's submissions and resubmissions
// (rlhf.Store.Submit, Resubmit) and the reviewers' fixes (Decide, verdict fixed) stored.

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/rlhf"
)

// Authors of a revision.
const (
	AuthorTrainer  = "trainer"  // the trainer whose judgment it is: a submission or a resubmission
	AuthorReviewer = "reviewer" // a reviewer's fix, stored as the reviewer's own judgment of the turn
)

// Person is someone a revision or a decision is attributed to.
type Person struct {
	ID   int64  `json:"id"`
	Name string `json:"name"` // display name
}

// Revisions is one trainer's judgment of a turn through all its revisions.
type Revisions struct {
	TurnID     int64  `json:"turn_id"`
	PersonaID  int64  `json:"persona_id"`
	ProjectID  int64  `json:"project_id"`
	CampaignID *int64 `json:"campaign_id"` // the campaign the judgment was made in; null for open training
	Question   string `json:"question"`    // the turn's user message
	Trainer    Person `json:"trainer"`
	BaseID     *int64 `json:"base_id"` // the trainer's labelling base, if any
	// Revisions are oldest first; consecutive ones are what the page compares.
	Revisions []Revision `json:"revisions"`
}

// Revision is one stored judgment in the chain.
type Revision struct {
	Seq         int    `json:"seq"` // 1 for the first, in the order made
	JudgmentID  int64  `json:"judgment_id"`
	Revision    int    `json:"revision"`     // the author's own revision number of the turn
	AuthorRole  string `json:"author_role"`  // trainer or reviewer
	Author      Person `json:"author"`       // who made it: the trainer, or the reviewer who fixed
	FixOf       *int64 `json:"fix_of"`       // for a reviewer's fix: the trainer's revision it corrects
	ReviewState string `json:"review_state"` // unreviewed, accepted or rejected (judgment_checks)
	// Resubmits is the rejection this revision answers, for a trainer's resubmission.
	Resubmits *int64             `json:"resubmits"`
	CreatedAt time.Time          `json:"created_at"`
	Ranking   json.RawMessage    `json:"ranking"` // candidate ids, best first; ties share a group
	Ratings   json.RawMessage    `json:"ratings"` // per candidate and dimension
	Flags     json.RawMessage    `json:"flags"`   // per candidate
	Comment   string             `json:"comment"`
	Edit      *RevisionEdit      `json:"edit"`      // the corrected reply, if any
	Gold      *string            `json:"gold"`      // the gold reply, if any
	Reviews   []RevisionDecision `json:"reviews"`   // the decisions about it, oldest first
	Citations []int64            `json:"citations"` // chunk ids the gold reply cites
}

// RevisionEdit is a revision's corrected reply.
type RevisionEdit struct {
	CandidateID int64  `json:"candidate_id"` // the candidate corrected
	Content     string `json:"content"`      // the corrected text
}

// RevisionDecision is one review decision about a revision, with any appeal of it.
type RevisionDecision struct {
	ReviewID   int64           `json:"review_id"`
	Verdict    string          `json:"verdict"` // accepted, rejected or fixed
	Reviewer   Person          `json:"reviewer"`
	ReasonCode string          `json:"reason_code"` // for a rejection
	ReasonEn   string          `json:"reason_en"`   // the reason's label in English
	ReasonZh   string          `json:"reason_zh"`   // and in Chinese
	ReasonText string          `json:"reason_text"` // what the reviewer added to the reason
	Comment    string          `json:"comment"`     // the reviewer's comment for the trainer
	Tier       *string         `json:"tier"`        // base or centre, when it inspected a batch's sample
	BatchID    *int64          `json:"batch_id"`
	FixedID    *int64          `json:"fixed_judgment_id"` // for a fix: the reviewer's revision
	At         time.Time       `json:"at"`
	Appeal     *RevisionAppeal `json:"appeal"` // the trainer's appeal of a rejection, if any
}

// RevisionAppeal is a trainer's appeal of a rejection and its decision.
type RevisionAppeal struct {
	Reason    string     `json:"reason"` // the trainer's
	At        time.Time  `json:"at"`
	State     string     `json:"state"` // pending, upheld or overturned
	DecidedBy *Person    `json:"decided_by"`
	Note      string     `json:"note"` // the decider's
	DecidedAt *time.Time `json:"decided_at"`
}

// ErrNoJudgment answers a judgment that does not exist and one the caller may not read
// alike, so that an outsider cannot learn which ids exist.
func ErrNoJudgment(id int64) error { return errs.E(errs.NotFound, "no judgment %d", id) }

// Revisions returns the revisions of the trainer's judgment judgmentID belongs to: given
// any of the trainer's revisions or a reviewer's fix of one, the same chain. A side-swap
// repeat (rlhf.DataSQL) is not a revision of what the trainer thinks and is left out, as
// exports leave it out: showing it would also tell the trainer which items were repeats.
func (s *Store) Revisions(ctx context.Context, judgmentID int64) (Revisions, error) {
	var out Revisions
	// The chain's owner: the judgment's trainer, or for a fix the trainer of the judgment
	// it corrects.
	err := s.pool.QueryRow(ctx, `SELECT coalesce(o.turn_id, j.turn_id), coalesce(o.trainer_id, j.trainer_id)
		FROM judgments j
		LEFT JOIN reviews fx ON fx.fixed_judgment_id = j.id
		LEFT JOIN judgments o ON o.id = fx.judgment_id
		WHERE j.id = $1`, judgmentID).Scan(&out.TurnID, &out.Trainer.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, ErrNoJudgment(judgmentID)
	}
	if err != nil {
		return out, db.Error(err, "judgment %d", judgmentID)
	}
	err = s.pool.QueryRow(ctx, `SELECT cv.persona_id, p.project_id, um.content, u.display_name, m.base_id,
			(SELECT coalesce(cl.campaign_id, q.campaign_id, rw.campaign_id) FROM judgments j
			 LEFT JOIN claims cl ON cl.judgment_id = j.id LEFT JOIN review_queue q ON q.judgment_id = j.id
			 LEFT JOIN reworks rw ON rw.resubmitted_id = j.id
			 WHERE j.turn_id = t.id AND j.trainer_id = u.id AND coalesce(cl.campaign_id, q.campaign_id, rw.campaign_id) IS NOT NULL
			 ORDER BY j.revision LIMIT 1)
		FROM turns t JOIN conversations cv ON cv.id = t.conversation_id JOIN personas p ON p.id = cv.persona_id
		JOIN messages um ON um.id = t.user_message_id, users u LEFT JOIN base_members m ON m.user_id = u.id
		WHERE t.id = $1 AND u.id = $2`, out.TurnID, out.Trainer.ID).
		Scan(&out.PersonaID, &out.ProjectID, &out.Question, &out.Trainer.Name, &out.BaseID, &out.CampaignID)
	if err != nil {
		return out, db.Error(err, "judgment %d", judgmentID)
	}
	// The trainer's revisions and the fixes of them, in the order made (a fix comes after
	// the revision it corrects: it was stored in the review of it).
	rows, err := s.pool.Query(ctx, `WITH mine AS (
			SELECT j.id FROM judgments j WHERE j.turn_id = $1 AND j.trainer_id = $2 AND `+rlhf.DataSQL+`),
		chain AS (
			SELECT id, NULL::bigint AS fix_of FROM mine
			UNION ALL
			SELECT rv.fixed_judgment_id, rv.judgment_id FROM reviews rv JOIN mine ON mine.id = rv.judgment_id WHERE rv.fixed_judgment_id IS NOT NULL)
		SELECT j.id, j.revision, j.trainer_id, u.display_name, chain.fix_of, coalesce(jc.review_state, 'unreviewed'),
			(SELECT rw.review_id FROM reworks rw WHERE rw.resubmitted_id = j.id), j.created_at, j.ranking, j.ratings, j.flags, j.comment,
			j.edited_candidate_id, em.content, gm.content,
			coalesce((SELECT array_agg(c.chunk_id ORDER BY c.n) FROM judgment_citations c WHERE c.judgment_id = j.id), '{}')
		FROM chain JOIN judgments j ON j.id = chain.id JOIN users u ON u.id = j.trainer_id
		LEFT JOIN judgment_checks jc ON jc.judgment_id = j.id
		LEFT JOIN messages em ON em.id = j.edited_message_id
		LEFT JOIN messages gm ON gm.id = j.gold_message_id
		ORDER BY j.created_at, j.id`, out.TurnID, out.Trainer.ID)
	if err != nil {
		return out, db.Error(err, "revisions of judgment %d", judgmentID)
	}
	var ids []int64
	for rows.Next() {
		var r Revision
		var editCand *int64
		var editText *string
		if err := rows.Scan(&r.JudgmentID, &r.Revision, &r.Author.ID, &r.Author.Name, &r.FixOf, &r.ReviewState, &r.Resubmits, &r.CreatedAt,
			&r.Ranking, &r.Ratings, &r.Flags, &r.Comment, &editCand, &editText, &r.Gold, &r.Citations); err != nil {
			rows.Close()
			return out, db.Error(err, "revisions of judgment %d", judgmentID)
		}
		r.AuthorRole = AuthorTrainer
		if r.FixOf != nil {
			r.AuthorRole = AuthorReviewer
		}
		if editCand != nil {
			r.Edit = &RevisionEdit{CandidateID: *editCand, Content: deref(editText)}
		}
		r.Reviews = []RevisionDecision{}
		out.Revisions = append(out.Revisions, r)
		ids = append(ids, r.JudgmentID)
	}
	if err := rows.Err(); err != nil {
		return out, db.Error(err, "revisions of judgment %d", judgmentID)
	}
	if !slices.Contains(ids, judgmentID) {
		// A side-swap repeat: not part of any chain the caller may be shown.
		return out, ErrNoJudgment(judgmentID)
	}
	for i := range out.Revisions {
		out.Revisions[i].Seq = i + 1
	}
	return out, s.decisions(ctx, &out, ids)
}

// decisions fills in each revision's review decisions, with their reasons' labels in both
// languages and any appeal.
func (s *Store) decisions(ctx context.Context, out *Revisions, ids []int64) error {
	reasons, err := s.Reasons(ctx, out.ProjectID)
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, `SELECT rv.judgment_id, rv.id, rv.verdict, rv.reviewer_id, ru.display_name, coalesce(rv.reason_code, ''),
			rv.reason_text, rv.comment, rv.tier, rv.batch_id, rv.fixed_judgment_id, rv.created_at,
			a.reason, a.created_at, coalesce(a.decision, 'pending'), a.decided_by, du.display_name, a.note, a.decided_at
		FROM reviews rv JOIN users ru ON ru.id = rv.reviewer_id
		LEFT JOIN appeals a ON a.review_id = rv.id
		LEFT JOIN users du ON du.id = a.decided_by
		WHERE rv.judgment_id = ANY($1) ORDER BY rv.created_at, rv.id`, ids)
	if err != nil {
		return db.Error(err, "reviews of turn %d", out.TurnID)
	}
	defer rows.Close()
	for rows.Next() {
		var judgmentID int64
		var d RevisionDecision
		var appealReason, appealState, note, decider *string
		var appealAt, decidedAt *time.Time
		var deciderID *int64
		if err := rows.Scan(&judgmentID, &d.ReviewID, &d.Verdict, &d.Reviewer.ID, &d.Reviewer.Name, &d.ReasonCode, &d.ReasonText, &d.Comment,
			&d.Tier, &d.BatchID, &d.FixedID, &d.At, &appealReason, &appealAt, &appealState, &deciderID, &decider, &note, &decidedAt); err != nil {
			return db.Error(err, "reviews of turn %d", out.TurnID)
		}
		if i := slices.IndexFunc(reasons, func(r Reason) bool { return r.Code == d.ReasonCode }); d.ReasonCode != "" {
			// A code the project has since dropped keeps its code as its label.
			d.ReasonEn, d.ReasonZh = d.ReasonCode, d.ReasonCode
			if i >= 0 {
				d.ReasonEn, d.ReasonZh = reasons[i].LabelEn, reasons[i].LabelZh
			}
		}
		if appealReason != nil {
			d.Appeal = &RevisionAppeal{Reason: *appealReason, At: *appealAt, State: deref(appealState), Note: deref(note), DecidedAt: decidedAt}
			if deciderID != nil {
				d.Appeal.DecidedBy = &Person{ID: *deciderID, Name: deref(decider)}
			}
		}
		for k := range out.Revisions {
			if out.Revisions[k].JudgmentID == judgmentID {
				out.Revisions[k].Reviews = append(out.Revisions[k].Reviews, d)
			}
		}
	}
	return db.Error(rows.Err(), "reviews of turn %d", out.TurnID)
}

// MayRead reports whether userID may read these revisions: the trainer themself, and
// (privileged) the project's reviewers and admins; a lead of the trainer's base when they
// are a member of the project (member). Everyone else is told the judgment does not exist.
func (s *Store) MayRead(ctx context.Context, r Revisions, userID int64, privileged, member bool) (bool, error) {
	if userID == r.Trainer.ID || privileged {
		return true, nil
	}
	if !member || r.BaseID == nil {
		return false, nil
	}
	var lead bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM base_members WHERE base_id = $1 AND user_id = $2 AND is_lead)`, *r.BaseID, userID).Scan(&lead)
	return lead, db.Error(err, "lead of base %d", *r.BaseID)
}

// FixedJudgment is a reviewer's fix of one of the trainer's judgments, as My work lists it: the
// trainer's revision was corrected and the correction accepted, with nothing for them to
// redo, so it is not a rework; the revisions page shows both.
type FixedJudgment struct {
	ReviewID        int64     `json:"review_id" db:"review_id"`
	JudgmentID      int64     `json:"judgment_id" db:"judgment_id"`             // the trainer's revision that was fixed
	FixedJudgmentID int64     `json:"fixed_judgment_id" db:"fixed_judgment_id"` // the reviewer's revision
	CampaignID      int64     `json:"campaign_id" db:"campaign_id"`
	Campaign        string    `json:"campaign" db:"campaign"`
	TurnID          int64     `json:"turn_id" db:"turn_id"`
	Question        string    `json:"question" db:"question"`
	Reviewer        string    `json:"reviewer" db:"reviewer"` // display name
	Comment         string    `json:"comment" db:"comment"`   // the reviewer's comment for the trainer
	FixedAt         time.Time `json:"fixed_at" db:"fixed_at"`
}

// Fixes returns the last 50 fixes of a trainer's judgments, newest first.
func (s *Store) Fixes(ctx context.Context, trainerID int64) ([]FixedJudgment, error) {
	rows, _ := s.pool.Query(ctx, `SELECT rv.id AS review_id, rv.judgment_id, rv.fixed_judgment_id, rv.campaign_id, c.name AS campaign, j.turn_id,
			um.content AS question, u.display_name AS reviewer, rv.comment, rv.created_at AS fixed_at
		FROM reviews rv
		JOIN judgments j ON j.id = rv.judgment_id
		JOIN campaigns c ON c.id = rv.campaign_id
		JOIN turns t ON t.id = j.turn_id
		JOIN messages um ON um.id = t.user_message_id
		JOIN users u ON u.id = rv.reviewer_id
		WHERE j.trainer_id = $1 AND rv.verdict = 'fixed'
		ORDER BY rv.created_at DESC, rv.id DESC LIMIT 50`, trainerID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[FixedJudgment])
	return out, db.Error(err, "fixes of user %d", trainerID)
}
