package campaign

// Quality control, part B (issue 14; docs/quality.md): a campaign's check settings, gold
// items (honeypots) and what happens to a judgment in its own transaction: the speed floor,
// honeypot scoring and pausing a trainer whose accuracy fell too low. The rules themselves
// are package honeypot's; this file applies them where claims live.

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/honeypot"
	"github.com/mentor-ai/mentor/rlhf"
	"github.com/mentor-ai/mentor/webhook"
)

// Checks are a campaign's quality-control settings.
type Checks struct {
	HoneypotRate      float64 `json:"honeypot_rate"`      // share of claims dealt a gold item, 0–0.5; doubled (up to 0.5) in a trainer's first 50
	HoneypotThreshold float64 `json:"honeypot_threshold"` // accuracy over the last 20 gold items (after 10) below which a trainer is paused
	SpeedFloorMS      int     `json:"speed_floor_ms"`     // a judgment faster than this is speed-flagged…
	SpeedFloorShare   float64 `json:"speed_floor_share"`  // …or faster than this share of the campaign's median time, whichever is longer
	MedianMS          *int    `json:"median_ms"`          // the campaign's median time per item, as the last agreement refresh found it
	AgreementFloor    float64 `json:"agreement_floor"`    // items whose agreement (Kendall's W) is below this get more judgments
	ExtraBudget       int     `json:"extra_budget"`       // extra judgments adaptive overlap may ask for in all; past it, items go to a reviewer
	ExtraUsed         int     `json:"extra_used"`         // extra judgments asked for so far
	// SwapRate is, in a blind pairwise campaign, the share of claims that deal a pair the
	// trainer judged before again with its sides swapped (swap.go), 0–0.5; other task kinds
	// ignore it.
	SwapRate float64 `json:"swap_rate"`
}

// ChecksInput sets a campaign's checks; an absent field keeps its value (or the default,
// for a new campaign).
type ChecksInput struct {
	HoneypotRate      *float64 `json:"honeypot_rate"`
	HoneypotThreshold *float64 `json:"honeypot_threshold"`
	SpeedFloorMS      *int     `json:"speed_floor_ms"`
	SpeedFloorShare   *float64 `json:"speed_floor_share"`
	AgreementFloor    *float64 `json:"agreement_floor"`
	ExtraBudget       *int     `json:"extra_budget"`
	SwapRate          *float64 `json:"swap_rate"`
}

const checksColumns = `honeypot_rate, honeypot_threshold, speed_floor_ms, speed_floor_share, median_ms, agreement_floor, extra_budget, extra_used, swap_rate`

func badShare(v *float64, most float64) bool {
	return v != nil && (math.IsNaN(*v) || *v < 0 || *v > most)
}

func (in ChecksInput) validate() error {
	switch {
	case badShare(in.HoneypotRate, honeypot.MaxRate):
		return errs.Field("checks.honeypot_rate", "must be between 0%% and 50%%, got %g%%", *in.HoneypotRate*100)
	case badShare(in.HoneypotThreshold, 1):
		return errs.Field("checks.honeypot_threshold", "must be between 0%% and 100%%, got %g%%", *in.HoneypotThreshold*100)
	case in.SpeedFloorMS != nil && (*in.SpeedFloorMS < 0 || *in.SpeedFloorMS > 3600000):
		return errs.Field("checks.speed_floor_ms", "must be between 0 and 3600000 (an hour), got %d", *in.SpeedFloorMS)
	case badShare(in.SpeedFloorShare, 1):
		return errs.Field("checks.speed_floor_share", "must be between 0%% and 100%%, got %g%%", *in.SpeedFloorShare*100)
	case badShare(in.AgreementFloor, 1):
		return errs.Field("checks.agreement_floor", "must be between 0 and 1, got %g", *in.AgreementFloor)
	case in.ExtraBudget != nil && (*in.ExtraBudget < 0 || *in.ExtraBudget > 1000000):
		return errs.Field("checks.extra_budget", "must be between 0 and 1000000, got %d", *in.ExtraBudget)
	case badShare(in.SwapRate, maxSwapRate):
		return errs.Field("checks.swap_rate", "must be between 0%% and 50%%, got %g%%", *in.SwapRate*100)
	}
	return nil
}

