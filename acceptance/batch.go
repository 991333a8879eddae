package acceptance

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/review"
	"github.com/mentor-ai/mentor/webhook"
)

// Store keeps batches, their samples and their inspection.
type Store struct {
	pool    *pgxpool.Pool
	reviews *review.Store // an inspection is a review of a sampled judgment
	now     func() time.Time
	seed    func() int64
}

// NewStore returns a Store. seed gives each new batch's sample seed (crypto/rand when nil);
// tests pass their own to draw a known sample.
func NewStore(pool *pgxpool.Pool, reviews *review.Store, now func() time.Time, seed func() int64) *Store {
	if now == nil {
		now = time.Now
	}
	if seed == nil {
		seed = func() int64 {
			var b [8]byte
			_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
			return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
		}
	}
	return &Store{pool: pool, reviews: reviews, now: now, seed: seed}
}

// Settings are a campaign's acceptance settings.
type Settings struct {
	AQL string `json:"aql"` // one of AQLs; 1.0 by default
	// BatchEvery, when set, is how many judgments a batch closed without a period holds.
	BatchEvery *int `json:"batch_every"`
	// ReducedAllowed lets the switching rules move a base to reduced inspection (the
	// standard leaves that to the responsible authority: here, the project's admins). Off by
	// default; absent from a PUT, it keeps its value.
	ReducedAllowed *bool `json:"reduced_allowed"`
}

// Settings returns a campaign's acceptance settings.
func (s *Store) Settings(ctx context.Context, campaignID int64) (Settings, error) {
	return settingsOf(ctx, s.pool, campaignID)
}

type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func settingsOf(ctx context.Context, q rowQuerier, campaignID int64) (Settings, error) {
	out := Settings{AQL: DefaultAQL, ReducedAllowed: new(bool)}
	err := q.QueryRow(ctx, `SELECT aql, batch_every, reduced_allowed FROM campaign_qc WHERE campaign_id = $1`, campaignID).
		Scan(&out.AQL, &out.BatchEvery, out.ReducedAllowed)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, nil
	}
	return out, db.Error(err, "acceptance settings of campaign %d", campaignID)
}

