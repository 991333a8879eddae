// Package campaign deals work to trainers: campaigns of imported items, candidates generated
// ahead of time by River jobs, and claims that give each item to exactly k trainers, with
// leases, skips, per-trainer caps and per-base quotas. It owns its SQL
// (migrations/00011_campaigns.sql); the server only routes to it.
package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/webhook"
)

// State is where a campaign is in its life. Only a draft can change its plan.
type State string

// The states, in the order a campaign usually passes through them.
const (
	Draft      State = "draft"
	Generating State = "generating" // candidates are being generated; nobody claims yet
	Open       State = "open"       // trainers claim ready items (generation may continue)
	Paused     State = "paused"
	Closed     State = "closed"
)

// States lists every state.
var States = []State{Draft, Generating, Open, Paused, Closed}

// TaskKind is what a trainer does with an item.
type TaskKind string

// The task kinds.
const (
	RankRate      TaskKind = "rank_rate"      // rank and rate the candidates
	CorrectBest   TaskKind = "correct_best"   // correct the best reply
	WriteGold     TaskKind = "write_gold"     // write the gold answer
	BlindPairwise TaskKind = "blind_pairwise" // two candidates, shuffled, names revealed after submit
)

// TaskKinds lists every task kind.
var TaskKinds = []TaskKind{RankRate, CorrectBest, WriteGold, BlindPairwise}

// PlanEntry is one candidate each item gets: a prompt version, optionally with another model
// or temperature than the version's own.
type PlanEntry struct {
	PromptVersionID int64    `json:"prompt_version_id"`
	Model           string   `json:"model,omitempty"`       // the version's model when empty
	Temperature     *float32 `json:"temperature,omitempty"` // the version's temperature when absent
}

// BaseQuota is a base a campaign is given to, with its quota: a number of judgments, a share
// of all k × items judgments, or neither (no limit).
type BaseQuota struct {
	BaseID     int64    `json:"base_id"`
	QuotaItems *int     `json:"quota_items"`
	QuotaShare *float64 `json:"quota_share"` // 0 < share ≤ 1
	Used       int      `json:"used"`        // open and submitted claims counted against it
}

// Campaign is a body of work in one project.
type Campaign struct {
	ID                int64       `json:"id"`
	ProjectID         int64       `json:"project_id"`
	PersonaID         int64       `json:"persona_id"`
	Name              string      `json:"name"`
	TaskKind          TaskKind    `json:"task_kind"`
	Plan              []PlanEntry `json:"plan"`
	K                 int         `json:"k"`
	Guidelines        string      `json:"guidelines"` // markdown
	GuidelinesVersion int         `json:"guidelines_version"`
	Deadline          *time.Time  `json:"deadline"`
	Priority          int         `json:"priority"` // higher first
	LeaseSeconds      int         `json:"lease_seconds"`
	ClaimCap          int         `json:"claim_cap"`  // open claims one trainer may hold
	SkipLimit         int         `json:"skip_limit"` // skips that set an item aside for a lead
	Live              bool        `json:"live"`
	State             State       `json:"state"`
	CreatedBy         int64       `json:"created_by"`
	CreatedAt         time.Time   `json:"created_at"`
	Bases             []BaseQuota `json:"bases"`
	Checks            Checks      `json:"checks"` // quality control, part B (issue 14): checks.go
}

// Store reads and writes campaigns, items and claims.
type Store struct {
	pool   *pgxpool.Pool
	models *llm.Registry
	jobs   jobs.Inserter // inserts generation jobs inside the transactions that make items generating
	now    func() time.Time
	loc    *time.Location
	logger *slog.Logger
	events Events
}

// Events are what other parts of Mentor may react to (webhooks, for one). They run after the
// transaction that caused them committed; an event is never sent for work that was undone.
type Events struct {
	ItemCompleted  func(ctx context.Context, campaignID, itemID int64) // the item's k-th judgment committed
	CampaignClosed func(ctx context.Context, campaignID int64)         // the campaign was closed
	TrainerPaused  func(ctx context.Context, p Pause)                  // honeypot accuracy paused a trainer (issue 14)
}

// Options are a Store's optional settings.
type Options struct {
	Now      func() time.Time // the clock leases are measured by; time.Now when nil
	Location *time.Location   // where "today" and "this week" begin for counts; time.Local when nil
	Logger   *slog.Logger
	Events   Events
}

