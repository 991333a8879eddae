// Package review is the checking of trainers' campaign judgments by people (issue 14): the
// review stream, accept / reject with a reason / fix and accept, rework (返工) of a rejected
// judgment by its trainer, and appeals. What a review decides is written to
// judgment_checks.review_state (migration 00014), which exports read; the decisions
// themselves, with who made them and why, are kept in reviews (00015). docs/quality.md
// describes the workflow.
package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/rlhf"
)

// Verdicts a reviewer can give.
const (
	Accept = "accepted"
	Reject = "rejected"
	Fix    = "fixed" // the reviewer corrected the judgment: their revision is accepted
)

// Tiers of a batch's inspection (package acceptance): the base's own check (质检) and the
// centre's acceptance (验收).
const (
	TierBase   = "base"
	TierCentre = "centre"
)

// DemoBase is the labelling base `mentor serve --dev` puts the demo trainer in.
const DemoBase = "演示基地"

// leaseFor is how long a judgment shown to one reviewer is kept from the others.
const leaseFor = 5 * time.Minute

// Store keeps reviews, reworks and appeals.
type Store struct {
	pool *pgxpool.Pool
	live *rlhf.Store // stores a fix and a resubmission as judgment revisions
	now  func() time.Time
}

// NewStore returns a Store. live is the judgment store whose revision path a reviewer's fix
// and a trainer's resubmission go through.
func NewStore(pool *pgxpool.Pool, live *rlhf.Store, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{pool: pool, live: live, now: now}
}

// Reason is one reason a reviewer may reject a judgment for, in both languages.
type Reason struct {
	Code      string `json:"code" db:"code"`
	LabelEn   string `json:"label_en" db:"label_en"`
	LabelZh   string `json:"label_zh" db:"label_zh"`
	NeedsText bool   `json:"needs_text" db:"needs_text"` // the reviewer must say more ("other")
}

// DefaultReasons are a project's reasons until it sets its own.
var DefaultReasons = []Reason{
	{Code: "wrong_ranking", LabelEn: "Wrong ranking", LabelZh: "排序错误"},
	{Code: "hallucination_missed", LabelEn: "Hallucination missed", LabelZh: "漏标幻觉"},
	{Code: "guideline_violated", LabelEn: "Guideline violated", LabelZh: "违反标注规范"},
	{Code: "careless", LabelEn: "Careless", LabelZh: "敷衍草率"},
	{Code: "other", LabelEn: "Other", LabelZh: "其他", NeedsText: true},
}

// Reasons returns a project's rejection reasons: its own list, or the defaults.
func (s *Store) Reasons(ctx context.Context, projectID int64) ([]Reason, error) {
	rows, _ := s.pool.Query(ctx, `SELECT code, label_en, label_zh, needs_text FROM review_reasons WHERE project_id = $1 ORDER BY position`, projectID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Reason])
	if err != nil {
		return nil, db.Error(err, "review reasons of project %d", projectID)
	}
	if len(out) == 0 {
		return DefaultReasons, nil
	}
	return out, nil
}

