package export_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/export"
	"github.com/mentor-ai/mentor/rlhf"
)

// qcWorld is a project whose turns are items of one campaign, with the figures an agreement
// refresh would have written: what the minimum-agreement and consensus filters read.
type qcWorld struct {
	*world
	campaign int64
}

func newQCWorld(t *testing.T) *qcWorld {
	t.Helper()
	w := newWorld(t)
	ctx := context.Background()
	u, err := auth.NewStore(w.pool, nil).CreateUser(ctx, auth.NewUser{Login: "zhao", DisplayName: "训练师 zhao", Password: "correct horse battery"})
	require.NoError(t, err)
	w.users["zhao"] = u
	q := &qcWorld{world: w}
	require.NoError(t, w.pool.QueryRow(ctx, `INSERT INTO campaigns (project_id, persona_id, name, task_kind, plan, k, created_by, state)
		VALUES ($1, $2, '质检任务', 'rank_rate', '[{}]', 3, $3, 'open') RETURNING id`,
		w.project.ID, w.personas["customs-helper"].ID, w.users["wang"].ID).Scan(&q.campaign))
	return q
}

// item makes turn t an item of the campaign; with agreement >= 0 it also records the item's W.
func (q *qcWorld) item(t rlhf.Turn, question string, agreement float64) {
	q.t.Helper()
	ctx := context.Background()
	var id int64
	require.NoError(q.t, q.pool.QueryRow(ctx, `INSERT INTO campaign_items (campaign_id, question, normalized, turn_id, generation)
		VALUES ($1, $2, $2, $3, 'ready') RETURNING id`, q.campaign, question, t.ID).Scan(&id))
	if agreement >= 0 {
		_, err := q.pool.Exec(ctx, `INSERT INTO item_agreement (item_id, agreement, judgments, refreshed_at) VALUES ($1, $2, 3, now())`, id, agreement)
		require.NoError(q.t, err)
	}
}

// reliability records a trainer's leave-one-out agreement, as the refresh writes it.
func (q *qcWorld) reliability(login string, loo float64) {
	q.t.Helper()
	_, err := q.pool.Exec(context.Background(), `INSERT INTO agreement_figures (campaign_id, scope, scope_id, measure, value, units, refreshed_at)
		VALUES ($1, 'trainer', $2, 'loo', $3, 5, now())`, q.campaign, q.users[login].ID, loo)
	require.NoError(q.t, err)
}

func TestMinimumItemAgreement(t *testing.T) {
	t.Parallel()
	q := newQCWorld(t)
	low := q.turn("customs-helper", "wang", 0, nil, "低一致性的题目", cand{content: "甲", model: "qwen-plus", version: 1}, cand{content: "乙", model: "qwen-plus", version: 1})
	high := q.turn("customs-helper", "wang", 0, nil, "高一致性的题目", cand{content: "丙", model: "qwen-plus", version: 1}, cand{content: "丁", model: "qwen-plus", version: 1})
	unrefreshed := q.turn("customs-helper", "wang", 0, nil, "还没刷新的题目", cand{content: "戊", model: "qwen-plus", version: 1}, cand{content: "己", model: "qwen-plus", version: 1})
	outside := q.turn("customs-helper", "wang", 0, nil, "任务以外的对话", cand{content: "庚", model: "qwen-plus", version: 1}, cand{content: "辛", model: "qwen-plus", version: 1})
	for _, tn := range []rlhf.Turn{low, high, unrefreshed, outside} {
		for _, u := range []string{"wang", "li"} {
			q.judge("customs-helper", u, tn, judgment{ranking: [][]int{{1}, {2}}})
		}
	}
	// Made items after judging: a campaign item's turn is judged only through claims, which
	// these tests do not need.
	q.item(low, "低一致性的题目", 0.3)
	q.item(high, "高一致性的题目", 0.8)
	q.item(unrefreshed, "还没刷新的题目", -1)
	cases := []struct {
		name string
		min  float64
		want []string // the questions of the rows, two judgments each
	}{
		{"off keeps every judgment", 0, []string{"低一致性的题目", "高一致性的题目", "还没刷新的题目", "任务以外的对话"}},
		{"below both", 0.2, []string{"低一致性的题目", "高一致性的题目"}},
		{"between", 0.5, []string{"高一致性的题目"}},
		{"exactly an item's W keeps it", 0.8, []string{"高一致性的题目"}},
		{"above both", 0.9, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows := rowsOf(t, first(q.export(t, export.Spec{Format: "rankings", Filter: export.Filter{MinAgreement: tc.min}})))
			var got []string
			for _, r := range rows {
				ctx := r["prompt"].([]any)
				got = append(got, ctx[len(ctx)-1].(map[string]any)["content"].(string))
			}
			var want []string
			for _, s := range tc.want {
				want = append(want, s, s)
			}
			assert.ElementsMatch(t, want, got)
		})
	}
}

