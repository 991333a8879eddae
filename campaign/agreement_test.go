package campaign_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/agreement"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/rlhf"
)

// TestAgreementRefresh runs the refresh over real claims and judgments: W per item, α and
// leave-one-out figures, the median time, and adaptive overlap within the budget.
func TestAgreementRefresh(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	zero, floor, budget := 0.0, 0.5, 1
	c := f.campaign(t, campaign.Input{K: 3, Checks: campaign.ChecksInput{HoneypotRate: &zero, AgreementFloor: &floor, ExtraBudget: &budget}})
	ids := f.readyItems(t, c, 3)
	trainers := f.trainers(t, "a", 4)
	for i, tr := range trainers[:3] {
		for range 3 {
			claim, err := f.store.Next(ctx, c.ID, tr)
			require.NoError(t, err)
			// All agree on the first item; the third trainer reverses the other two.
			f.judgeAs(t, claim.ID, tr, claim.ItemID != ids[0] && i == 2, 4000+1000*i)
		}
	}
	r := agreement.NewRefresher(f.pool, f.clock.now, nil)
	require.NoError(t, r.RefreshAll(ctx))

	w := map[int64]float64{}
	rows, err := f.pool.Query(ctx, `SELECT item_id, agreement FROM item_agreement WHERE item_id = ANY ($1)`, ids)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var a float64
		require.NoError(t, rows.Scan(&id, &a))
		w[id] = a
	}
	require.NoError(t, rows.Err())
	assert.InDelta(t, 1, w[ids[0]], 1e-9, "unanimous")
	// Places (1,2), (1,2), (2,1): rank sums 4 and 5, S = 0.5, W = 12·0.5 / (3²·(2³−2)) = 1/9.
	assert.InDelta(t, 1.0/9, w[ids[1]], 1e-9)

	var extraK, adjudicate int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE extra_k = 1 AND completed_at IS NULL), count(*) FILTER (WHERE adjudicate)
		FROM campaign_items WHERE campaign_id = $1`, c.ID).Scan(&extraK, &adjudicate))
	assert.Equal(t, 1, extraK, "the budget buys one more judgment")
	assert.Equal(t, 1, adjudicate, "the other split item goes to a reviewer")
	claim, err := f.store.Next(ctx, c.ID, trainers[3])
	require.NoError(t, err, "the item asked for more takes a fourth trainer")
	assert.Equal(t, ids[1], claim.ItemID)

	got, err := r.Report(ctx, c.ID, 0)
	require.NoError(t, err)
	require.NotNil(t, got.AlphaRanking)
	assert.Less(t, *got.AlphaRanking, 1.0)
	assert.Len(t, got.Trainers, 3)
	assert.Len(t, got.History, 3, "one point per α")
	var median int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT median_ms FROM campaigns WHERE id = $1`, c.ID).Scan(&median))
	assert.Equal(t, 5000, median)

	// Nothing new: the next refresh leaves the history alone.
	f.clock.add(agreement.Every)
	require.NoError(t, r.RefreshAll(ctx))
	got, err = r.Report(ctx, c.ID, 0)
	require.NoError(t, err)
	assert.Len(t, got.History, 3, "no new point")
}

// TestAgreementRefreshFigures holds the refresh's campaign figures to α computed by hand over
// the units the seeded judgments make (seedAgreementJudgments): ordinal α over each
// candidate's place, nominal α over each flag of each candidate set or not, and ordinal α
// over each score, as the refresh reads flags and scores flattened by PostgreSQL.
func TestAgreementRefreshFigures(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	c := f.campaign(t, campaign.Input{K: 3})
	seedAgreementJudgments(t, f, c.ID, f.trainers(t, "fig", 5), 4)
	rows, err := f.pool.Query(ctx, `SELECT id FROM campaign_items WHERE campaign_id = $1 ORDER BY id`, c.ID)
	require.NoError(t, err)
	items, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	require.Len(t, items, 4)

	var places, flags, scores [][]float64
	for _, id := range items {
		// One judgment of each item is disturbed: places (2, 1, 3, 3) against (1, 2, 3, 4).
		places = append(places, []float64{1, 1, 2}, []float64{2, 2, 1}, []float64{3, 3, 3}, []float64{4, 4, 3})
		for cand := range 4 {
			for _, flag := range rlhf.Flags {
				unit := []float64{0, 0, 0}
				if cand == 3 && flag == "hallucination" {
					unit[1] = 1
				}
				flags = append(flags, unit)
			}
		}
		scores = append(scores, []float64{float64(1 + id%5), float64(1 + (id+1)%5), float64(1 + (id+2)%5)})
	}
	want := map[string][2]any{}
	for measure, u := range map[string]struct {
		level agreement.Level
		units [][]float64
	}{
		agreement.AlphaRanking: {agreement.Ordinal, places},
		agreement.AlphaFlags:   {agreement.Nominal, flags},
		agreement.AlphaRatings: {agreement.Ordinal, scores},
	} {
		a, n, ok := agreement.Alpha(u.level, u.units)
		require.True(t, ok, measure)
		want[measure] = [2]any{a, n}
	}

	sum, err := agreement.NewRefresher(f.pool, f.clock.now, nil).Refresh(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, 12, sum.Judgments)
	rows, err = f.pool.Query(ctx, `SELECT measure, value, units FROM agreement_figures
		WHERE campaign_id = $1 AND scope = 'campaign' AND measure LIKE 'alpha_%'`, c.ID)
	require.NoError(t, err)
	got := map[string][2]any{}
	var measure string
	var value float64
	var units int
	_, err = pgx.ForEachRow(rows, []any{&measure, &value, &units}, func() error {
		got[measure] = [2]any{value, units}
		return nil
	})
	require.NoError(t, err)
	require.Len(t, got, 3)
	for m, w := range want {
		assert.InDelta(t, w[0], got[m][0], 1e-9, m)
		assert.Equal(t, w[1], got[m][1], m)
	}
}