// SetSettings changes a campaign's acceptance settings. Batches closed already keep the AQL
// they were closed with.
func (s *Store) SetSettings(ctx context.Context, campaignID int64, in Settings) (Settings, error) {
	a, err := ParseAQL("aql", in.AQL)
	if err != nil {
		return in, err
	}
	in.AQL = AQLs[a]
	if in.BatchEvery != nil && (*in.BatchEvery < 1 || *in.BatchEvery > 1000000) {
		return in, errs.Field("batch_every", "must be between 1 and 1000000, got %d", *in.BatchEvery)
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO campaign_qc (campaign_id, aql, batch_every, reduced_allowed, updated_at) VALUES ($1, $2, $3, coalesce($4, false), $5)
		ON CONFLICT (campaign_id) DO UPDATE SET aql = excluded.aql, batch_every = excluded.batch_every,
			reduced_allowed = coalesce($4, campaign_qc.reduced_allowed), updated_at = excluded.updated_at
		RETURNING reduced_allowed`,
		campaignID, in.AQL, in.BatchEvery, in.ReducedAllowed, s.now()).Scan(&in.ReducedAllowed)
	return in, db.Error(err, "acceptance settings of campaign %d", campaignID)
}

// CloseInput is a lead's closing of a batch: a base's judgments of the campaign not yet in a
// batch, from a period, or the oldest Every of them (the campaign's batch_every when
// neither is given).
type CloseInput struct {
	BaseID int64      `json:"base_id"`
	From   *time.Time `json:"from"`  // submitted at or after
	To     *time.Time `json:"to"`    // submitted before
	Every  *int       `json:"every"` // at most this many, oldest first
}

// Batch is a base's delivery and how its inspection stands.
type Batch struct {
	ID           int64      `json:"id" db:"id"`
	CampaignID   int64      `json:"campaign_id" db:"campaign_id"`
	BaseID       int64      `json:"base_id" db:"base_id"`
	Base         string     `json:"base" db:"base"`
	Seq          int        `json:"seq" db:"seq"`
	PeriodFrom   *time.Time `json:"period_from" db:"period_from"`
	PeriodTo     *time.Time `json:"period_to" db:"period_to"`
	LotSize      int        `json:"lot_size" db:"lot_size"`
	AQL          string     `json:"aql" db:"aql"`
	Severity     Severity   `json:"severity" db:"severity"`
	CodeLetter   string     `json:"code_letter" db:"code_letter"`
	PlanLetter   string     `json:"plan_letter" db:"plan_letter"`
	SampleSize   int        `json:"sample_size" db:"sample_size"`
	Accept       int        `json:"ac" db:"ac"`
	Reject       int        `json:"re" db:"re"`
	Seed         int64      `json:"seed" db:"seed"`
	BaseResult   Verdict    `json:"base_result" db:"base_result"`     // the base's own check (质检)
	CentreResult Verdict    `json:"centre_result" db:"centre_result"` // the centre's acceptance (验收)
	// Each tier's progress through the sample.
	BaseInspected   int `json:"base_inspected" db:"base_inspected"`
	BaseDefects     int `json:"base_defects" db:"base_defects"`
	CentreInspected int `json:"centre_inspected" db:"centre_inspected"`
	CentreDefects   int `json:"centre_defects" db:"centre_defects"`
	// Reinspection is how many of a rejected batch's judgments still wait for the base's
	// 100% re-inspection (the review stream with ?batch=).
	Reinspection int       `json:"reinspection" db:"reinspection"`
	ClosedBy     int64     `json:"closed_by" db:"closed_by"`
	ClosedAt     time.Time `json:"closed_at" db:"closed_at"`
}

func (b Batch) plan() Plan {
	return Plan{LotSize: b.LotSize, AQL: b.AQL, Severity: b.Severity, CodeLetter: b.CodeLetter, PlanLetter: b.PlanLetter,
		SampleSize: b.SampleSize, Accept: b.Accept, Reject: b.Reject, FullInspection: b.SampleSize >= b.LotSize}
}

const batchSQL = `SELECT b.id, b.campaign_id, b.base_id, bs.name AS base, b.seq, b.period_from, b.period_to, b.lot_size, b.aql, b.severity,
		b.code_letter, b.plan_letter, b.sample_size, b.ac, b.re, b.seed, b.base_result, b.centre_result,
		(SELECT count(*) FROM reviews r WHERE r.batch_id = b.id AND r.tier = 'base')::int AS base_inspected,
		(SELECT count(*) FROM reviews r WHERE r.batch_id = b.id AND r.tier = 'base' AND r.verdict <> 'accepted')::int AS base_defects,
		(SELECT count(*) FROM reviews r WHERE r.batch_id = b.id AND r.tier = 'centre')::int AS centre_inspected,
		(SELECT count(*) FROM reviews r WHERE r.batch_id = b.id AND r.tier = 'centre' AND r.verdict <> 'accepted')::int AS centre_defects,
		CASE WHEN b.centre_result = 'rejected' THEN (SELECT count(*) FROM review_queue q WHERE q.batch_id = b.id) ELSE 0 END::int AS reinspection,
		b.closed_by, b.closed_at
	FROM batches b JOIN bases bs ON bs.id = b.base_id`

// Get returns one batch.
func (s *Store) Get(ctx context.Context, id int64) (Batch, error) {
	return getBatch(ctx, s.pool, id)
}

// querier is what a batch is read through: the pool, or the transaction that is changing it
// (a webhook's payload must show the batch as that transaction leaves it).
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func getBatch(ctx context.Context, q querier, id int64) (Batch, error) {
	rows, _ := q.Query(ctx, batchSQL+` WHERE b.id = $1`, id)
	b, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Batch])
	return b, db.Error(err, "batch %d", id)
}

// emit sends a batch event in tx, with the batch as tx leaves it as the payload (the same
// object GET /batches/:batch answers with), so a receiver never hears of a batch that was
// rolled back.
func emit(ctx context.Context, tx pgx.Tx, batchID int64, event webhook.Event) error {
	b, err := getBatch(ctx, tx, batchID)
	if err != nil {
		return err
	}
	var projectID int64
	if err := tx.QueryRow(ctx, `SELECT project_id FROM campaigns WHERE id = $1`, b.CampaignID).Scan(&projectID); err != nil {
		return db.Error(err, "project of campaign %d", b.CampaignID)
	}
	_, err = webhook.Emit(ctx, tx, projectID, event, b)
	return err
}

// List returns a campaign's batches (one base's, when baseID is set), in the order they
// were closed.
func (s *Store) List(ctx context.Context, campaignID int64, baseID *int64) ([]Batch, error) {
	rows, _ := s.pool.Query(ctx, batchSQL+` WHERE b.campaign_id = $1 AND ($2::bigint IS NULL OR b.base_id = $2) ORDER BY b.closed_at, b.id`, campaignID, baseID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Batch])
	return out, db.Error(err, "batches of campaign %d", campaignID)
}

// Owner is the project and campaign a batch belongs to.
type Owner struct{ ProjectID, CampaignID int64 }

// QueueProjectOf queues ProjectOf's lookup on b, for the access check's one round trip.
func (s *Store) QueueProjectOf(b *pgx.Batch, id int64) *db.Pending[Owner] {
	return db.Queue(b, pgx.RowToStructByPos[Owner], errs.P("batch %d", id),
		`SELECT c.project_id, c.id FROM batches b JOIN campaigns c ON c.id = b.campaign_id WHERE b.id = $1`, id)
}

// ProjectOf returns the project and campaign a batch belongs to, for access checks.
func (s *Store) ProjectOf(ctx context.Context, id int64) (projectID, campaignID int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT c.project_id, c.id FROM batches b JOIN campaigns c ON c.id = b.campaign_id WHERE b.id = $1`, id).Scan(&projectID, &campaignID)
	return projectID, campaignID, db.Error(err, "batch %d", id)
}

