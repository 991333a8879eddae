package campaign

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
)

// TrainerStats is one trainer's work in a campaign as quality control sees it (issue 14).
type TrainerStats struct {
	TrainerID   int64  `json:"trainer_id"`
	Login       string `json:"login"`
	DisplayName string `json:"display_name"`
	BaseID      *int64 `json:"base_id"`
	BaseName    string `json:"base_name"`
	Judgments   int    `json:"judgments"` // submitted claims, gold items included
	// MedianMS is the median time per item. Items per hour are 3,600,000 / MedianMS: a
	// median is not moved by the item left open in a tab over lunch, as a mean or a span of
	// wall-clock time would be.
	MedianMS     *int     `json:"median_ms"`
	ItemsPerHour *float64 `json:"items_per_hour"`
	Accepted     int      `json:"accepted"` // judgments a reviewer or an accepted batch accepted (judgment_checks)
	Rejected     int      `json:"rejected"`
	// AcceptanceRate is accepted / (accepted + rejected): of what was checked, how much
	// passed. Nil while nothing of theirs has been reviewed.
	AcceptanceRate   *float64 `json:"acceptance_rate"`
	GoldAnswered     int      `json:"gold_answered"`
	GoldCorrect      int      `json:"gold_correct"`
	HoneypotAccuracy *float64 `json:"honeypot_accuracy"` // gold_correct / gold_answered
	// Agreement is the trainer's mean Spearman ρ with the leave-one-out consensus of the
	// others on the same items (−1 to 1), as the last agreement refresh found it.
	Agreement    *float64 `json:"agreement"`
	Rework       int      `json:"rework"` // revisions after the first: resubmissions after a rejection
	SpeedFlagged int      `json:"speed_flagged"`
	Held         int      `json:"held"`
	Paused       bool     `json:"paused"`
	// LeftShare is, in a blind pairwise campaign, the share of decided pairs the trainer gave
	// to the left-hand reply (side-swap repeats included, where the left is the other reply):
	// their position bias, near 0.5 when position does not sway them. Nil elsewhere.
	LeftShare *float64 `json:"left_share"`
	// Side-swap checks (swap.go): repeats answered, and how many picked the same reply as the
	// first time (or tied both times). Repeats count in no other figure here.
	SwapRepeats    int `json:"swap_repeats"`
	SwapConsistent int `json:"swap_consistent"`
	// SwapConsistency is swap_consistent / swap_repeats; nil before the first repeat.
	SwapConsistency *float64 `json:"swap_consistency"`
}

// StatsScope is whose statistics a reader may see: everyone's, or their own and those of
// the bases they lead.
type StatsScope struct {
	All   bool
	Self  int64
	Bases []int64
}