func TestConsensusMode(t *testing.T) {
	t.Parallel()
	q := newQCWorld(t)
	tn := q.turn("customs-helper", "wang", 0, nil, "个人邮寄进境物品的免税额是多少？",
		cand{content: "A：50元以下免征", model: "qwen-plus", version: 1},
		cand{content: "B：全部免税", model: "deepseek-chat", version: 1},
		cand{content: "C：请咨询海关", model: "qwen-plus", version: 2})
	lone := q.turn("customs-helper", "li", 0, nil, "只有一个人评过的题目",
		cand{content: "D", model: "qwen-plus", version: 1}, cand{content: "E", model: "qwen-plus", version: 1})
	// Unweighted, wang and li outvote zhao on A against B; weighted, zhao's reliability wins:
	// wang counts 0, li 0.2 and zhao 1.
	q.reliability("wang", -1)
	q.reliability("li", -0.6)
	q.reliability("zhao", 1)
	q.judge("customs-helper", "wang", tn, judgment{ranking: [][]int{{2}, {1}, {3}}, gold: "应征税额50元（含）以下免征。"})
	q.judge("customs-helper", "li", tn, judgment{ranking: [][]int{{2}, {3}, {1}}})
	q.judge("customs-helper", "zhao", tn, judgment{ranking: [][]int{{1}, {2}, {3}}})
	q.judge("customs-helper", "li", lone, judgment{ranking: [][]int{{1}, {2}}})
	q.item(tn, "个人邮寄进境物品的免税额是多少？", 0.1)
	q.item(lone, "只有一个人评过的题目", 1)

	// What each stored pair's vote must be, by trainer and sides (a position letter, or "gold").
	type want struct {
		voters        int
		for_, against float64
		kept          bool
	}
	wants := map[string]want{
		"wang B>A": {3, 0.2, 1, false}, "li B>A": {3, 0.2, 1, false}, "zhao A>B": {3, 1, 0.2, true},
		"wang A>C": {3, 1, 0.2, true}, "zhao A>C": {3, 1, 0.2, true}, "li C>A": {3, 0.2, 1, false},
		"wang B>C": {3, 1.2, 0, true}, "li B>C": {3, 1.2, 0, true}, "zhao B>C": {3, 1.2, 0, true},
		"wang gold>A": {0, 0, 0, false}, "wang gold>B": {0, 0, 0, false}, "wang gold>C": {0, 0, 0, false},
		"li D>E": {1, 0.2, 0, false}, // a lone judgment agrees with itself, which is no consensus
	}
	side := func(pairID int64) string {
		var login, chosen, rejected string
		require.NoError(t, q.pool.QueryRow(context.Background(), `SELECT u.login,
				coalesce(left((SELECT m.content FROM messages m JOIN candidates c ON c.message_id = m.id WHERE m.id = pp.chosen_message_id), 1), 'gold'),
				left((SELECT m.content FROM messages m WHERE m.id = pp.rejected_message_id), 1)
			FROM preference_pairs pp JOIN judgments j ON j.id = pp.judgment_id JOIN users u ON u.id = j.trainer_id WHERE pp.id = $1`, pairID).
			Scan(&login, &chosen, &rejected))
		return login + " " + chosen + ">" + rejected
	}

	data, stats := q.export(t, export.Spec{Format: "trl-dpo", Filter: export.Filter{Consensus: true}})
	require.NotNil(t, stats.Consensus, "the manifest records the votes")
	seen := map[string]bool{}
	for _, v := range stats.Consensus.Votes {
		name := side(v.PairID)
		w, ok := wants[name]
		if !assert.True(t, ok, "unexpected pair %s", name) {
			continue
		}
		seen[name] = true
		assert.Equal(t, w.voters, v.Voters, name)
		assert.InDelta(t, w.for_, v.For, 1e-9, name)
		assert.InDelta(t, w.against, v.Against, 1e-9, name)
		assert.Equal(t, w.kept, v.Kept, name)
	}
	assert.Len(t, seen, len(wants), "every stored pair is voted on")
	assert.Equal(t, 6, stats.Consensus.Kept)
	assert.Equal(t, 7, stats.Consensus.Dropped)

	var got []string
	for _, r := range rowsOf(t, data) {
		got = append(got, r["annotator"].(string)+" "+r["chosen"].([]any)[0].(map[string]any)["content"].(string)[:1]+">"+
			r["rejected"].([]any)[0].(map[string]any)["content"].(string)[:1])
	}
	// B>C is kept for all three and A>C for two; the later copies are duplicates of wang's.
	assert.ElementsMatch(t, []string{"zhao A>B", "wang A>C", "wang B>C"}, got)
	assert.Equal(t, 3, stats.Duplicates)

	dir := t.TempDir()
	m, err := export.New(q.pool, nil).WriteDir(context.Background(), export.Spec{Format: "trl-dpo", Filter: export.Filter{Project: "exports", Consensus: true}},
		dir, export.Creator{Name: "t"}, nil)
	require.NoError(t, err)
	require.NotNil(t, m.Consensus)
	assert.Len(t, m.Consensus.Votes, 13, "the manifest holds every vote")
	card, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	assert.Contains(t, string(card), "of 13 preference pairs considered, 6 were kept")

	_, off := q.export(t, export.Spec{Format: "trl-dpo"})
	assert.Nil(t, off.Consensus, "no votes when consensus mode is off")
	assert.Greater(t, off.Rows, stats.Rows)
}