func (s *Store) leads(ctx context.Context, userID, baseID int64) (bool, error) {
	var lead bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM base_members WHERE base_id = $1 AND user_id = $2 AND is_lead)`, baseID, userID).Scan(&lead)
	return lead, db.Error(err, "lead of base %d", baseID)
}

// Close closes a batch: it takes the judgments, chooses the plan by the lot size, the
// campaign's AQL and the switching rules, draws the sample with a new seed and records it.
// manager is true for the project's admins; anyone else must lead the base.
func (s *Store) Close(ctx context.Context, campaignID, closerID int64, manager bool, in CloseInput) (Batch, error) {
	if in.BaseID <= 0 {
		return Batch{}, errs.Field("base_id", "name the base whose batch this is")
	}
	if !manager {
		lead, err := s.leads(ctx, closerID, in.BaseID)
		if err != nil {
			return Batch{}, err
		}
		// Whose batches one closes depends on the base one leads, not on the role alone, so
		// this names the field rather than answering the route table's 403.
		if !lead {
			return Batch{}, errs.Field("base_id", "you do not lead base %d: its leads and the project's admins close its batches", in.BaseID)
		}
	}
	if in.From != nil && in.To != nil && !in.From.Before(*in.To) {
		return Batch{}, errs.Field("to", "must be after from")
	}
	settings, err := s.Settings(ctx, campaignID)
	if err != nil {
		return Batch{}, err
	}
	limit := in.Every
	if limit == nil && in.From == nil && in.To == nil {
		limit = settings.BatchEvery
	}
	if limit != nil && *limit < 1 {
		return Batch{}, errs.Field("every", "must be at least 1, got %d", *limit)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Batch{}, db.Error(err, "close a batch of campaign %d", campaignID)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	// One close per base and campaign at a time: the sequence number and the judgments taken
	// are read and written under it.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, fmt.Sprintf("batch:%d:%d", campaignID, in.BaseID)); err != nil {
		return Batch{}, db.Error(err, "close a batch of campaign %d", campaignID)
	}
	var limitArg any
	if limit != nil {
		limitArg = *limit
	}
	rows, _ := tx.Query(ctx, `SELECT cl.judgment_id FROM claims cl
		WHERE cl.campaign_id = $1 AND cl.base_id = $2 AND cl.state = 'submitted'
			AND NOT EXISTS (SELECT 1 FROM batch_judgments bj WHERE bj.judgment_id = cl.judgment_id)
			AND ($3::timestamptz IS NULL OR cl.closed_at >= $3) AND ($4::timestamptz IS NULL OR cl.closed_at < $4)
		ORDER BY cl.judgment_id LIMIT $5`, campaignID, in.BaseID, in.From, in.To, limitArg)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return Batch{}, db.Error(err, "close a batch of campaign %d", campaignID)
	}
	if len(ids) == 0 {
		field := "base_id"
		if in.From != nil || in.To != nil {
			field = "from"
		}
		return Batch{}, errs.Field(field, "base %d has no judgments of this campaign outside a batch in that period: an empty batch cannot be closed", in.BaseID)
	}
	sw, err := switchingOf(ctx, tx, campaignID, in.BaseID, *settings.ReducedAllowed)
	if err != nil {
		return Batch{}, err
	}
	if sw.State == Discontinued {
		return Batch{}, errs.Field("base_id", "the inspection of base %d is discontinued: 5 batches were rejected on tightened inspection; a project admin resumes it once the base has improved its work", in.BaseID)
	}
	plan, err := PlanFor(len(ids), settings.AQL, sw.State)
	if err != nil {
		return Batch{}, err
	}
	seed := s.seed()
	sample := Sample(ids, plan.SampleSize, seed)
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO batches (campaign_id, base_id, seq, period_from, period_to, lot_size, aql, severity, code_letter,
			plan_letter, sample_size, ac, re, seed, closed_by, closed_at)
		VALUES ($1, $2, (SELECT coalesce(max(seq), 0) + 1 FROM batches WHERE campaign_id = $1 AND base_id = $2), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		RETURNING id`, campaignID, in.BaseID, in.From, in.To, plan.LotSize, plan.AQL, plan.Severity, plan.CodeLetter, plan.PlanLetter,
		plan.SampleSize, plan.Accept, plan.Reject, seed, closerID, s.now()).Scan(&id)
	if err != nil {
		return Batch{}, db.Error(err, "close a batch of campaign %d", campaignID)
	}
	ranks := make([]*int32, len(ids))
	for r, j := range sample {
		i, _ := slices.BinarySearch(ids, j)
		rank := int32(r + 1)
		ranks[i] = &rank
	}
	if _, err := tx.Exec(ctx, `INSERT INTO batch_judgments (batch_id, judgment_id, sample_rank) SELECT $1, j, r FROM unnest($2::bigint[], $3::int[]) AS x (j, r)`,
		id, ids, ranks); err != nil {
		return Batch{}, db.Error(err, "close a batch of campaign %d", campaignID)
	}
	if _, err := tx.Exec(ctx, `UPDATE review_queue SET batch_id = $1 WHERE judgment_id = ANY ($2)`, id, ids); err != nil {
		return Batch{}, db.Error(err, "close a batch of campaign %d", campaignID)
	}
	if err := emit(ctx, tx, id, webhook.BatchClosed); err != nil {
		return Batch{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Batch{}, db.Error(err, "close a batch of campaign %d", campaignID)
	}
	return s.Get(ctx, id)
}