// NewStore returns a Store; models is the registry candidate plans are checked against, and
// jobs the River client generation jobs are inserted with (it need not run workers).
func NewStore(pool *pgxpool.Pool, models *llm.Registry, queue jobs.Inserter, o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, models: models, jobs: queue, now: o.Now, loc: o.Location, logger: o.Logger, events: o.Events}
}

// itemCompleted is the one place an item's k-th judgment is announced.
func (s *Store) itemCompleted(ctx context.Context, campaignID, itemID int64) {
	s.logger.Debug("campaign item completed", "campaign", campaignID, "item", itemID)
	if s.events.ItemCompleted != nil {
		s.events.ItemCompleted(ctx, campaignID, itemID)
	}
}

// campaignClosed is the one place a campaign's closing is announced.
func (s *Store) campaignClosed(ctx context.Context, campaignID int64) {
	s.logger.Info("campaign closed", "campaign", campaignID)
	if s.events.CampaignClosed != nil {
		s.events.CampaignClosed(ctx, campaignID)
	}
}

// trainerPaused is the one place a pause is announced (a lead is told: the audit log).
func (s *Store) trainerPaused(ctx context.Context, p Pause) {
	s.logger.Warn("trainer paused by honeypot accuracy", "campaign", p.CampaignID, "trainer", p.TrainerID, "accuracy", p.Accuracy)
	if s.events.TrainerPaused != nil {
		s.events.TrainerPaused(ctx, p)
	}
}

// Input is a campaign as an admin sets it up.
type Input struct {
	PersonaID    int64       `json:"persona_id"`
	Name         string      `json:"name"`
	TaskKind     TaskKind    `json:"task_kind"`
	Plan         []PlanEntry `json:"plan"`
	K            int         `json:"k"`
	Guidelines   string      `json:"guidelines"`
	Deadline     *time.Time  `json:"deadline"`
	Priority     int         `json:"priority"`
	LeaseSeconds int         `json:"lease_seconds"` // 600 when 0
	ClaimCap     int         `json:"claim_cap"`     // 3 when 0
	SkipLimit    int         `json:"skip_limit"`    // 3 when 0
	Live         bool        `json:"live"`
	Bases        []BaseQuota `json:"bases"`
	Checks       ChecksInput `json:"checks"` // quality control, part B (issue 14); defaults when absent
}

// Saved is a stored campaign with what is worth knowing but does not stop it.
type Saved struct {
	Campaign Campaign `json:"campaign"`
	// Warnings are errors kept as warnings, so the server can put them in the reader's
	// language like any error.
	Warnings []error `json:"-"`
}

func (in *Input) defaults() {
	if in.LeaseSeconds == 0 {
		in.LeaseSeconds = 600
	}
	if in.ClaimCap == 0 {
		in.ClaimCap = 3
	}
	if in.SkipLimit == 0 {
		in.SkipLimit = 3
	}
}

// validate checks what can be checked without the database.
func (in Input) validate(models *llm.Registry) error {
	switch {
	case strings.TrimSpace(in.Name) == "":
		return errs.Field("name", "must not be empty")
	case utf8.RuneCountInString(in.Name) > 200:
		return errs.Field("name", "must be at most %d characters", 200)
	case in.PersonaID <= 0:
		return errs.Field("persona_id", "name the persona the campaign trains")
	case in.K < 1 || in.K > 10:
		return errs.Field("k", "must be between 1 and 10, got %d", in.K)
	case in.LeaseSeconds < 30 || in.LeaseSeconds > 86400:
		return errs.Field("lease_seconds", "must be between 30 and 86400, got %d", in.LeaseSeconds)
	case in.ClaimCap < 1 || in.ClaimCap > 20:
		return errs.Field("claim_cap", "must be between 1 and 20, got %d", in.ClaimCap)
	case in.SkipLimit < 1 || in.SkipLimit > 100:
		return errs.Field("skip_limit", "must be between 1 and 100, got %d", in.SkipLimit)
	case utf8.RuneCountInString(in.Guidelines) > 100000:
		return errs.Field("guidelines", "must be at most %d characters", 100000)
	}
	known := false
	for _, k := range TaskKinds {
		known = known || k == in.TaskKind
	}
	if !known {
		return errs.Field("task_kind", "must be one of rank_rate, correct_best, write_gold or blind_pairwise, got %q", in.TaskKind)
	}
	if len(in.Plan) < 1 || len(in.Plan) > 8 {
		return errs.Field("plan", "must have 1 to 8 candidates, got %d", len(in.Plan))
	}
	if in.TaskKind == BlindPairwise && len(in.Plan) != 2 {
		return errs.Field("plan", "a blind pairwise campaign compares exactly 2 candidates, got %d", len(in.Plan))
	}
	for i, p := range in.Plan {
		if p.PromptVersionID <= 0 {
			return errs.Field(fmt.Sprintf("plan[%d].prompt_version_id", i), "name a published prompt version")
		}
		if p.Temperature != nil && (*p.Temperature < 0 || *p.Temperature > 2) {
			return errs.Field(fmt.Sprintf("plan[%d].temperature", i), "must be between 0 and 2")
		}
		if p.Model != "" {
			if err := checkModel(models, p.Model); err != nil {
				return errs.Field(fmt.Sprintf("plan[%d].model", i), "%s", err)
			}
		}
	}
	share := 0.0
	for i, b := range in.Bases {
		field := fmt.Sprintf("bases[%d]", i)
		switch {
		case b.BaseID <= 0:
			return errs.Field(field+".base_id", "name a base")
		case b.QuotaItems != nil && b.QuotaShare != nil:
			return errs.Field(field, "give a quota in items or as a share, not both")
		case b.QuotaItems != nil && *b.QuotaItems <= 0:
			return errs.Field(field+".quota_items", "must be positive, got %d", *b.QuotaItems)
		case b.QuotaShare != nil && (*b.QuotaShare <= 0 || *b.QuotaShare > 1):
			return errs.Field(field+".quota_share", "must be more than 0%% and at most 100%%, got %g%%", *b.QuotaShare*100)
		}
		for _, o := range in.Bases[:i] {
			if o.BaseID == b.BaseID {
				return errs.Field(field+".base_id", "base %d is listed twice", b.BaseID)
			}
		}
		if b.QuotaShare != nil {
			share += *b.QuotaShare
		}
	}
	if share > 1.000001 {
		return errs.Field("bases", "the quota shares add up to %g%%, over 100%%", share*100)
	}
	return in.Checks.validate()
}