func TestQCFilterValues(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bad := []struct {
		spec        export.Spec
		field, want string
	}{
		{export.Spec{Format: "rankings", Filter: export.Filter{MinAgreement: -0.1}}, "min_agreement", "between 0 and 1, got -0.1"},
		{export.Spec{Format: "rankings", Filter: export.Filter{MinAgreement: 1.5}}, "min_agreement", "between 0 and 1, got 1.5"},
		{export.Spec{Format: "rankings", Filter: export.Filter{MinAgreement: math.NaN()}}, "min_agreement", "between 0 and 1"},
		{export.Spec{Format: "retrieval-triplets", Filter: export.Filter{MinAgreement: 0.5}}, "min_agreement", "applies to judgments"},
		{export.Spec{Format: "trl-sft", Filter: export.Filter{Consensus: true}}, "consensus", "preference pairs only"},
		{export.Spec{Format: "rankings", Filter: export.Filter{Consensus: true}}, "consensus", "preference pairs only"},
	}
	for _, b := range bad {
		t.Run(b.field+" "+b.want, func(t *testing.T) {
			b.spec.Filter.Project = "exports"
			var buf bytes.Buffer
			_, _, err := export.New(w.pool, nil).Stream(context.Background(), b.spec, "", &buf)
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, b.field, e.Field)
			assert.Contains(t, e.Message, b.want)
			assert.Equal(t, errs.Invalid, e.Kind)
			assert.Zero(t, buf.Len())
		})
	}
}

// TestSideSwapRepeatIsNotData: a side-swap repeat's answer is stored as a new revision of
// the trainer's judgment, but it only measures the trainer: exports keep the revision before
// it, and consensus mode does not count it as a vote.
func TestSideSwapRepeatIsNotData(t *testing.T) {
	t.Parallel()
	q := newQCWorld(t)
	ctx := context.Background()
	tn := q.turn("customs-helper", "wang", 0, nil, "换边复查的题目",
		cand{content: "A：50元以下免征", model: "qwen-plus", version: 1}, cand{content: "B：全部免税", model: "qwen-plus", version: 1})
	first := q.judge("customs-helper", "wang", tn, judgment{ranking: [][]int{{1}, {2}}})
	q.judge("customs-helper", "li", tn, judgment{ranking: [][]int{{1}, {2}}})
	repeat := q.judge("customs-helper", "wang", tn, judgment{ranking: [][]int{{2}, {1}}}) // swayed by the swapped sides
	q.item(tn, "换边复查的题目", 1)
	var original int64
	require.NoError(t, q.pool.QueryRow(ctx, `INSERT INTO claims (campaign_id, item_id, trainer_id, state, claimed_at, lease_until, closed_at, judgment_id, guidelines_version)
		SELECT $1, i.id, $2, 'submitted', now(), now(), now(), $3, 1 FROM campaign_items i WHERE i.turn_id = $4 RETURNING id`,
		q.campaign, q.users["wang"].ID, first.JudgmentID, tn.ID).Scan(&original))
	_, err := q.pool.Exec(ctx, `INSERT INTO claims (campaign_id, item_id, trainer_id, state, claimed_at, lease_until, closed_at, judgment_id, guidelines_version, swap_of)
		SELECT campaign_id, item_id, trainer_id, 'submitted', now(), now(), now(), $2, 1, id FROM claims WHERE id = $1`, original, repeat.JudgmentID)
	require.NoError(t, err)

	rows := rowsOf(t, first2(q.export(t, export.Spec{Format: "rankings"})))
	require.Len(t, rows, 2, "one row per trainer")
	for _, r := range rows {
		best := r["candidates"].([]any)[0].(map[string]any)
		assert.Equal(t, "A：50元以下免征", best["content"], "%s's row is the judgment before the repeat", r["annotator"])
	}
	_, stats := q.export(t, export.Spec{Format: "trl-dpo", Filter: export.Filter{Consensus: true}})
	require.NotNil(t, stats.Consensus)
	for _, v := range stats.Consensus.Votes {
		assert.Equal(t, 2, v.Voters, "the repeat is no third vote")
		assert.True(t, v.Kept)
	}
	assert.Equal(t, 2, stats.Consensus.Kept)
}

func first2(data []byte, _ export.Stats) []byte { return data }