// switchingOf applies the switching rules to a base's batches of a campaign and its notes, as
// q sees them (Close reads them under its lock).
func switchingOf(ctx context.Context, q querier, campaignID, baseID int64, reducedAllowed bool) (Switching, error) {
	rows, _ := q.Query(ctx, `SELECT b.seq, b.severity, b.centre_result, b.lot_size, b.aql, b.ac,
			(SELECT count(*) FROM reviews r WHERE r.batch_id = b.id AND r.tier = 'centre' AND r.verdict <> 'accepted')::int
		FROM batches b WHERE b.campaign_id = $1 AND b.base_id = $2 ORDER BY b.seq`, campaignID, baseID)
	lots, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Lot])
	if err != nil {
		return Switching{}, db.Error(err, "batch history of base %d", baseID)
	}
	rows, _ = q.Query(ctx, `SELECT kind, after_seq FROM inspection_notes WHERE campaign_id = $1 AND base_id = $2 ORDER BY after_seq, id`, campaignID, baseID)
	notes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Note])
	if err != nil {
		return Switching{}, db.Error(err, "inspection notes of base %d", baseID)
	}
	return Switch(lots, notes, reducedAllowed), nil
}

// Switching is where a base stands under the switching rules in a campaign.
func (s *Store) Switching(ctx context.Context, campaignID, baseID int64) (Switching, error) {
	settings, err := s.Settings(ctx, campaignID)
	if err != nil {
		return Switching{}, err
	}
	return switchingOf(ctx, s.pool, campaignID, baseID, *settings.ReducedAllowed)
}