// checkModel says why a plan may not name a model: it does not exist, or is unavailable.
func checkModel(models *llm.Registry, name string) error {
	for _, m := range models.Models() {
		if m.Name == name {
			if !m.Available {
				return errs.E(errs.Invalid, "model %q is unavailable: %s", name, m.Reason)
			}
			return nil
		}
	}
	return errs.E(errs.Invalid, "there is no model %q", name)
}

// Create stores a draft campaign in projectID. A k larger than the trainers who could work on
// it is a warning, not an error: people may be added later.
func (s *Store) Create(ctx context.Context, projectID, createdBy int64, in Input) (Saved, error) {
	in.defaults()
	var out Saved
	if err := in.validate(s.models); err != nil {
		return out, err
	}
	plan, _ := json.Marshal(in.Plan)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkPlanVersions(ctx, tx, s.models, projectID, in); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO campaigns (project_id, persona_id, name, task_kind, plan, k, guidelines, deadline,
				priority, lease_seconds, claim_cap, skip_limit, live, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
			projectID, in.PersonaID, strings.TrimSpace(in.Name), in.TaskKind, plan, in.K, in.Guidelines, in.Deadline,
			in.Priority, in.LeaseSeconds, in.ClaimCap, in.SkipLimit, in.Live, createdBy).Scan(&id); err != nil {
			return err
		}
		if err := setChecks(ctx, tx, id, in.Checks); err != nil {
			return err
		}
		for i, b := range in.Bases {
			var admitted bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM project_bases WHERE project_id = $1 AND base_id = $2)`,
				projectID, b.BaseID).Scan(&admitted); err != nil {
				return err
			}
			if !admitted {
				return errs.Field(fmt.Sprintf("bases[%d].base_id", i), "base %d does not work in this project: admit it first", b.BaseID)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO campaign_bases (campaign_id, base_id, quota_items, quota_share) VALUES ($1, $2, $3, $4)`,
				id, b.BaseID, b.QuotaItems, b.QuotaShare); err != nil {
				return err
			}
		}
		var eligible int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM project_members pm WHERE pm.project_id = $1
				AND pm.role IN ('admin', 'reviewer', 'expert', 'trainer')
				AND (NOT EXISTS (SELECT 1 FROM campaign_bases WHERE campaign_id = $2)
					OR pm.user_id IN (SELECT bm.user_id FROM base_members bm JOIN campaign_bases cb ON cb.base_id = bm.base_id WHERE cb.campaign_id = $2))`,
			projectID, id).Scan(&eligible); err != nil {
			return err
		}
		if eligible < in.K {
			out.Warnings = append(out.Warnings, errs.E(errs.Invalid,
				"k is %d but only %d trainers can work on this campaign: items cannot be completed until more join", in.K, eligible))
		}
		c, err := getCampaign(ctx, tx, id)
		out.Campaign = c
		return err
	})
	if err != nil {
		return Saved{}, db.Error(err, "create campaign")
	}
	return out, nil
}

// checkPlanVersions makes sure the persona is the project's and every plan entry names one of
// its published versions, with a model that exists and is available.
func checkPlanVersions(ctx context.Context, tx pgx.Tx, models *llm.Registry, projectID int64, in Input) error {
	var persona int64
	err := tx.QueryRow(ctx, `SELECT id FROM personas WHERE id = $1 AND project_id = $2`, in.PersonaID, projectID).Scan(&persona)
	if err != nil {
		if err == pgx.ErrNoRows {
			return errs.Field("persona_id", "persona %d is not in this project", in.PersonaID)
		}
		return err
	}
	for i, p := range in.Plan {
		var model string
		err := tx.QueryRow(ctx, `SELECT model FROM prompt_versions WHERE id = $1 AND persona_id = $2`, p.PromptVersionID, in.PersonaID).Scan(&model)
		if err == pgx.ErrNoRows {
			return errs.Field(fmt.Sprintf("plan[%d].prompt_version_id", i), "prompt version %d is not one of persona %d's", p.PromptVersionID, in.PersonaID)
		}
		if err != nil {
			return err
		}
		if p.Model == "" {
			if err := checkModel(models, model); err != nil {
				return errs.Field(fmt.Sprintf("plan[%d].prompt_version_id", i), "%s", err)
			}
		}
	}
	return nil
}

const campaignColumns = `id, project_id, persona_id, name, task_kind, plan, k, guidelines, guidelines_version, deadline, priority,
	lease_seconds, claim_cap, skip_limit, live, state, created_by, created_at, ` + checksColumns

func scanCampaign(row pgx.Row) (Campaign, error) {
	var c Campaign
	var plan []byte
	err := row.Scan(&c.ID, &c.ProjectID, &c.PersonaID, &c.Name, &c.TaskKind, &plan, &c.K, &c.Guidelines, &c.GuidelinesVersion,
		&c.Deadline, &c.Priority, &c.LeaseSeconds, &c.ClaimCap, &c.SkipLimit, &c.Live, &c.State, &c.CreatedBy, &c.CreatedAt,
		&c.Checks.HoneypotRate, &c.Checks.HoneypotThreshold, &c.Checks.SpeedFloorMS, &c.Checks.SpeedFloorShare, &c.Checks.MedianMS,
		&c.Checks.AgreementFloor, &c.Checks.ExtraBudget, &c.Checks.ExtraUsed, &c.Checks.SwapRate)
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(plan, &c.Plan)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func getCampaign(ctx context.Context, q querier, id int64) (Campaign, error) {
	c, err := scanCampaign(q.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE id = $1`, id))
	if err != nil {
		return c, db.Error(err, "campaign %d", id)
	}
	rows, _ := q.Query(ctx, `SELECT base_id, quota_items, quota_share, used FROM campaign_bases WHERE campaign_id = $1 ORDER BY base_id`, id)
	c.Bases, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (BaseQuota, error) {
		var b BaseQuota
		err := r.Scan(&b.BaseID, &b.QuotaItems, &b.QuotaShare, &b.Used)
		return b, err
	})
	if c.Bases == nil {
		c.Bases = []BaseQuota{}
	}
	return c, db.Error(err, "bases of campaign %d", id)
}