func setChecks(ctx context.Context, tx pgx.Tx, id int64, in ChecksInput) error {
	_, err := tx.Exec(ctx, `UPDATE campaigns SET honeypot_rate = coalesce($2, honeypot_rate), honeypot_threshold = coalesce($3, honeypot_threshold),
			speed_floor_ms = coalesce($4, speed_floor_ms), speed_floor_share = coalesce($5, speed_floor_share),
			agreement_floor = coalesce($6, agreement_floor), extra_budget = coalesce($7, extra_budget), swap_rate = coalesce($8, swap_rate),
			updated_at = now()
		WHERE id = $1`, id, in.HoneypotRate, in.HoneypotThreshold, in.SpeedFloorMS, in.SpeedFloorShare, in.AgreementFloor, in.ExtraBudget, in.SwapRate)
	return err
}

// SetChecks changes a campaign's checks. They apply from the next claim and judgment on.
func (s *Store) SetChecks(ctx context.Context, id int64, in ChecksInput) (Campaign, error) {
	if err := in.validate(); err != nil {
		return Campaign{}, err
	}
	if _, err := s.ProjectOf(ctx, id); err != nil {
		return Campaign{}, err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return setChecks(ctx, tx, id, in) })
	if err != nil {
		return Campaign{}, db.Error(err, "set campaign %d's checks", id)
	}
	return s.Get(ctx, id)
}

