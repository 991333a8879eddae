package acceptance

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
)

// Dashboard is what the QC page of a campaign (or of one base in it) charts.
type Dashboard struct {
	CampaignID int64    `json:"campaign_id"`
	BaseID     *int64   `json:"base_id"`
	Settings   Settings `json:"settings"`
	// Severity is the inspection the base's next batch gets, when the page is about one base
	// (discontinued: none, until resumed).
	Severity *Severity `json:"severity"`
	// Switching is where that base stands under the switching rules, for one base.
	Switching *Switching `json:"switching"`
	Batches   []Batch    `json:"batches"` // in the order they were closed
	Defects   []Defects  `json:"defects"` // rejections by reason, most first
	Tiers     []TierGap  `json:"tiers"`   // per base: its own check against the centre's acceptance
	Reviews   Counts     `json:"reviews"`
	// Notes are the switching notes recorded for the campaign's bases (for one base, its
	// own), newest first: what the switching rules read besides the batches, and why.
	Notes []NoteRecord `json:"notes"`
}

// NoteRecord is a recorded switching note, as the QC page lists it.
type NoteRecord struct {
	ID        int64     `json:"id" db:"id"`
	BaseID    int64     `json:"base_id" db:"base_id"`
	Base      string    `json:"base" db:"base"`
	Kind      string    `json:"kind" db:"kind"`           // irregular or resumed
	AfterSeq  int       `json:"after_seq" db:"after_seq"` // the base's batch it was recorded after
	Note      string    `json:"note" db:"note"`
	By        string    `json:"by" db:"by"` // the display name of the admin who recorded it
	CreatedAt time.Time `json:"created_at" db:"created_at"`
}

// Defects is how many judgments were rejected for one reason (fixed ones count as
// "fixed").
type Defects struct {
	ReasonCode string `json:"reason_code" db:"reason_code"`
	Count      int    `json:"count" db:"count"`
}

// TierGap compares a base's own check (质检) with the centre's acceptance (验收) on the same
// batches: each pass rate is the share of inspected sampled judgments found without defect.
type TierGap struct {
	BaseID          int64    `json:"base_id" db:"base_id"`
	Base            string   `json:"base" db:"base"`
	Batches         int      `json:"batches" db:"batches"`
	BaseInspected   int      `json:"base_inspected" db:"base_inspected"`
	BasePassRate    *float64 `json:"base_pass_rate" db:"base_pass_rate"`
	CentreInspected int      `json:"centre_inspected" db:"centre_inspected"`
	CentrePassRate  *float64 `json:"centre_pass_rate" db:"centre_pass_rate"`
	// Gap is base minus centre pass rate, in percentage points; Above is true when the base
	// rates its own work higher than the centre does.
	Gap   *float64 `json:"gap" db:"gap"`
	Above bool     `json:"above" db:"above"`
	// Switching is where the base stands under the switching rules.
	Switching Switching `json:"switching" db:"-"`
}

// Counts are the campaign's review totals.
type Counts struct {
	Waiting  int `json:"waiting" db:"waiting"`   // in the review queue
	Accepted int `json:"accepted" db:"accepted"` // judgments accepted, by review or batch
	Rejected int `json:"rejected" db:"rejected"`
	Reworks  int `json:"reworks" db:"reworks"` // open reworks
	Appeals  int `json:"appeals" db:"appeals"` // appeals waiting for a decision
}