// Get returns a campaign.
func (s *Store) Get(ctx context.Context, id int64) (Campaign, error) {
	return getCampaign(ctx, s.pool, id)
}

// ProjectOf returns the project a campaign belongs to, for access checks.
func (s *Store) ProjectOf(ctx context.Context, id int64) (int64, error) {
	var p int64
	err := s.pool.QueryRow(ctx, `SELECT project_id FROM campaigns WHERE id = $1`, id).Scan(&p)
	return p, db.Error(err, "campaign %d", id)
}

// QueueProjectOf queues ProjectOf's lookup on b, for a caller that asks other stores in the
// same round trip (the access check).
func (s *Store) QueueProjectOf(b *pgx.Batch, id int64) *db.Pending[int64] {
	return db.Queue(b, pgx.RowTo[int64], errs.P("campaign %d", id), `SELECT project_id FROM campaigns WHERE id = $1`, id)
}

// ClaimOwner is the project and campaign a claim belongs to.
type ClaimOwner struct{ ProjectID, CampaignID int64 }

// QueueClaimProject queues ClaimProject's lookup on b.
func (s *Store) QueueClaimProject(b *pgx.Batch, claimID int64) *db.Pending[ClaimOwner] {
	return db.Queue(b, pgx.RowToStructByPos[ClaimOwner], errs.P("claim %d", claimID),
		`SELECT c.project_id, c.id FROM claims cl JOIN campaigns c ON c.id = cl.campaign_id WHERE cl.id = $1`, claimID)
}