// dealGold claims a gold item the trainer has not seen, or returns 0 when none is left. Gold
// items are any number of trainers' (each once), so they are neither held to k nor counted
// against a base's quota; the order is a per-trainer shuffle, so trainers on the same
// campaign do not all see the same gold item first.
func dealGold(ctx context.Context, tx querier, campaignID, trainerID int64) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT i.id FROM campaign_items i
		WHERE i.campaign_id = $1 AND i.gold AND i.generation = 'ready' AND NOT i.set_aside
			AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.item_id = i.id AND c.trainer_id = $2)
		ORDER BY hashint8extended(i.id, $2) LIMIT 1 FOR UPDATE OF i SKIP LOCKED`, campaignID, trainerID).Scan(&id)
	if err == pgx.ErrNoRows {
		return 0, nil
	}
	return id, err
}

// Pause is a trainer paused in a campaign by their honeypot accuracy.
type Pause struct {
	ID         int64      `json:"id"`
	ProjectID  int64      `json:"project_id"`
	CampaignID int64      `json:"campaign_id"`
	TrainerID  int64      `json:"trainer_id"`
	Login      string     `json:"login"`
	Accuracy   float64    `json:"accuracy"`   // over the gold items that paused them
	GoldItems  int        `json:"gold_items"` // how many that was
	PausedAt   time.Time  `json:"paused_at"`
	LiftedAt   *time.Time `json:"lifted_at"`
}

func errPaused(accuracy float64, n int) error {
	return errs.E(errs.Unprocessable, "you are paused in this campaign: %d of your last %d check items were right (%d%%), below what it asks; a lead has been told and will review your work",
		int(math.Round(accuracy*float64(n))), n, int(math.Round(accuracy*100)))
}

// checkJudgment applies quality control to a new judgment inside its transaction: a
// judgment faster than the floor is speed-flagged, a paused trainer's is held, and a gold
// item's is scored, which may pause the trainer (and hold their unchecked work). It returns
// the pause it made, if any, to be announced after commit.
func checkJudgment(ctx context.Context, tx pgx.Tx, projectID, campaignID, itemID, trainerID, judgmentID int64, now time.Time) (*Pause, error) {
	var gold, paused bool
	var answer, ranking, flags []byte
	var spent, floor int
	var threshold float64
	if err := tx.QueryRow(ctx, `SELECT i.gold, g.answer, j.time_spent_ms, j.ranking, j.flags,
			greatest(c.speed_floor_ms, (c.speed_floor_share * coalesce(c.median_ms, 0))::int), c.honeypot_threshold,
			EXISTS (SELECT 1 FROM trainer_pauses p WHERE p.campaign_id = c.id AND p.trainer_id = $3 AND p.lifted_at IS NULL)
		FROM campaign_items i JOIN campaigns c ON c.id = i.campaign_id LEFT JOIN gold_answers g ON g.item_id = i.id
			CROSS JOIN judgments j WHERE i.id = $1 AND j.id = $2`, itemID, judgmentID, trainerID).
		Scan(&gold, &answer, &spent, &ranking, &flags, &floor, &threshold, &paused); err != nil {
		return nil, err
	}
	if spent < floor || paused {
		if _, err := tx.Exec(ctx, `INSERT INTO judgment_checks (judgment_id, speed_flagged, held, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (judgment_id) DO UPDATE SET speed_flagged = judgment_checks.speed_flagged OR EXCLUDED.speed_flagged,
				held = judgment_checks.held OR EXCLUDED.held, updated_at = EXCLUDED.updated_at`, judgmentID, spent < floor, paused, now); err != nil {
			return nil, err
		}
	}
	if !gold || answer == nil {
		return nil, nil
	}
	var a honeypot.Answer
	var r [][]int64
	var fl map[string][]string
	if err := json.Unmarshal(answer, &a); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(ranking, &r); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(flags, &fl); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO gold_results (judgment_id, campaign_id, item_id, trainer_id, correct, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		judgmentID, campaignID, itemID, trainerID, a.Correct(r, fl), now); err != nil {
		return nil, err
	}
	if paused {
		return nil, nil
	}
	policy := honeypot.DefaultPolicy
	policy.Threshold = threshold
	rows, _ := tx.Query(ctx, `SELECT correct FROM gold_results WHERE campaign_id = $1 AND trainer_id = $2
		ORDER BY created_at DESC, judgment_id DESC LIMIT $3`, campaignID, trainerID, policy.Window)
	recent, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		return nil, err
	}
	accuracy, n, pause := policy.Judge(recent)
	if !pause {
		return nil, nil
	}
	p := Pause{ProjectID: projectID, CampaignID: campaignID, TrainerID: trainerID, Accuracy: accuracy, GoldItems: n, PausedAt: now}
	if err := tx.QueryRow(ctx, `INSERT INTO trainer_pauses (campaign_id, trainer_id, accuracy, gold_items, paused_at) VALUES ($1, $2, $3, $4, $5)
		RETURNING id, (SELECT login FROM users WHERE id = $2)`, campaignID, trainerID, accuracy, n, now).Scan(&p.ID, &p.Login); err != nil {
		return nil, err
	}
	// Everything of theirs in this campaign nobody has reviewed yet is held out of exports
	// until a reviewer looks at it (judgment_checks: review writes review_state).
	if _, err := tx.Exec(ctx, `INSERT INTO judgment_checks (judgment_id, held, updated_at)
			SELECT cl.judgment_id, true, $3 FROM claims cl LEFT JOIN judgment_checks jc ON jc.judgment_id = cl.judgment_id
			WHERE cl.campaign_id = $1 AND cl.trainer_id = $2 AND cl.state = 'submitted' AND coalesce(jc.review_state, 'unreviewed') = 'unreviewed'
		ON CONFLICT (judgment_id) DO UPDATE SET held = true, updated_at = EXCLUDED.updated_at`, campaignID, trainerID, now); err != nil {
		return nil, err
	}
	_, err = webhook.Emit(ctx, tx, projectID, webhook.TrainerPaused, map[string]any{"campaign_id": campaignID, "trainer_id": trainerID,
		"login": p.Login, "accuracy": accuracy, "gold_items": n})
	return &p, err
}

// Pauses lists a campaign's pauses, the ones in force first.
func (s *Store) Pauses(ctx context.Context, campaignID int64) ([]Pause, error) {
	rows, _ := s.pool.Query(ctx, `SELECT p.id, c.project_id, p.campaign_id, p.trainer_id, u.login, p.accuracy, p.gold_items, p.paused_at, p.lifted_at
		FROM trainer_pauses p JOIN users u ON u.id = p.trainer_id JOIN campaigns c ON c.id = p.campaign_id WHERE p.campaign_id = $1
		ORDER BY p.lifted_at IS NOT NULL, p.paused_at DESC`, campaignID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Pause])
	if out == nil {
		out = []Pause{}
	}
	return out, db.Error(err, "pauses of campaign %d", campaignID)
}

// ErrNotPaused is Lift's answer for a trainer who is not paused.
var ErrNotPaused = errs.E(errs.NotFound, "this trainer is not paused in this campaign")

// Lift ends a trainer's pause in a campaign: they may claim again. Their held work stays held
// until it is reviewed: lifting the pause says the trainer may go on, not that what they did
// while careless is good.
func (s *Store) Lift(ctx context.Context, campaignID, trainerID, by int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE trainer_pauses SET lifted_at = $4, lifted_by = $3 WHERE campaign_id = $1 AND trainer_id = $2 AND lifted_at IS NULL`,
		campaignID, trainerID, by, s.now())
	if err != nil {
		return db.Error(err, "lift the pause of trainer %d", trainerID)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotPaused
	}
	return nil
}

// Gold items.

// GoldItem is a campaign item with a known answer, and how trainers did on it.
type GoldItem struct {
	ItemID    int64           `json:"item_id"`
	Question  string          `json:"question"`
	Answer    honeypot.Answer `json:"answer"`
	Source    string          `json:"source"` // expert or promoted
	CreatedBy int64           `json:"created_by"`
	CreatedAt time.Time       `json:"created_at"`
	Answered  int             `json:"answered"` // judgments of it scored
	Correct   int             `json:"correct"`  // of which right
}

