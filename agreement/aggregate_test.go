package agreement

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
)

// TestAggregateMatchesTheGoReference fills a campaign with random judgments (ties, partial
// rankings, several revisions, flags outside the list, missing ratings, items judged once,
// a gold item, trainers in two bases and in none) and checks that the SQL aggregation gives
// every figure the former Go computation gave, to 1e-9.
func TestAggregateMatchesTheGoReference(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	ps, as := prompts.NewStore(pool), auth.NewStore(pool, nil)
	p, err := ps.CreateProject(ctx, prompts.Project{Name: "一致性", Slug: "agreement"})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: p.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t"})
	require.NoError(t, err)
	var trainers []int64
	for i := range 7 {
		u, err := as.CreateUser(ctx, auth.NewUser{Login: fmt.Sprintf("t%d", i), DisplayName: "标注员", Password: "test-password-1"})
		require.NoError(t, err)
		trainers = append(trainers, u.ID)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
	}
	var north, south int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO bases (name) VALUES ('north') RETURNING id`).Scan(&north))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO bases (name) VALUES ('south') RETURNING id`).Scan(&south))
	for i, tr := range trainers {
		switch {
		case i < 3:
			exec(`INSERT INTO base_members (base_id, user_id) VALUES ($1, $2)`, north, tr)
		case i < 5:
			exec(`INSERT INTO base_members (base_id, user_id) VALUES ($1, $2)`, south, tr)
		}
	}
	var campaignID int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO campaigns (project_id, persona_id, name, task_kind, plan, k, created_by, state)
		VALUES ($1, $2, '任务', 'rank_rate', $4, 3, $3, 'open') RETURNING id`, p.ID, persona.ID, trainers[0],
		fmt.Sprintf(`[{"prompt_version_id": %d}]`, v.ID)).Scan(&campaignID))

	rng := rand.New(rand.NewPCG(14, 2))
	flags := []string{"hallucination", "unsafe", "off_persona", "refusal", "not_a_flag"}
	for item := range 60 {
		var turn, msg int64
		require.NoError(t, pool.QueryRow(ctx, `WITH c AS (INSERT INTO conversations (project_id, persona_id, created_by, locale) VALUES ($1, $2, $3, 'zh-CN') RETURNING id),
			m AS (INSERT INTO messages (conversation_id, role, author, author_id, content) SELECT id, 'user', 'human', $3, 'q' FROM c RETURNING id, conversation_id)
			INSERT INTO turns (conversation_id, user_message_id, created_by) SELECT conversation_id, id, $3 FROM m RETURNING id, user_message_id`,
			p.ID, persona.ID, trainers[0]).Scan(&turn, &msg))
		exec(`INSERT INTO campaign_items (campaign_id, question, normalized, turn_id, generation, gold) VALUES ($1, $2, $2, $3, 'ready', $4)`,
			campaignID, fmt.Sprintf("q%d", item), turn, item == 0)
		cands := []int64{int64(item*10 + 1), int64(item*10 + 2), int64(item*10 + 3)}
		if item%3 == 0 {
			cands = append(cands, int64(item*10+4))
		}
		judges := rng.Perm(len(trainers))[:1+rng.IntN(5)]
		for _, tr := range judges {
			for rev := 1; rev <= 1+rng.IntN(2); rev++ {
				order := rng.Perm(len(cands))
				if rng.IntN(6) == 0 {
					order = order[:len(order)-1] // leaves a candidate out: not common any more
				}
				var ranking [][]int64
				for _, o := range order {
					if len(ranking) > 0 && rng.IntN(4) == 0 {
						ranking[len(ranking)-1] = append(ranking[len(ranking)-1], cands[o]) // a tie
					} else {
						ranking = append(ranking, []int64{cands[o]})
					}
				}
				fl, ra := map[string][]string{}, map[string]map[string]map[string]int{}
				for _, c := range cands {
					key := fmt.Sprint(c)
					if rng.IntN(3) == 0 {
						fl[key] = []string{flags[rng.IntN(len(flags))]}
					}
					if rng.IntN(4) != 0 {
						ra[key] = map[string]map[string]int{"helpful": {"value": 1 + rng.IntN(5), "min": 1, "max": 5}}
						if rng.IntN(2) == 0 {
							ra[key]["accurate"] = map[string]int{"value": 1 + rng.IntN(3), "min": 1, "max": 3}
						}
					}
				}
				rj, _ := json.Marshal(ranking)
				fj, _ := json.Marshal(fl)
				aj, _ := json.Marshal(ra)
				exec(`INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags, continuation_message_id, time_spent_ms)
					VALUES ($1, $2, $3, $4, '\x00', $5, $6, $7, $8, 1000)`, turn, trainers[tr], rev, fmt.Sprintf("agreement-%d-%d-%d", item, tr, rev), rj, aj, fj, msg)
			}
		}
	}

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // a test's transaction, never committed
	js, err := load(ctx, tx, campaignID)
	require.NoError(t, err)
	want := compute(js)
	got, n, err := aggregate(ctx, tx, campaignID, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	require.NoError(t, err)

	assert.Equal(t, len(js), n, "judgments")
	assert.Equal(t, len(want.items), got.itemsWritten, "items with a W")
	require.Greater(t, len(want.items), 20, "the data gives W to most items")
	ws := map[int64]float64{}
	rows, _ := tx.Query(ctx, `SELECT item_id, agreement FROM item_agreement`)
	pairs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		ID int64
		W  float64
	}])
	require.NoError(t, err)
	for _, p := range pairs {
		ws[p.ID] = p.W
	}
	require.Len(t, ws, len(want.items))
	for _, it := range want.items {
		assert.InDelta(t, it.w, ws[it.item], 1e-9, "W of item %d", it.item)
	}
	same := func(what string, want, got figure) {
		t.Helper()
		assert.Equal(t, want.units, got.units, "%s: units", what)
		if want.value == nil {
			assert.Nil(t, got.value, "%s: undefined", what)
			return
		}
		if assert.NotNil(t, got.value, "%s: defined", what) {
			assert.InDelta(t, *want.value, *got.value, 1e-9, what)
		}
	}
	for _, m := range []string{AlphaRanking, AlphaFlags, AlphaRatings, MeanW} {
		same(m, want.campaign[m], got.campaign[m])
	}
	require.NotNil(t, want.campaign[AlphaFlags].value, "the data has flags to agree on")
	require.Len(t, got.bases, len(want.bases))
	for b, m := range want.bases {
		same(fmt.Sprintf("base %d", b), m[AlphaRanking], got.bases[b][AlphaRanking])
	}
	require.Len(t, got.trainers, len(want.trainers))
	for tr, m := range want.trainers {
		same(fmt.Sprintf("trainer %d", tr), m[LOO], got.trainers[tr][LOO])
	}
}
