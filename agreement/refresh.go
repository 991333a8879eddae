package agreement

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
)

// The measures a refresh writes to agreement_figures (and, for a campaign, to
// agreement_history).
const (
	AlphaRanking = "alpha_ranking" // ordinal α over each candidate's place in the rankings
	AlphaFlags   = "alpha_flags"   // nominal α over each flag on each candidate, set or not
	AlphaRatings = "alpha_ratings" // ordinal α over each rubric score of each candidate
	LOO          = "loo"           // mean Spearman ρ of a trainer's ranking with the others' mean ranking
	MeanW        = "mean_w"        // the mean of the items' Kendall's W
)

// Refresher recomputes a campaign's agreement from its judgments and writes it: W per item
// into item_agreement, α per campaign and base and leave-one-out agreement per trainer into
// agreement_figures, α over time into agreement_history, the median time per item into the
// campaign (the speed floor reads it), and adaptive overlap's extra judgments.
type Refresher struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	logger *slog.Logger
}

// NewRefresher returns a Refresher; now is the clock refreshed_at is stamped with.
func NewRefresher(pool *pgxpool.Pool, now func() time.Time, logger *slog.Logger) *Refresher {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Refresher{pool: pool, now: now, logger: logger}
}

// Summary is what one refresh found.
type Summary struct {
	Judgments   int
	Items       int // items with a W
	Extra       int // items given more judgments
	Adjudicate  int // items sent to a reviewer
	AlphaRanked *float64
}