// GoldInput makes an item of the campaign a gold item with a known answer.
type GoldInput struct {
	ItemID int64           `json:"item_id"`
	Answer honeypot.Answer `json:"answer"`
}

// candidatesOf returns the ids of an item's candidates, or an error naming item_id when the
// item is not the campaign's or has none yet.
func candidatesOf(ctx context.Context, q querier, campaignID, itemID int64) ([]int64, error) {
	var turn *int64
	err := q.QueryRow(ctx, `SELECT turn_id FROM campaign_items WHERE id = $1 AND campaign_id = $2 AND generation = 'ready'`, itemID, campaignID).Scan(&turn)
	if err == pgx.ErrNoRows || (err == nil && turn == nil) {
		return nil, errs.Field("item_id", "item %d is not a ready item of campaign %d", itemID, campaignID)
	}
	if err != nil {
		return nil, err
	}
	rows, _ := q.Query(ctx, `SELECT id FROM candidates WHERE turn_id = $1 ORDER BY id`, *turn)
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// SetGold makes an item a gold item (an expert's answer), or replaces its answer. From then
// on it is dealt only as a honeypot, and judgments of it are scored.
func (s *Store) SetGold(ctx context.Context, campaignID, by int64, in GoldInput) (GoldItem, error) {
	return s.setGold(ctx, campaignID, by, in, "expert")
}

func (s *Store) setGold(ctx context.Context, campaignID, by int64, in GoldInput, source string) (GoldItem, error) {
	if in.ItemID <= 0 {
		return GoldItem{}, errs.Field("item_id", "name the item that becomes a gold item")
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cands, err := candidatesOf(ctx, tx, campaignID, in.ItemID)
		if err != nil {
			return err
		}
		if err := in.Answer.Validate(cands, rlhf.Flags); err != nil {
			return err
		}
		answer, _ := json.Marshal(in.Answer)
		if _, err := tx.Exec(ctx, `INSERT INTO gold_answers (item_id, kind, answer, source, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (item_id) DO UPDATE SET kind = EXCLUDED.kind, answer = EXCLUDED.answer, source = EXCLUDED.source,
				created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at`, in.ItemID, in.Answer.Kind, answer, source, by, s.now()); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE campaign_items SET gold = true WHERE id = $1`, in.ItemID)
		return err
	})
	if err != nil {
		return GoldItem{}, db.Error(err, "make item %d a gold item", in.ItemID)
	}
	items, err := s.gold(ctx, campaignID, in.ItemID)
	if err != nil || len(items) == 0 {
		return GoldItem{}, err
	}
	return items[0], nil
}

// Gold lists a campaign's gold items, newest first.
func (s *Store) Gold(ctx context.Context, campaignID int64) ([]GoldItem, error) {
	return s.gold(ctx, campaignID, 0)
}

func (s *Store) gold(ctx context.Context, campaignID, itemID int64) ([]GoldItem, error) {
	rows, _ := s.pool.Query(ctx, `SELECT i.id, i.question, g.answer, g.source, g.created_by, g.created_at,
			(SELECT count(*) FROM gold_results r WHERE r.item_id = i.id)::int, (SELECT count(*) FROM gold_results r WHERE r.item_id = i.id AND r.correct)::int
		FROM campaign_items i JOIN gold_answers g ON g.item_id = i.id WHERE i.campaign_id = $1 AND i.gold AND ($2 = 0 OR i.id = $2)
		ORDER BY g.created_at DESC, i.id DESC`, campaignID, itemID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (GoldItem, error) {
		var g GoldItem
		var answer []byte
		if err := r.Scan(&g.ItemID, &g.Question, &answer, &g.Source, &g.CreatedBy, &g.CreatedAt, &g.Answered, &g.Correct); err != nil {
			return g, err
		}
		return g, json.Unmarshal(answer, &g.Answer)
	})
	if out == nil {
		out = []GoldItem{}
	}
	return out, db.Error(err, "gold items of campaign %d", campaignID)
}

// Unanimous is an item at least PromoteMin trainers ranked alike: a gold item waiting to be
// promoted.
type Unanimous struct {
	ItemID    int64     `json:"item_id"`
	Question  string    `json:"question"`
	Ranking   [][]int64 `json:"ranking"`   // the ranking they all gave
	Judgments int       `json:"judgments"` // how many gave it
}

// PromoteMin is how many trainers must agree on an item, unanimously, before it can be
// promoted to a gold item.
const PromoteMin = 3

// Promotable lists items of the campaign that PromoteMin or more trainers ranked the same
// way, and no one otherwise, most judgments first.
func (s *Store) Promotable(ctx context.Context, campaignID int64) ([]Unanimous, error) {
	return s.unanimous(ctx, campaignID, 0)
}

func (s *Store) unanimous(ctx context.Context, campaignID, itemID int64) ([]Unanimous, error) {
	rows, _ := s.pool.Query(ctx, `SELECT i.id, i.question, min(j.ranking::text), count(*)::int
		FROM campaign_items i JOIN claims cl ON cl.item_id = i.id AND cl.state = 'submitted' AND cl.swap_of IS NULL JOIN judgments j ON j.id = cl.judgment_id
		WHERE i.campaign_id = $1 AND NOT i.gold AND ($3 = 0 OR i.id = $3)
		GROUP BY i.id HAVING count(*) >= $2 AND count(DISTINCT j.ranking) = 1
		ORDER BY count(*) DESC, i.id LIMIT 200`, campaignID, PromoteMin, itemID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Unanimous, error) {
		var u Unanimous
		var ranking string
		if err := r.Scan(&u.ItemID, &u.Question, &ranking, &u.Judgments); err != nil {
			return u, err
		}
		return u, json.Unmarshal([]byte(ranking), &u.Ranking)
	})
	if out == nil {
		out = []Unanimous{}
	}
	return out, db.Error(err, "unanimous items of campaign %d", campaignID)
}

// Promote makes a unanimous item a gold item whose answer is the ranking every trainer gave:
// the best candidate when two were compared, else the ordering.
func (s *Store) Promote(ctx context.Context, campaignID, itemID, by int64) (GoldItem, error) {
	found, err := s.unanimous(ctx, campaignID, itemID)
	if err != nil {
		return GoldItem{}, err
	}
	if len(found) == 0 {
		return GoldItem{}, errs.Field("item_id", "item %d is not one at least %d trainers ranked alike", itemID, PromoteMin)
	}
	r := found[0].Ranking
	answer := honeypot.Answer{Kind: honeypot.Ordering, Ranking: r}
	if len(r) == 2 && len(r[0]) == 1 && len(r[1]) == 1 {
		answer = honeypot.Answer{Kind: honeypot.Best, CandidateID: r[0][0]}
	}
	return s.setGold(ctx, campaignID, by, GoldInput{ItemID: itemID, Answer: answer}, "promoted")
}

// RemoveGold returns a gold item to the ordinary queue; the results it gave stay.
func (s *Store) RemoveGold(ctx context.Context, campaignID, itemID int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE campaign_items SET gold = false WHERE id = $1 AND campaign_id = $2 AND gold`, itemID, campaignID)
	if err != nil {
		return db.Error(err, "remove gold item %d", itemID)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "item %d is not a gold item of campaign %d", itemID, campaignID)
	}
	return nil
}