// NoteInput records what the switching rules cannot see in the batches: production became
// irregular (kind irregular), or a discontinued inspection resumes (kind resumed).
type NoteInput struct {
	BaseID int64  `json:"base_id"`
	Kind   string `json:"kind"`
	Note   string `json:"note"` // why, for the record
}

// AddNote records a note for a base of a campaign, after its latest batch, and returns where
// the base then stands. Resuming needs a discontinued inspection; an irregularity, normal or
// reduced inspection (on tightened inspection production matters to no rule).
func (s *Store) AddNote(ctx context.Context, campaignID, userID int64, in NoteInput) (Switching, error) {
	if in.BaseID <= 0 {
		return Switching{}, errs.Field("base_id", "name the base")
	}
	if in.Kind != NoteIrregular && in.Kind != NoteResumed {
		return Switching{}, errs.Field("kind", "%q is not irregular (production became irregular or delayed) or resumed (a discontinued inspection resumes)", in.Kind)
	}
	if len([]rune(in.Note)) > 2000 {
		return Switching{}, errs.Field("note", "at most 2000 characters")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Switching{}, db.Error(err, "note for base %d", in.BaseID)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	// The same lock as Close: a note lands after a definite batch.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, fmt.Sprintf("batch:%d:%d", campaignID, in.BaseID)); err != nil {
		return Switching{}, db.Error(err, "note for base %d", in.BaseID)
	}
	var known bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bases WHERE id = $1)`, in.BaseID).Scan(&known); err != nil {
		return Switching{}, db.Error(err, "note for base %d", in.BaseID)
	}
	if !known {
		return Switching{}, errs.Field("base_id", "there is no base %d", in.BaseID)
	}
	settings, err := settingsOf(ctx, tx, campaignID)
	if err != nil {
		return Switching{}, err
	}
	sw, err := switchingOf(ctx, tx, campaignID, in.BaseID, *settings.ReducedAllowed)
	if err != nil {
		return Switching{}, err
	}
	switch {
	case in.Kind == NoteResumed && sw.State != Discontinued:
		return sw, errs.Field("kind", "the inspection of base %d is not discontinued: there is nothing to resume", in.BaseID)
	case in.Kind == NoteIrregular && sw.State != Normal && sw.State != Reduced:
		return sw, errs.Field("kind", "an irregularity matters on normal or reduced inspection only, and base %d is on neither", in.BaseID)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO inspection_notes (campaign_id, base_id, kind, after_seq, note, created_by, created_at)
		VALUES ($1, $2, $3, (SELECT coalesce(max(seq), 0) FROM batches WHERE campaign_id = $1 AND base_id = $2), $4, $5, $6)`,
		campaignID, in.BaseID, in.Kind, in.Note, userID, s.now()); err != nil {
		return Switching{}, db.Error(err, "note for base %d", in.BaseID)
	}
	if sw, err = switchingOf(ctx, tx, campaignID, in.BaseID, *settings.ReducedAllowed); err != nil {
		return Switching{}, err
	}
	return sw, db.Error(tx.Commit(ctx), "note for base %d", in.BaseID)
}

// Sample is the seeded draw: the lot's judgment ids in ascending order, shuffled by
// Fisher–Yates with PCG(seed, 0) from math/rand/v2; the first n are the sample, in the order
// they are to be inspected. Anyone with the ids and the recorded seed can repeat it.
func Sample(ids []int64, n int, seed int64) []int64 {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	r := mrand.New(mrand.NewPCG(uint64(seed), 0))
	r.Shuffle(len(sorted), func(i, j int) { sorted[i], sorted[j] = sorted[j], sorted[i] })
	return sorted[:min(n, len(sorted))]
}