// BenchmarkAgreementRefresh times one refresh of a campaign of MENTOR_BENCH_AGREEMENT_JUDGMENTS
// judgments (k = 3, four candidates ranked per judgment, 100 trainers, every third ranking
// disturbed). The target is ≤ 2 s at 100,000; the default size is a smoke run.
func BenchmarkAgreementRefresh(b *testing.B) {
	n := benchSize(b, "MENTOR_BENCH_AGREEMENT_JUDGMENTS", 3000)
	f := setup(b)
	ctx := context.Background()
	c := f.campaign(b, campaign.Input{K: 3})
	trainers := f.trainers(b, "w", 100)
	items := n / 3
	seedAgreementJudgments(b, f, c.ID, trainers, items)
	_, err := f.pool.Exec(ctx, `UPDATE campaigns SET state = 'open' WHERE id = $1`, c.ID)
	require.NoError(b, err)
	_, err = f.pool.Exec(ctx, `ANALYZE`)
	require.NoError(b, err)
	r := agreement.NewRefresher(f.pool, f.clock.now, nil)
	// The first refresh in a process took about 0.7 s more than the next ones (2.2 s against
	// 1.2-1.5 s at 100,000 judgments): the server's job refreshes every 30 s, so the loop
	// times the refreshes after it, and the first is reported apart.
	start := time.Now()
	_, err = r.Refresh(ctx, c.ID)
	require.NoError(b, err)
	first := time.Since(start)
	var sum agreement.Summary
	for b.Loop() { // b.Loop starts the timer afresh
		sum, err = r.Refresh(ctx, c.ID)
		require.NoError(b, err)
	}
	require.Equal(b, items*3, sum.Judgments)
	b.ReportMetric(float64(sum.Judgments), "judgments")
	b.ReportMetric(first.Seconds(), "first-refresh-s")
}

// seedAgreementJudgments writes items items into campaign, each with a turn and three
// judgments by three of trainers (the benchmark's shape, set-based): the rankings name four
// made-up candidate ids per item (id·4+1 … id·4+4; the refresh reads only ids), every third
// one disturbed; judgment s of an item scores candidate id·4+1 "helpful" 1 + (id + s) mod 5,
// and judgment 1 flags candidate id·4+4 as a hallucination.
func seedAgreementJudgments(tb testing.TB, f *fixture, campaign int64, trainers []int64, items int) {
	tb.Helper()
	ctx := context.Background()
	// Items, turns and judgments in bulk: rankings name four made-up candidate ids per item
	// (the refresh reads only ids); each item's three judgments come from three trainers.
	_, err := f.pool.Exec(ctx, `WITH conv AS (INSERT INTO conversations (project_id, persona_id, created_by, locale)
			SELECT $1, $2, $3, 'zh-CN' FROM generate_series(1, $5) RETURNING id),
		msg AS (INSERT INTO messages (conversation_id, role, author, author_id, content)
			SELECT id, 'user', 'human', $3, 'q' FROM conv RETURNING id, conversation_id),
		tr AS (INSERT INTO turns (conversation_id, user_message_id, created_by) SELECT conversation_id, id, $3 FROM msg RETURNING id, user_message_id)
		INSERT INTO campaign_items (campaign_id, question, normalized, turn_id, generation, taken, judged, completed_at)
		SELECT $4, 'q' || tr.id, 'q' || tr.id, tr.id, 'ready', 3, 3, now() FROM tr`, f.project.ID, f.persona.ID, f.admin, campaign, items)
	require.NoError(tb, err)
	_, err = f.pool.Exec(ctx, `WITH js AS (
			INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags, continuation_message_id, time_spent_ms)
			SELECT i.turn_id, ($2::bigint[])[1 + (i.id * 7 + s * 31) % cardinality($2::bigint[])], 1, 'bench-' || i.id || '-' || s, '\x00',
				CASE WHEN (i.id + s) % 3 = 0 THEN jsonb_build_array(jsonb_build_array(i.id * 4 + 2), jsonb_build_array(i.id * 4 + 1), jsonb_build_array(i.id * 4 + 3, i.id * 4 + 4))
					ELSE jsonb_build_array(jsonb_build_array(i.id * 4 + 1), jsonb_build_array(i.id * 4 + 2), jsonb_build_array(i.id * 4 + 3), jsonb_build_array(i.id * 4 + 4)) END,
				jsonb_build_object((i.id * 4 + 1)::text, jsonb_build_object('helpful', jsonb_build_object('value', 1 + (i.id + s) % 5, 'min', 1, 'max', 5))),
				CASE WHEN s = 1 THEN jsonb_build_object((i.id * 4 + 4)::text, jsonb_build_array('hallucination')) ELSE '{}'::jsonb END,
				t.user_message_id, 5000 + s * 100
			FROM campaign_items i JOIN turns t ON t.id = i.turn_id, generate_series(0, 2) s WHERE i.campaign_id = $1
			RETURNING id, turn_id, trainer_id)
		INSERT INTO claims (campaign_id, item_id, trainer_id, state, claimed_at, lease_until, closed_at, judgment_id, guidelines_version)
		SELECT $1, i.id, js.trainer_id, 'submitted', now(), now(), now(), js.id, 1 FROM js JOIN campaign_items i ON i.turn_id = js.turn_id`, campaign, trainers)
	require.NoError(tb, err)
}