// ClaimProject returns the project and campaign a claim belongs to, for access checks.
func (s *Store) ClaimProject(ctx context.Context, claimID int64) (projectID, campaignID int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT c.project_id, c.id FROM claims cl JOIN campaigns c ON c.id = cl.campaign_id WHERE cl.id = $1`, claimID).
		Scan(&projectID, &campaignID)
	return projectID, campaignID, db.Error(err, "claim %d", claimID)
}

// List returns a project's campaigns, newest first.
func (s *Store) List(ctx context.Context, projectID int64) ([]Campaign, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE project_id = $1 ORDER BY id DESC`, projectID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Campaign, error) { return scanCampaign(r) })
	if out == nil {
		out = []Campaign{}
	}
	return out, db.Error(err, "campaigns of project %d", projectID)
}

// transitions are the state changes an admin may make.
var transitions = map[State][]State{
	Draft:      {Generating, Open, Closed},
	Generating: {Open, Paused, Closed},
	Open:       {Paused, Closed},
	Paused:     {Open, Closed},
}

// errBadTransition is SetState's answer for a change the life of a campaign does not allow.
func errBadTransition(from, to State) error {
	return errs.Field("state", "a campaign cannot go from %s to %s", from, to)
}

// SetState moves a campaign to another state. Leaving draft starts the generation of every
// item's candidates (unless the campaign generates live). Closing announces it
// (campaignClosed).
func (s *Store) SetState(ctx context.Context, id int64, to State) (Campaign, error) {
	var c Campaign
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var from State
		var live bool
		if err := tx.QueryRow(ctx, `SELECT state, live FROM campaigns WHERE id = $1 FOR UPDATE`, id).Scan(&from, &live); err != nil {
			return db.Error(err, "campaign %d", id)
		}
		ok := false
		for _, t := range transitions[from] {
			ok = ok || t == to
		}
		if !ok {
			return errBadTransition(from, to)
		}
		if _, err := tx.Exec(ctx, `UPDATE campaigns SET state = $2, updated_at = now() WHERE id = $1`, id, to); err != nil {
			return err
		}
		if from == Draft && to != Closed && live {
			// A live campaign's items are ready at once: their first claim starts their turn
			// (live.go), so no job generates them ahead.
			if _, err := tx.Exec(ctx, `UPDATE campaign_items SET generation = 'ready', live = true WHERE campaign_id = $1 AND generation = 'pending'`, id); err != nil {
				return err
			}
		}
		if from == Draft && to != Closed && !live {
			rows, _ := tx.Query(ctx, `UPDATE campaign_items SET generation = 'generating' WHERE campaign_id = $1 AND generation = 'pending' RETURNING id`, id)
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			if err := s.enqueue(ctx, tx, ids); err != nil {
				return err
			}
		}
		var err error
		if c, err = getCampaign(ctx, tx, id); err != nil {
			return err
		}
		if to == Closed {
			// Webhooks are queued in this transaction, as the close itself.
			_, err = webhook.Emit(ctx, tx, c.ProjectID, webhook.CampaignClosed, map[string]any{"campaign_id": c.ID, "name": c.Name, "from": from})
		}
		return err
	})
	if err != nil {
		return c, db.Error(err, "change campaign %d's state", id)
	}
	if to == Closed {
		s.campaignClosed(ctx, id)
	}
	return c, nil
}

// SetGuidelines replaces a campaign's guidelines and bumps their version, which every
// judgment made from then on records.
func (s *Store) SetGuidelines(ctx context.Context, id int64, guidelines string) (Campaign, error) {
	if utf8.RuneCountInString(guidelines) > 100000 {
		return Campaign{}, errs.Field("guidelines", "must be at most %d characters", 100000)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE campaigns SET guidelines = $2, guidelines_version = guidelines_version + 1, updated_at = now()
		WHERE id = $1 AND guidelines <> $2`, id, guidelines)
	if err != nil {
		return Campaign{}, db.Error(err, "set campaign %d's guidelines", id)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.ProjectOf(ctx, id); err != nil {
			return Campaign{}, err
		}
	}
	return s.Get(ctx, id)
}