// SampleItem is one drawn judgment and what each tier found.
type SampleItem struct {
	Rank          int     `json:"rank" db:"sample_rank"`
	JudgmentID    int64   `json:"judgment_id" db:"judgment_id"`
	BaseVerdict   *string `json:"base_verdict" db:"base_verdict"`
	CentreVerdict *string `json:"centre_verdict" db:"centre_verdict"`
}

// SampleOf returns a batch's sample in draw order.
func (s *Store) SampleOf(ctx context.Context, batchID int64) ([]SampleItem, error) {
	rows, _ := s.pool.Query(ctx, `SELECT bj.sample_rank, bj.judgment_id,
			(SELECT r.verdict FROM reviews r WHERE r.batch_id = bj.batch_id AND r.judgment_id = bj.judgment_id AND r.tier = 'base' ORDER BY r.id DESC LIMIT 1) AS base_verdict,
			(SELECT r.verdict FROM reviews r WHERE r.batch_id = bj.batch_id AND r.judgment_id = bj.judgment_id AND r.tier = 'centre' ORDER BY r.id DESC LIMIT 1) AS centre_verdict
		FROM batch_judgments bj WHERE bj.batch_id = $1 AND bj.sample_rank IS NOT NULL ORDER BY bj.sample_rank`, batchID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[SampleItem])
	return out, db.Error(err, "sample of batch %d", batchID)
}

func checkTier(tier string) error {
	if tier != review.TierBase && tier != review.TierCentre {
		return errs.Field("tier", "%q is not base (the base's own check) or centre (the centre's acceptance)", tier)
	}
	return nil
}

// scopeFor checks who inspects which tier: the centre's reviewers (reviewer is true for the
// project's reviewers and admins) inspect for the centre, the base's leads for the base.
func (s *Store) scopeFor(ctx context.Context, b Batch, userID int64, reviewer bool, tier string) (review.Scope, error) {
	if err := checkTier(tier); err != nil {
		return review.Scope{}, err
	}
	projectID, _, err := s.ProjectOf(ctx, b.ID)
	if err != nil {
		return review.Scope{}, err
	}
	sc := review.Scope{ProjectID: projectID, CampaignID: b.CampaignID}
	if tier == review.TierCentre {
		if !reviewer {
			return sc, errs.Field("tier", "the centre's acceptance is inspected by the project's reviewers and admins: a base's leads inspect for tier base")
		}
		return sc, nil
	}
	lead, err := s.leads(ctx, userID, b.BaseID)
	if err != nil {
		return sc, err
	}
	if !lead {
		return sc, errs.Field("tier", "the base's own check is inspected by the base's leads: the centre's reviewers inspect for tier centre")
	}
	sc.BaseID = &b.BaseID
	return sc, nil
}

// ErrSampleDone is the answer when a tier has nothing left to inspect.
var ErrSampleDone = errs.E(errs.NotFound, "this tier has inspected the whole sample, or decided the batch")

// NextSample returns the first judgment of the sample, in draw order, that the tier has not
// inspected yet, as a reviewer sees it.
func (s *Store) NextSample(ctx context.Context, batchID, userID int64, reviewer bool, tier string) (review.Item, error) {
	b, err := s.Get(ctx, batchID)
	if err != nil {
		return review.Item{}, err
	}
	if _, err := s.scopeFor(ctx, b, userID, reviewer, tier); err != nil {
		return review.Item{}, err
	}
	if result(b, tier) != Pending {
		return review.Item{}, ErrSampleDone
	}
	var id int64
	err = s.pool.QueryRow(ctx, `SELECT bj.judgment_id FROM batch_judgments bj JOIN judgments j ON j.id = bj.judgment_id
		WHERE bj.batch_id = $1 AND bj.sample_rank IS NOT NULL AND j.trainer_id <> $3
			AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.batch_id = bj.batch_id AND r.judgment_id = bj.judgment_id AND r.tier = $2)
		ORDER BY bj.sample_rank LIMIT 1`, batchID, tier, userID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return review.Item{}, ErrSampleDone
	}
	if err != nil {
		return review.Item{}, db.Error(err, "next of batch %d's sample", batchID)
	}
	return s.reviews.Item(ctx, id)
}

func result(b Batch, tier string) Verdict {
	if tier == review.TierBase {
		return b.BaseResult
	}
	return b.CentreResult
}