// TrainerStats returns the statistics of the campaign's trainers the scope allows, by login.
func (s *Store) TrainerStats(ctx context.Context, campaignID int64, scope StatsScope) ([]TrainerStats, error) {
	bases := scope.Bases
	if bases == nil {
		bases = []int64{}
	}
	rows, _ := s.pool.Query(ctx, `WITH j AS (
			SELECT cl.trainer_id, jd.time_spent_ms, coalesce(jc.review_state, 'unreviewed') AS rs, coalesce(jc.speed_flagged, false) AS sf,
				coalesce(jc.held, false) AS held, cl.swap_of IS NOT NULL AS swap,
				-- A repeat shows the pair the other way round: its left is position 2.
				CASE WHEN c.task_kind = 'blind_pairwise' AND jsonb_array_length(jd.ranking) = 2
					THEN (SELECT cand.position FROM candidates cand WHERE cand.id = (jd.ranking->0->>0)::bigint)
						= CASE WHEN cl.swap_of IS NULL THEN 1 ELSE 2 END END AS left_won,
				-- The same reply first (or a tie both times) as the claim it repeats.
				CASE WHEN cl.swap_of IS NOT NULL THEN (SELECT CASE WHEN jsonb_array_length(jo.ranking) = 2 THEN jo.ranking->0->>0 END
						FROM claims o JOIN judgments jo ON jo.id = o.judgment_id WHERE o.id = cl.swap_of)
					IS NOT DISTINCT FROM CASE WHEN jsonb_array_length(jd.ranking) = 2 THEN jd.ranking->0->>0 END END AS consistent
			FROM claims cl JOIN campaigns c ON c.id = cl.campaign_id JOIN judgments jd ON jd.id = cl.judgment_id
				LEFT JOIN judgment_checks jc ON jc.judgment_id = cl.judgment_id
			WHERE cl.campaign_id = $1 AND cl.state = 'submitted')
		SELECT u.id, u.login, u.display_name, bm.base_id, coalesce(b.name, ''), count(*) FILTER (WHERE NOT j.swap)::int,
			percentile_disc(0.5) WITHIN GROUP (ORDER BY j.time_spent_ms) FILTER (WHERE NOT j.swap),
			count(*) FILTER (WHERE j.rs = 'accepted' AND NOT j.swap)::int, count(*) FILTER (WHERE j.rs = 'rejected' AND NOT j.swap)::int,
			(SELECT count(*) FROM gold_results r WHERE r.campaign_id = $1 AND r.trainer_id = u.id)::int,
			(SELECT count(*) FROM gold_results r WHERE r.campaign_id = $1 AND r.trainer_id = u.id AND r.correct)::int,
			(SELECT value FROM agreement_figures f WHERE f.campaign_id = $1 AND f.scope = 'trainer' AND f.scope_id = u.id AND f.measure = 'loo'),
			(SELECT count(*) FROM judgments r JOIN campaign_items i ON i.turn_id = r.turn_id WHERE i.campaign_id = $1 AND r.trainer_id = u.id AND r.revision > 1
				AND NOT EXISTS (SELECT 1 FROM claims sc WHERE sc.judgment_id = r.id AND sc.swap_of IS NOT NULL))::int,
			count(*) FILTER (WHERE j.sf AND NOT j.swap)::int, count(*) FILTER (WHERE j.held AND NOT j.swap)::int,
			EXISTS (SELECT 1 FROM trainer_pauses p WHERE p.campaign_id = $1 AND p.trainer_id = u.id AND p.lifted_at IS NULL),
			count(*) FILTER (WHERE j.left_won)::int, count(j.left_won)::int,
			count(*) FILTER (WHERE j.swap)::int, count(*) FILTER (WHERE j.consistent)::int
		FROM j JOIN users u ON u.id = j.trainer_id LEFT JOIN base_members bm ON bm.user_id = u.id LEFT JOIN bases b ON b.id = bm.base_id
		WHERE $2 OR u.id = $3 OR bm.base_id = ANY ($4)
		GROUP BY u.id, u.login, u.display_name, bm.base_id, b.name ORDER BY u.login`, campaignID, scope.All, scope.Self, bases)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TrainerStats, error) {
		var t TrainerStats
		var left, decided int
		if err := r.Scan(&t.TrainerID, &t.Login, &t.DisplayName, &t.BaseID, &t.BaseName, &t.Judgments, &t.MedianMS, &t.Accepted, &t.Rejected,
			&t.GoldAnswered, &t.GoldCorrect, &t.Agreement, &t.Rework, &t.SpeedFlagged, &t.Held, &t.Paused, &left, &decided,
			&t.SwapRepeats, &t.SwapConsistent); err != nil {
			return t, err
		}
		if t.MedianMS != nil && *t.MedianMS > 0 {
			v := 3600000 / float64(*t.MedianMS)
			t.ItemsPerHour = &v
		}
		t.AcceptanceRate = share(t.Accepted, t.Accepted+t.Rejected)
		t.HoneypotAccuracy = share(t.GoldCorrect, t.GoldAnswered)
		t.LeftShare = share(left, decided)
		t.SwapConsistency = share(t.SwapConsistent, t.SwapRepeats)
		return t, nil
	})
	if out == nil {
		out = []TrainerStats{}
	}
	return out, db.Error(err, "trainer statistics of campaign %d", campaignID)
}

func share(n, of int) *float64 {
	if of == 0 {
		return nil
	}
	v := float64(n) / float64(of)
	return &v
}
