package agreement

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
)

// Report is a campaign's agreement as the last refresh left it.
type Report struct {
	CampaignID   int64      `json:"campaign_id"`
	RefreshedAt  *time.Time `json:"refreshed_at"`  // nil before the first refresh
	AlphaRanking *float64   `json:"alpha_ranking"` // ordinal α over places in the rankings; nil when undefined
	AlphaFlags   *float64   `json:"alpha_flags"`   // nominal α over flags
	AlphaRatings *float64   `json:"alpha_ratings"` // ordinal α over rubric scores
	MeanW        *float64   `json:"mean_w"`        // mean Kendall's W of the items
	Items        int        `json:"items"`         // items with a W
	LowItems     int        `json:"low_items"`     // of which below the campaign's agreement floor
	Extra        int        `json:"extra"`         // items asked for more judgments (adaptive overlap)
	Adjudicate   int        `json:"adjudicate"`    // items waiting for a reviewer's adjudication
	Bases        []Scope    `json:"bases"`
	Trainers     []Scope    `json:"trainers"`
	History      []Point    `json:"history"`
}

// Scope is a base's α over rankings, or a trainer's agreement with the leave-one-out
// consensus (mean Spearman ρ, −1 to 1), with how many units or items it rests on.
type Scope struct {
	ID    int64    `json:"id"`
	Name  string   `json:"name"` // the base's name or the trainer's login
	Value *float64 `json:"value"`
	Units int      `json:"units"`
}

// Point is one refresh's α, for the chart of α over time.
type Point struct {
	At        time.Time `json:"at"`
	Measure   string    `json:"measure"` // alpha_ranking, alpha_flags or alpha_ratings
	Value     *float64  `json:"value"`
	Judgments int       `json:"judgments"`
}

// Report reads a campaign's agreement figures; trainerID, when not 0, keeps only that
// trainer among the trainers (a trainer sees their own figure, not the others').
func (r *Refresher) Report(ctx context.Context, campaignID, trainerID int64) (Report, error) {
	out := Report{CampaignID: campaignID, Bases: []Scope{}, Trainers: []Scope{}, History: []Point{}}
	rows, _ := r.pool.Query(ctx, `SELECT f.scope, f.scope_id, f.measure, f.value, f.units, f.refreshed_at,
			coalesce(b.name, u.login, '')
		FROM agreement_figures f LEFT JOIN bases b ON f.scope = 'base' AND b.id = f.scope_id LEFT JOIN users u ON f.scope = 'trainer' AND u.id = f.scope_id
		WHERE f.campaign_id = $1 AND ($2 = 0 OR f.scope <> 'trainer' OR f.scope_id = $2) ORDER BY f.scope, coalesce(b.name, u.login, ''), f.measure`, campaignID, trainerID)
	var scope, measure, name string
	var id int64
	var value *float64
	var units int
	var at time.Time
	_, err := pgx.ForEachRow(rows, []any{&scope, &id, &measure, &value, &units, &at, &name}, func() error {
		t := at
		out.RefreshedAt = &t
		switch scope {
		case "campaign":
			switch measure {
			case AlphaRanking:
				out.AlphaRanking = value
			case AlphaFlags:
				out.AlphaFlags = value
			case AlphaRatings:
				out.AlphaRatings = value
			case MeanW:
				out.MeanW, out.Items = value, units
			}
		case "base":
			out.Bases = append(out.Bases, Scope{ID: id, Name: name, Value: value, Units: units})
		case "trainer":
			out.Trainers = append(out.Trainers, Scope{ID: id, Name: name, Value: value, Units: units})
		}
		return nil
	})
	if err != nil {
		return out, db.Error(err, "agreement of campaign %d", campaignID)
	}
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE a.agreement < c.agreement_floor)::int,
			count(*) FILTER (WHERE i.extra_k > 0)::int, count(*) FILTER (WHERE i.adjudicate)::int
		FROM campaign_items i JOIN campaigns c ON c.id = i.campaign_id LEFT JOIN item_agreement a ON a.item_id = i.id
		WHERE i.campaign_id = $1`, campaignID).Scan(&out.LowItems, &out.Extra, &out.Adjudicate); err != nil {
		return out, db.Error(err, "agreement of campaign %d", campaignID)
	}
	rows, _ = r.pool.Query(ctx, `SELECT at, measure, value, judgments FROM agreement_history WHERE campaign_id = $1 ORDER BY at, measure LIMIT 3000`, campaignID)
	out.History, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Point])
	if out.History == nil {
		out.History = []Point{}
	}
	return out, db.Error(err, "agreement history of campaign %d", campaignID)
}