// Inspected is an inspection's review and what the batch's tier now stands at.
type Inspected struct {
	review.Decided
	Batch Batch `json:"batch"`
}

// Inspect records one tier's inspection of a sampled judgment: a review like any other
// (a defect is a rejected or fixed judgment), and, once the tier's defects reach Re or its
// whole sample is inspected, the tier's result. The centre's acceptance accepts every
// judgment of the batch not rejected; its rejection sends the batch back to the base's leads
// for 100% re-inspection (the review stream of the batch).
func (s *Store) Inspect(ctx context.Context, batchID, userID int64, reviewer bool, tier string, d review.Decision) (Inspected, error) {
	b, err := s.Get(ctx, batchID)
	if err != nil {
		return Inspected{}, err
	}
	sc, err := s.scopeFor(ctx, b, userID, reviewer, tier)
	if err != nil {
		return Inspected{}, err
	}
	if result(b, tier) != Pending {
		return Inspected{}, errs.E(errs.Conflict, "this tier's inspection of batch %d is decided: %s", batchID, string(result(b, tier)))
	}
	var rank *int32
	var inspected bool
	err = s.pool.QueryRow(ctx, `SELECT bj.sample_rank, EXISTS (SELECT 1 FROM reviews r WHERE r.batch_id = bj.batch_id AND r.judgment_id = bj.judgment_id AND r.tier = $3)
		FROM batch_judgments bj WHERE bj.batch_id = $1 AND bj.judgment_id = $2`, batchID, d.JudgmentID, tier).Scan(&rank, &inspected)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && rank == nil) {
		return Inspected{}, errs.Field("judgment_id", "judgment %d is not in batch %d's sample", d.JudgmentID, batchID)
	}
	if err != nil {
		return Inspected{}, db.Error(err, "batch %d", batchID)
	}
	if inspected {
		return Inspected{}, errs.E(errs.Conflict, "judgment %d was inspected for this tier already", d.JudgmentID)
	}
	d.BatchID, d.Tier = &batchID, tier
	plan := b.plan()
	decided, err := s.reviews.Decide(ctx, sc, userID, d, func(ctx context.Context, tx pgx.Tx, _ int64, _ bool) error {
		// The batch's row lock orders concurrent inspections, so the count below is final.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM batches WHERE id = $1 FOR UPDATE`, batchID); err != nil {
			return err
		}
		var n, defects int
		if err := tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE verdict <> 'accepted') FROM reviews WHERE batch_id = $1 AND tier = $2`,
			batchID, tier).Scan(&n, &defects); err != nil {
			return err
		}
		v := plan.Decide(n, defects)
		if v == Pending {
			return nil
		}
		now := s.now()
		col := "base"
		if tier == review.TierCentre {
			col = "centre"
		}
		if _, err := tx.Exec(ctx, `UPDATE batches SET `+col+`_result = $2, `+col+`_decided_at = $3 WHERE id = $1`, batchID, v, now); err != nil {
			return err
		}
		if tier != review.TierCentre {
			// The base's own check is recorded beside the batch; only the centre's acceptance
			// decides it, so only that is announced.
			return nil
		}
		if v == Rejected {
			return emit(ctx, tx, batchID, webhook.BatchRejected)
		}
		// Accepted by the centre: every judgment of the batch not rejected is accepted, and
		// leaves the review queue (judgment_checks: review_state only, per 00014).
		if _, err := tx.Exec(ctx, `INSERT INTO judgment_checks (judgment_id, review_state, updated_at)
				SELECT bj.judgment_id, 'accepted', $2 FROM batch_judgments bj WHERE bj.batch_id = $1
			ON CONFLICT (judgment_id) DO UPDATE SET review_state = 'accepted', updated_at = excluded.updated_at
				WHERE judgment_checks.review_state <> 'rejected'`, batchID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM review_queue q USING judgment_checks c
			WHERE q.batch_id = $1 AND c.judgment_id = q.judgment_id AND c.review_state = 'accepted'`, batchID); err != nil {
			return err
		}
		return emit(ctx, tx, batchID, webhook.BatchAccepted)
	})
	if err != nil {
		return Inspected{}, err
	}
	b, err = s.Get(ctx, batchID)
	return Inspected{Decided: decided, Batch: b}, err
}