// RefreshAll refreshes every open or paused campaign with judgments newer than its last
// refresh; it is what the periodic job runs.
func (r *Refresher) RefreshAll(ctx context.Context) error {
	rows, _ := r.pool.Query(ctx, `SELECT c.id FROM campaigns c WHERE c.state IN ('open', 'paused')
		AND EXISTS (SELECT 1 FROM claims cl WHERE cl.campaign_id = c.id AND cl.state = 'submitted'
			AND cl.closed_at > coalesce((SELECT max(refreshed_at) FROM agreement_figures f WHERE f.campaign_id = c.id), '-infinity'))
		ORDER BY c.id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return db.Error(err, "campaigns to refresh")
	}
	for _, id := range ids {
		if _, err := r.Refresh(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// Refresh recomputes one campaign's agreement. Gold items are left out: their answers are
// known, and agreement is about what is not.
func (r *Refresher) Refresh(ctx context.Context, campaignID int64) (Summary, error) {
	now := r.now()
	var sum Summary
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		// One refresh of a campaign at a time; a second waits rather than double-counting
		// adaptive overlap's budget.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, fmt.Sprintf("agreement:%d", campaignID)); err != nil {
			return err
		}
		figs, judgments, err := aggregate(ctx, tx, campaignID, now)
		if err != nil {
			return err
		}
		sum.Judgments = judgments
		sum.Items = figs.itemsWritten
		sum.AlphaRanked = figs.campaign[AlphaRanking].value
		if err := write(ctx, tx, campaignID, figs, judgments, now); err != nil {
			return err
		}
		sum.Extra, sum.Adjudicate, err = overlap(ctx, tx, campaignID)
		return err
	})
	if err != nil {
		return Summary{}, db.Error(err, "refresh the agreement of campaign %d", campaignID)
	}
	r.logger.Debug("agreement refreshed", "campaign", campaignID, "judgments", sum.Judgments, "items", sum.Items, "extra", sum.Extra)
	return sum, nil
}

// figure is one measure's value (nil when undefined) and how many units it rests on.
type figure struct {
	value *float64
	units int
}

type itemW struct {
	item      int64
	w         float64
	judgments int
}

type figures struct {
	campaign map[string]figure
	bases    map[int64]map[string]figure
	trainers map[int64]map[string]figure
	items    []itemW // for write to upsert; empty when aggregate wrote them itself
	// itemsWritten is how many items aggregate gave a W and wrote to item_agreement.
	itemsWritten int
}

// write replaces the campaign's figures, upserts item_agreement, adds to the history when
// the judgments changed, and stores the median time per item.
func write(ctx context.Context, tx pgx.Tx, campaignID int64, f figures, judgments int, now time.Time) error {
	items := make([]int64, len(f.items))
	ws := make([]float64, len(f.items))
	ns := make([]int32, len(f.items))
	for i, it := range f.items {
		items[i], ws[i], ns[i] = it.item, it.w, int32(it.judgments)
	}
	b := &pgx.Batch{}
	if len(items) > 0 {
		b.Queue(`INSERT INTO item_agreement (item_id, agreement, judgments, refreshed_at)
		SELECT * FROM unnest($1::bigint[], $2::float8[], $3::int[]), (SELECT $4::timestamptz) t
		ON CONFLICT (item_id) DO UPDATE SET agreement = EXCLUDED.agreement, judgments = EXCLUDED.judgments, refreshed_at = EXCLUDED.refreshed_at`,
			items, ws, ns, now)
	}
	b.Queue(`DELETE FROM agreement_figures WHERE campaign_id = $1`, campaignID)
	var scope []string
	var scopeID []int64
	var measure []string
	var value []*float64
	var units []int32
	addFig := func(s string, id int64, m map[string]figure) {
		for k, v := range m {
			scope, scopeID, measure, value, units = append(scope, s), append(scopeID, id), append(measure, k), append(value, v.value), append(units, int32(v.units))
		}
	}
	addFig("campaign", 0, f.campaign)
	for id, m := range f.bases {
		addFig("base", id, m)
	}
	for id, m := range f.trainers {
		addFig("trainer", id, m)
	}
	b.Queue(`INSERT INTO agreement_figures (campaign_id, scope, scope_id, measure, value, units, refreshed_at)
		SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::float8[], $6::int[]), (SELECT $7::timestamptz) t`,
		campaignID, scope, scopeID, measure, value, units, now)
	// History only when there is something new: a refresh every 30 s of a quiet campaign
	// would otherwise fill the chart with the same point.
	b.Queue(`INSERT INTO agreement_history (campaign_id, at, measure, value, judgments)
		SELECT $1, $2, f.measure, f.value, $3 FROM agreement_figures f
		WHERE f.campaign_id = $1 AND f.scope = 'campaign' AND f.measure IN ('alpha_ranking', 'alpha_flags', 'alpha_ratings')
			AND $3 <> coalesce((SELECT judgments FROM agreement_history h WHERE h.campaign_id = $1 ORDER BY at DESC LIMIT 1), -1)
		ON CONFLICT DO NOTHING`, campaignID, now, judgments)
	b.Queue(`UPDATE campaigns SET median_ms = (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY j.time_spent_ms)
		FROM claims cl JOIN judgments j ON j.id = cl.judgment_id WHERE cl.campaign_id = $1 AND cl.state = 'submitted') WHERE id = $1`, campaignID)
	return tx.SendBatch(ctx, b).Close()
}

// overlap is adaptive overlap: a completed item whose W is below the campaign's floor is
// asked for one more judgment (up to 2 beyond k) while the campaign's extra budget lasts;
// one past both goes to a reviewer for adjudication. It runs in SQL, under the campaign's
// row lock, so the budget is never overspent.
func overlap(ctx context.Context, tx pgx.Tx, campaignID int64) (extra, adjudicate int, err error) {
	err = tx.QueryRow(ctx, `WITH c AS (SELECT id, k, agreement_floor, extra_budget - extra_used AS budget FROM campaigns WHERE id = $1 FOR UPDATE),
		low AS (SELECT i.id, i.extra_k, row_number() OVER (PARTITION BY i.extra_k < 2 ORDER BY a.agreement, i.id) AS n
			FROM campaign_items i JOIN item_agreement a ON a.item_id = i.id, c
			WHERE i.campaign_id = c.id AND NOT i.gold AND NOT i.adjudicate AND i.completed_at IS NOT NULL
				AND a.agreement < c.agreement_floor AND a.judgments >= c.k + i.extra_k),
		more AS (UPDATE campaign_items i SET extra_k = i.extra_k + 1, completed_at = NULL FROM low, c
			WHERE i.id = low.id AND low.extra_k < 2 AND low.n <= c.budget RETURNING i.id),
		adj AS (UPDATE campaign_items i SET adjudicate = true FROM low, c
			WHERE i.id = low.id AND (low.extra_k >= 2 OR low.n > c.budget) RETURNING i.id),
		spent AS (UPDATE campaigns SET extra_used = extra_used + (SELECT count(*) FROM more) WHERE id = $1)
		SELECT (SELECT count(*) FROM more)::int, (SELECT count(*) FROM adj)::int`, campaignID).Scan(&extra, &adjudicate)
	return extra, adjudicate, err
}