// SetReasons replaces a project's rejection reasons. Reviews already given keep their codes.
func (s *Store) SetReasons(ctx context.Context, projectID int64, reasons []Reason) error {
	if len(reasons) == 0 || len(reasons) > 30 {
		return errs.Field("reasons", "give 1 to 30 reasons, got %d", len(reasons))
	}
	seen := map[string]bool{}
	for i, r := range reasons {
		at := fmt.Sprintf("reasons[%d]", i)
		switch {
		case !validCode(r.Code):
			return errs.Field(at+".code", "%q must be 1 to 40 lowercase letters, digits or underscores, starting with a letter", r.Code)
		case seen[r.Code]:
			return errs.Field(at+".code", "%q is listed twice", r.Code)
		case strings.TrimSpace(r.LabelEn) == "":
			return errs.Field(at+".label_en", "must not be empty")
		case strings.TrimSpace(r.LabelZh) == "":
			return errs.Field(at+".label_zh", "must not be empty")
		}
		seen[r.Code] = true
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return db.Error(err, "set review reasons of project %d", projectID)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	if _, err := tx.Exec(ctx, `DELETE FROM review_reasons WHERE project_id = $1`, projectID); err != nil {
		return db.Error(err, "set review reasons of project %d", projectID)
	}
	for i, r := range reasons {
		if _, err := tx.Exec(ctx, `INSERT INTO review_reasons (project_id, code, label_en, label_zh, needs_text, position) VALUES ($1, $2, $3, $4, $5, $6)`,
			projectID, r.Code, r.LabelEn, r.LabelZh, r.NeedsText, i); err != nil {
			return db.Error(err, "set review reasons of project %d", projectID)
		}
	}
	return db.Error(tx.Commit(ctx), "set review reasons of project %d", projectID)
}

func validCode(c string) bool {
	if c == "" || len(c) > 40 || c[0] < 'a' || c[0] > 'z' {
		return false
	}
	for _, r := range c {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// Scope is what one reviewer may review in a campaign: everything (the project's reviewers
// and admins), or only their own base's trainers (a base lead).
type Scope struct {
	ProjectID  int64
	CampaignID int64
	BaseID     *int64 // a lead's base; nil for the project's reviewers
}

// ErrNotReviewer answers someone who is neither a reviewer of the project nor a lead of a
// base working on the campaign. Which judgments a person reviews depends on data (the base
// they lead), not on their role alone, so it is not the route table's 403: their part of the
// review stream is empty.
var ErrNotReviewer = errs.E(errs.NotFound, "nothing here is yours to review: the project's reviewers and admins review its campaigns, and a base's leads their base's work")

// ScopeFor returns what userID may review in a campaign. privileged is true for the
// project's reviewers and admins (and instance admins); anyone else must lead a base.
func (s *Store) ScopeFor(ctx context.Context, campaignID, userID int64, privileged bool) (Scope, error) {
	sc := Scope{CampaignID: campaignID}
	var base *int64
	// A lead's scope is their base's work in the campaign, whether or not the campaign names
	// its bases (one that names none is open to every base).
	err := s.pool.QueryRow(ctx, `SELECT c.project_id, (SELECT m.base_id FROM base_members m WHERE m.user_id = $2 AND m.is_lead)
		FROM campaigns c WHERE c.id = $1`, campaignID, userID).Scan(&sc.ProjectID, &base)
	if err != nil {
		return sc, db.Error(err, "campaign %d", campaignID)
	}
	if privileged {
		return sc, nil
	}
	if base == nil {
		return sc, ErrNotReviewer
	}
	sc.BaseID = base
	return sc, nil
}

// Item is one judgment to review: the trainer's marks; the server adds the turn's candidates
// and passages.
type Item struct {
	JudgmentID  int64             `json:"judgment_id"`
	CampaignID  int64             `json:"campaign_id"`
	TurnID      int64             `json:"turn_id"`
	PersonaID   int64             `json:"persona_id"`
	Question    string            `json:"question"` // the turn's user message
	TrainerID   int64             `json:"trainer_id"`
	Trainer     string            `json:"trainer"` // display name
	BaseID      *int64            `json:"base_id"`
	Judgment    rlhf.JudgmentView `json:"judgment"`
	EditContent *string           `json:"edit_content"` // the trainer's corrected reply, if any
	GoldContent *string           `json:"gold_content"` // the trainer's gold reply, if any
	// Rework is the earlier rejection this judgment answers, when it is a resubmission.
	Rework *Rejection `json:"rework"`
	// LeaseUntil is until when the judgment is kept for this reviewer.
	LeaseUntil time.Time `json:"lease_until"`
}

// Rejection is a rejection as its trainer and the next reviewer see it.
type Rejection struct {
	ReviewID   int64     `json:"review_id"`
	ReasonCode string    `json:"reason_code"`
	ReasonText string    `json:"reason_text"`
	Comment    string    `json:"comment"`
	At         time.Time `json:"at"`
}

// ErrQueueEmpty is the answer when nothing is left to review.
var ErrQueueEmpty = errs.E(errs.NotFound, "nothing is waiting for review here")

// Next takes the oldest judgment waiting for review in the scope (or in one batch of it),
// keeps it for the reviewer for a few minutes, and returns it. A reviewer never gets their
// own work. It is one index range read (review_queue_campaign, _base or _batch) and one
// update, whatever has been reviewed before (BenchmarkReviewNext).
func (s *Store) Next(ctx context.Context, sc Scope, batchID *int64, reviewerID int64) (Item, error) {
	now := s.now()
	where, args := `q.campaign_id = $1`, []any{sc.CampaignID, reviewerID, now, now.Add(leaseFor)}
	order := `q.judgment_id`
	switch {
	case batchID != nil:
		where, order = `q.batch_id = $5 AND q.campaign_id = $1`, `q.batch_id, q.judgment_id`
		args = append(args, *batchID)
		if sc.BaseID != nil {
			where += ` AND q.base_id = $6`
			args = append(args, *sc.BaseID)
		}
	case sc.BaseID != nil:
		where, order = `q.campaign_id = $1 AND q.base_id = $5`, `q.campaign_id, q.base_id, q.judgment_id`
		args = append(args, *sc.BaseID)
	}
	var id int64
	err := s.pool.QueryRow(ctx, `UPDATE review_queue SET taken_by = $2, taken_until = $4 WHERE judgment_id = (
			SELECT q.judgment_id FROM review_queue q
			WHERE `+where+` AND q.trainer_id <> $2 AND (q.taken_until IS NULL OR q.taken_until < $3 OR q.taken_by = $2)
			ORDER BY `+order+` LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING judgment_id`, args...).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, ErrQueueEmpty
	}
	if err != nil {
		return Item{}, db.Error(err, "next judgment to review in campaign %d", sc.CampaignID)
	}
	it, err := s.item(ctx, id)
	it.LeaseUntil = now.Add(leaseFor)
	return it, err
}

// Item returns one judgment as a reviewer sees it.
func (s *Store) Item(ctx context.Context, judgmentID int64) (Item, error) {
	return s.item(ctx, judgmentID)
}

func (s *Store) item(ctx context.Context, id int64) (Item, error) {
	var it Item
	j := &it.Judgment
	// One round trip: the judgment, its turn's question, and the rejection it answers when it
	// is a resubmission (next-item latency is a benchmark target).
	var rw struct {
		id                  *int64
		code, text, comment *string
		at                  *time.Time
	}
	err := s.pool.QueryRow(ctx, `SELECT j.id, j.turn_id, cv.persona_id, um.content, j.trainer_id, u.display_name,
			coalesce(q.campaign_id, cl.campaign_id, rw.campaign_id), coalesce(q.base_id, cl.base_id),
			j.revision, j.ranking, j.ratings, j.flags, j.comment, j.edited_candidate_id, j.edited_message_id, j.edit_diff,
			j.gold_message_id, j.continuation_message_id, j.time_spent_ms, em.content, gm.content,
			coalesce((SELECT array_agg(jc.chunk_id ORDER BY jc.n) FROM judgment_citations jc WHERE jc.judgment_id = j.id), '{}'),
			rv.id, rv.reason_code, rv.reason_text, rv.comment, rv.created_at
		FROM judgments j
		JOIN turns t ON t.id = j.turn_id
		JOIN conversations cv ON cv.id = t.conversation_id
		JOIN messages um ON um.id = t.user_message_id
		JOIN users u ON u.id = j.trainer_id
		LEFT JOIN review_queue q ON q.judgment_id = j.id
		LEFT JOIN claims cl ON cl.judgment_id = j.id
		LEFT JOIN reworks rw ON rw.resubmitted_id = j.id
		LEFT JOIN reviews rv ON rv.id = rw.review_id
		LEFT JOIN messages em ON em.id = j.edited_message_id
		LEFT JOIN messages gm ON gm.id = j.gold_message_id
		WHERE j.id = $1`, id).Scan(&it.JudgmentID, &it.TurnID, &it.PersonaID, &it.Question, &it.TrainerID, &it.Trainer,
		&it.CampaignID, &it.BaseID, &j.Revision, &j.Ranking, &j.Ratings, &j.Flags, &j.Comment, &j.EditedCandidateID, &j.EditedMessageID,
		&j.EditDiff, &j.GoldMessageID, &j.ContinuationMessageID, &j.TimeSpentMillis, &it.EditContent, &it.GoldContent, &j.Citations,
		&rw.id, &rw.code, &rw.text, &rw.comment, &rw.at)
	if err != nil {
		return it, db.Error(err, "judgment %d", id)
	}
	j.ID = id
	if rw.id != nil {
		it.Rework = &Rejection{ReviewID: *rw.id, ReasonCode: deref(rw.code), ReasonText: deref(rw.text), Comment: deref(rw.comment), At: *rw.at}
	}
	return it, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Decision is what a reviewer decided about one judgment.
type Decision struct {
	JudgmentID int64  `json:"judgment_id"`
	Verdict    string `json:"verdict"`     // accepted, rejected or fixed
	ReasonCode string `json:"reason_code"` // for a rejection: one of the project's reasons
	ReasonText string `json:"reason_text"` // what the reviewer adds; required by a reason that needs text
	Comment    string `json:"comment"`     // for the trainer
	// Fix is the reviewer's corrected judgment, for verdict fixed: the body POST
	// /turns/{turn}/judgments takes. It is stored as the reviewer's own revision.
	Fix *rlhf.Submission `json:"fix"`

	// Set by package acceptance when the review inspects a batch's sample.
	BatchID *int64 `json:"-"`
	Tier    string `json:"-"`
}

// Decided is what a decision stored.
type Decided struct {
	ReviewID int64  `json:"review_id"`
	Verdict  string `json:"verdict"`
	// FixedJudgmentID is the reviewer's revision, for a fix.
	FixedJudgmentID *int64 `json:"fixed_judgment_id"`
	// Rework is true when the judgment went back to its trainer.
	Rework bool `json:"rework"`
}

// target is a judgment as a decision about it is checked.
type target struct {
	projectID, campaignID, trainerID, turnID int64
	baseID                                   *int64
	queued                                   bool
}

func (s *Store) target(ctx context.Context, judgmentID int64) (target, error) {
	var t target
	err := s.pool.QueryRow(ctx, `SELECT c.project_id, c.id, j.trainer_id, j.turn_id, coalesce(q.base_id, cl.base_id), q.judgment_id IS NOT NULL
		FROM judgments j
		LEFT JOIN review_queue q ON q.judgment_id = j.id
		LEFT JOIN claims cl ON cl.judgment_id = j.id
		LEFT JOIN reworks rw ON rw.resubmitted_id = j.id
		JOIN campaigns c ON c.id = coalesce(q.campaign_id, cl.campaign_id, rw.campaign_id)
		WHERE j.id = $1`, judgmentID).Scan(&t.projectID, &t.campaignID, &t.trainerID, &t.turnID, &t.baseID, &t.queued)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, errs.Field("judgment_id", "judgment %d is not a campaign's judgment", judgmentID)
	}
	return t, db.Error(err, "judgment %d", judgmentID)
}

// check refuses a decision the reviewer may not make, naming the field that was wrong.
func (s *Store) check(ctx context.Context, sc Scope, reviewerID int64, d *Decision) (target, error) {
	t, err := s.target(ctx, d.JudgmentID)
	if err != nil {
		return t, err
	}
	switch {
	case t.projectID != sc.ProjectID:
		return t, errs.Field("judgment_id", "judgment %d belongs to another project: review it from that project", d.JudgmentID)
	case t.campaignID != sc.CampaignID:
		return t, errs.Field("judgment_id", "judgment %d belongs to another campaign of this project", d.JudgmentID)
	case sc.BaseID != nil && (t.baseID == nil || *t.baseID != *sc.BaseID):
		return t, errs.Field("judgment_id", "judgment %d is not your base's work", d.JudgmentID)
	case t.trainerID == reviewerID:
		return t, errs.Field("judgment_id", "judgment %d is your own: someone else reviews it", d.JudgmentID)
	case d.BatchID == nil && !t.queued:
		return t, errs.E(errs.Conflict, "judgment %d is not waiting for review: it was reviewed already", d.JudgmentID)
	}
	if utf8.RuneCountInString(d.Comment) > 4000 {
		return t, errs.Field("comment", "must be at most 4000 characters")
	}
	if utf8.RuneCountInString(d.ReasonText) > 4000 {
		return t, errs.Field("reason_text", "must be at most 4000 characters")
	}
	switch d.Verdict {
	case Accept:
		if d.ReasonCode != "" || d.Fix != nil {
			return t, errs.Field("verdict", "an acceptance has no reason_code and no fix")
		}
	case Reject:
		reasons, err := s.Reasons(ctx, t.projectID)
		if err != nil {
			return t, err
		}
		i := slices.IndexFunc(reasons, func(r Reason) bool { return r.Code == d.ReasonCode })
		if i < 0 {
			codes := make([]string, len(reasons))
			for k, r := range reasons {
				codes[k] = r.Code
			}
			return t, errs.Field("reason_code", "%q is not one of this project's reasons: %s", d.ReasonCode, strings.Join(codes, ", "))
		}
		if reasons[i].NeedsText && strings.TrimSpace(d.ReasonText) == "" {
			return t, errs.Field("reason_text", "the reason %q needs a few words of explanation", d.ReasonCode)
		}
		if d.Fix != nil {
			return t, errs.Field("fix", "a rejection carries no fix: use the verdict fixed to correct and accept")
		}
	case Fix:
		if d.Fix == nil {
			return t, errs.Field("fix", "give the corrected judgment")
		}
	default:
		return t, errs.Field("verdict", "%q is not accepted, rejected or fixed", d.Verdict)
	}
	return t, nil
}

// Decide records a reviewer's decision about a judgment and what follows from it: the
// judgment's review state, its leaving the queue, and for a rejection its rework. A fix is
// stored through the judgment store's revision path as the reviewer's own judgment of the
// turn, accepted, in the same transaction as the review; the trainer's revision stays, as
// rejected (the fix supersedes it in "accepted only" exports) with nothing for them to
// redo. extra runs in the same transaction (package acceptance records its inspection
// there).
func (s *Store) Decide(ctx context.Context, sc Scope, reviewerID int64, d Decision, extra func(ctx context.Context, tx pgx.Tx, reviewID int64, defect bool) error) (Decided, error) {
	t, err := s.check(ctx, sc, reviewerID, &d)
	if err != nil {
		return Decided{}, err
	}
	out := Decided{Verdict: d.Verdict}
	write := func(ctx context.Context, tx pgx.Tx, fixedID *int64) error {
		now := s.now()
		var reason *string
		if d.Verdict == Reject {
			reason = &d.ReasonCode
		}
		var tier *string
		if d.BatchID != nil {
			tier = &d.Tier
		}
		if err := tx.QueryRow(ctx, `INSERT INTO reviews (judgment_id, campaign_id, reviewer_id, verdict, reason_code, reason_text, comment,
				fixed_judgment_id, batch_id, tier, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			d.JudgmentID, t.campaignID, reviewerID, d.Verdict, reason, d.ReasonText, d.Comment, fixedID, d.BatchID, tier, now).Scan(&out.ReviewID); err != nil {
			return err
		}
		state := Accept
		if d.Verdict != Accept {
			state = Reject
		}
		if err := setState(ctx, tx, d.JudgmentID, state, now); err != nil {
			return err
		}
		if fixedID != nil {
			if err := setState(ctx, tx, *fixedID, Accept, now); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM review_queue WHERE judgment_id = $1`, d.JudgmentID); err != nil {
			return err
		}
		if d.Verdict == Reject {
			out.Rework = true
			if _, err := tx.Exec(ctx, `INSERT INTO reworks (review_id, judgment_id, campaign_id, trainer_id, turn_id, created_at)
				VALUES ($1, $2, $3, $4, $5, $6)`, out.ReviewID, d.JudgmentID, t.campaignID, t.trainerID, t.turnID, now); err != nil {
				return err
			}
		}
		if extra != nil {
			return extra(ctx, tx, out.ReviewID, d.Verdict != Accept)
		}
		return nil
	}
	if d.Verdict == Fix {
		sub := *d.Fix
		sub.InTx = func(ctx context.Context, tx pgx.Tx, judgmentID int64) error {
			out.FixedJudgmentID = &judgmentID
			return write(ctx, tx, &judgmentID)
		}
		res, err := s.live.Submit(ctx, t.turnID, reviewerID, sub)
		if err != nil {
			return Decided{}, err
		}
		if res.Replayed {
			return Decided{}, errs.E(errs.Conflict, "this fix's idempotency key was used before: send a new key with each fix")
		}
		return out, nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return out, db.Error(err, "review judgment %d", d.JudgmentID)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	if err := write(ctx, tx, nil); err != nil {
		return out, db.Error(err, "review judgment %d", d.JudgmentID)
	}
	return out, db.Error(tx.Commit(ctx), "review judgment %d", d.JudgmentID)
}

// setState writes review_state, and only it, of a judgment's checks (the 00014 contract).
func setState(ctx context.Context, tx pgx.Tx, judgmentID int64, state string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO judgment_checks (judgment_id, review_state, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (judgment_id) DO UPDATE SET review_state = excluded.review_state, updated_at = excluded.updated_at`, judgmentID, state, now)
	return err
}

// QueueProjectOf queues ProjectOf's lookup on b, for the access check's one round trip.
func (s *Store) QueueProjectOf(b *pgx.Batch, reviewID int64) *db.Pending[int64] {
	return db.Queue(b, pgx.RowTo[int64], errs.P("review %d", reviewID),
		`SELECT c.project_id FROM reviews r JOIN campaigns c ON c.id = r.campaign_id WHERE r.id = $1`, reviewID)
}

// ProjectOf returns the project a review belongs to, for access checks.
func (s *Store) ProjectOf(ctx context.Context, reviewID int64) (int64, error) {
	var projectID int64
	err := s.pool.QueryRow(ctx, `SELECT c.project_id FROM reviews r JOIN campaigns c ON c.id = r.campaign_id WHERE r.id = $1`, reviewID).Scan(&projectID)
	return projectID, db.Error(err, "review %d", reviewID)
}