// GoldCandidate is one of an item's candidates as an expert sees it when setting its answer.
type GoldCandidate struct {
	ID       int64  `json:"id"`
	Position int    `json:"position"` // where trainers see it (1 = A)
	Content  string `json:"content"`
}

// GoldDraft is an item as an expert sees it before giving it a known answer.
type GoldDraft struct {
	ItemID     int64           `json:"item_id"`
	Question   string          `json:"question"`
	Candidates []GoldCandidate `json:"candidates"`
	Gold       bool            `json:"gold"` // it is a gold item already
}

// GoldDraftOf returns an item of the campaign with its candidates, for the expert's form.
func (s *Store) GoldDraftOf(ctx context.Context, campaignID, itemID int64) (GoldDraft, error) {
	d := GoldDraft{ItemID: itemID}
	var turn *int64
	err := s.pool.QueryRow(ctx, `SELECT question, turn_id, gold FROM campaign_items WHERE id = $1 AND campaign_id = $2 AND generation = 'ready'`,
		itemID, campaignID).Scan(&d.Question, &turn, &d.Gold)
	if err == pgx.ErrNoRows || (err == nil && turn == nil) {
		return d, errs.E(errs.NotFound, "item %d is not a ready item of campaign %d", itemID, campaignID)
	}
	if err != nil {
		return d, db.Error(err, "item %d", itemID)
	}
	rows, _ := s.pool.Query(ctx, `SELECT c.id, c.position, m.content FROM candidates c JOIN messages m ON m.id = c.message_id
		WHERE c.turn_id = $1 ORDER BY c.position`, *turn)
	d.Candidates, err = pgx.CollectRows(rows, pgx.RowToStructByPos[GoldCandidate])
	return d, db.Error(err, "candidates of item %d", itemID)
}