// Dashboard gathers a campaign's QC figures; baseID narrows them to one base.
func (s *Store) Dashboard(ctx context.Context, campaignID int64, baseID *int64) (Dashboard, error) {
	out := Dashboard{CampaignID: campaignID, BaseID: baseID}
	var err error
	if out.Settings, err = s.Settings(ctx, campaignID); err != nil {
		return out, err
	}
	if out.Batches, err = s.List(ctx, campaignID, baseID); err != nil {
		return out, err
	}
	if baseID != nil {
		sw, err := switchingOf(ctx, s.pool, campaignID, *baseID, *out.Settings.ReducedAllowed)
		if err != nil {
			return out, err
		}
		out.Switching, out.Severity = &sw, &sw.State
	}
	rows, _ := s.pool.Query(ctx, `SELECT CASE WHEN r.verdict = 'fixed' THEN 'fixed' ELSE r.reason_code END AS reason_code, count(*)::int AS count
		FROM reviews r LEFT JOIN claims cl ON cl.judgment_id = r.judgment_id
		WHERE r.campaign_id = $1 AND r.verdict <> 'accepted' AND ($2::bigint IS NULL OR cl.base_id = $2)
		GROUP BY 1 ORDER BY 2 DESC, 1`, campaignID, baseID)
	if out.Defects, err = pgx.CollectRows(rows, pgx.RowToStructByName[Defects]); err != nil {
		return out, db.Error(err, "defects of campaign %d", campaignID)
	}
	rows, _ = s.pool.Query(ctx, `WITH t AS (
			SELECT b.base_id, bs.name AS base, count(DISTINCT b.id)::int AS batches,
				count(r.id) FILTER (WHERE r.tier = 'base')::int AS base_inspected,
				count(r.id) FILTER (WHERE r.tier = 'base' AND r.verdict = 'accepted')::int AS base_passed,
				count(r.id) FILTER (WHERE r.tier = 'centre')::int AS centre_inspected,
				count(r.id) FILTER (WHERE r.tier = 'centre' AND r.verdict = 'accepted')::int AS centre_passed
			FROM batches b JOIN bases bs ON bs.id = b.base_id LEFT JOIN reviews r ON r.batch_id = b.id
			WHERE b.campaign_id = $1 AND ($2::bigint IS NULL OR b.base_id = $2)
			GROUP BY b.base_id, bs.name
		), rates AS (
			SELECT *, CASE WHEN base_inspected > 0 THEN 100.0 * base_passed / base_inspected END AS base_pass_rate,
				CASE WHEN centre_inspected > 0 THEN 100.0 * centre_passed / centre_inspected END AS centre_pass_rate FROM t
		)
		SELECT base_id, base, batches, base_inspected, base_pass_rate, centre_inspected, centre_pass_rate,
			base_pass_rate - centre_pass_rate AS gap, coalesce(base_pass_rate > centre_pass_rate, false) AS above
		FROM rates ORDER BY gap DESC NULLS LAST, base`, campaignID, baseID)
	if out.Tiers, err = pgx.CollectRows(rows, pgx.RowToStructByName[TierGap]); err != nil {
		return out, db.Error(err, "tiers of campaign %d", campaignID)
	}
	for i := range out.Tiers {
		if out.Tiers[i].Switching, err = switchingOf(ctx, s.pool, campaignID, out.Tiers[i].BaseID, *out.Settings.ReducedAllowed); err != nil {
			return out, err
		}
	}
	rows, _ = s.pool.Query(ctx, `SELECT n.id, n.base_id, b.name AS base, n.kind, n.after_seq, n.note, u.display_name AS by, n.created_at
		FROM inspection_notes n JOIN bases b ON b.id = n.base_id JOIN users u ON u.id = n.created_by
		WHERE n.campaign_id = $1 AND ($2::bigint IS NULL OR n.base_id = $2) ORDER BY n.id DESC`, campaignID, baseID)
	if out.Notes, err = pgx.CollectRows(rows, pgx.RowToStructByName[NoteRecord]); err != nil {
		return out, db.Error(err, "switching notes of campaign %d", campaignID)
	}
	err = s.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM review_queue q WHERE q.campaign_id = $1 AND ($2::bigint IS NULL OR q.base_id = $2))::int,
			(SELECT count(*) FROM claims cl JOIN judgment_checks c ON c.judgment_id = cl.judgment_id
				WHERE cl.campaign_id = $1 AND ($2::bigint IS NULL OR cl.base_id = $2) AND c.review_state = 'accepted')::int,
			(SELECT count(*) FROM claims cl JOIN judgment_checks c ON c.judgment_id = cl.judgment_id
				WHERE cl.campaign_id = $1 AND ($2::bigint IS NULL OR cl.base_id = $2) AND c.review_state = 'rejected')::int,
			(SELECT count(*) FROM reworks rw LEFT JOIN claims cl ON cl.judgment_id = rw.judgment_id
				WHERE rw.campaign_id = $1 AND rw.state = 'open' AND ($2::bigint IS NULL OR cl.base_id = $2))::int,
			(SELECT count(*) FROM appeals a JOIN reviews r ON r.id = a.review_id LEFT JOIN claims cl ON cl.judgment_id = r.judgment_id
				WHERE r.campaign_id = $1 AND a.decision IS NULL AND ($2::bigint IS NULL OR cl.base_id = $2))::int`, campaignID, baseID).
		Scan(&out.Reviews.Waiting, &out.Reviews.Accepted, &out.Reviews.Rejected, &out.Reviews.Reworks, &out.Reviews.Appeals)
	return out, db.Error(err, "review counts of campaign %d", campaignID)
}
