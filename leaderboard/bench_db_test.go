package leaderboard_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/leaderboard"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

// Shape of the seeded votes: each turn shows benchCandidates candidates (of benchCandidates
// different models) and is ranked by benchJudges trainers, so one turn gives
// benchJudges × C(benchCandidates, 2) votes.
const (
	benchCandidates = 4
	benchJudges     = 3
	benchTrainers   = 6
	votesPerTurn    = benchJudges * benchCandidates * (benchCandidates - 1) / 2
)

// BenchmarkRefreshFromDatabase is the refresh as the job runs it: the votes read
// from PostgreSQL, aggregated, fitted and bootstrapped, and the board cached, for
// 1,000,000 votes over 50 entries (models) with 1,000 rounds (target ≤ 10 s), plain and
// with style control. The votes are seeded before the timer, by set-based SQL
// (generate_series; seedBenchVotes): blind ranking judgments of four candidates, accepted in
// quality control, with replies of varied length and markdown. The sizes are those of
// BenchmarkRefresh (MENTOR_BENCH_LEADERBOARD_VOTES, _ENTRIES, _ROUNDS), for a smoke run:
//
//	MENTOR_BENCH_LEADERBOARD_VOTES=20000 MENTOR_BENCH_LEADERBOARD_ROUNDS=50 go test -run '^$' -bench BenchmarkRefreshFromDatabase -benchtime 1x ./leaderboard
func BenchmarkRefreshFromDatabase(b *testing.B) {
	votes := benchSize(b, "MENTOR_BENCH_LEADERBOARD_VOTES", 1_000_000)
	n := benchSize(b, "MENTOR_BENCH_LEADERBOARD_ENTRIES", 50)
	rounds := benchSize(b, "MENTOR_BENCH_LEADERBOARD_ROUNDS", leaderboard.DefaultRounds)
	require.GreaterOrEqual(b, n, 8, "MENTOR_BENCH_LEADERBOARD_ENTRIES: the seed's four candidates per turn need at least 8 models")
	ctx := context.Background()
	pool := pgtest.Pool(b)
	project := seedBenchVotes(b, ctx, pool, votes, n)
	queue, err := jobs.NewInserter(pool)
	require.NoError(b, err)
	store := leaderboard.NewStore(pool, queue, leaderboard.StoreOptions{})
	for _, run := range []struct{ name, style string }{
		{"style=none", leaderboard.StyleNone},
		{"style=control", leaderboard.StyleControl},
	} {
		b.Run(run.name, func(b *testing.B) {
			for b.Loop() {
				start := time.Now()
				board, err := store.Refresh(ctx, project, leaderboard.Options{By: leaderboard.ByModel, Style: run.style, Rounds: rounds})
				require.NoError(b, err)
				require.Len(b, board.Parts, 1, "%v", board.Notices)
				require.Len(b, board.Parts[0].Entries, n)
				require.InDelta(b, votes, board.Votes, votesPerTurn, "the seeded votes")
				b.ReportMetric(time.Since(start).Seconds(), "refresh-s")
			}
		})
	}
}

// seedBenchVotes writes about votes votes over n models into the demo project and returns
// its id. Rows get explicit ids (OVERRIDING SYSTEM VALUE) above the tables' present ones,
// so each table is one INSERT … SELECT over generate_series, with no id round trips.
// Model v has strength (v − n/2)·4/n; each trainer ranks a turn's candidates by strength
// plus Gumbel noise (a Plackett–Luce draw, whose pairs follow Bradley–Terry).
func seedBenchVotes(b testing.TB, ctx context.Context, pool *pgxpool.Pool, votes, n int) int64 {
	b.Helper()
	start := time.Now()
	models, err := llm.NewRegistry(ctx, llm.RegistryConfig{Getenv: func(string) string { return "" }})
	require.NoError(b, err)
	ps := prompts.NewStore(pool)
	sum, err := demo.Load(ctx, ps, retrieval.NewStore(pool, nil, nil), models.Has)
	require.NoError(b, err)
	personas, err := ps.Personas(ctx, sum.Project.ID)
	require.NoError(b, err)
	persona := personas[0]
	versions, err := ps.Versions(ctx, persona.ID)
	require.NoError(b, err)
	as := auth.NewStore(pool, nil)
	var trainers []int64
	for i := range benchTrainers {
		u, err := as.CreateUser(ctx, auth.NewUser{Login: fmt.Sprintf("bench-voter-%d", i), DisplayName: "bench", Password: "correct horse battery staple"})
		require.NoError(b, err)
		trainers = append(trainers, u.ID)
	}
	turns := max(1, votes/votesPerTurn)
	// Four distinct models per turn: offsets whose differences include odd ones, so every
	// model is compared with every other through some chain (one connected part).
	offsets := []int{0, n / 4, n/2 + 1, 3 * n / 4}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var campaignID int64
		if err := tx.QueryRow(ctx, `INSERT INTO campaigns (project_id, persona_id, name, task_kind, plan, k, state, created_by)
			VALUES ($1, $2, 'bench votes', 'blind_pairwise', $3, $4, 'closed', $5) RETURNING id`,
			sum.Project.ID, persona.ID, `[{"prompt_version_id": `+fmt.Sprint(versions[0].ID)+`, "model": "bench"}]`, benchJudges, trainers[0]).Scan(&campaignID); err != nil {
			return fmt.Errorf("campaign: %w", err)
		}
		var cb, mb, tb, kb, jb int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT coalesce(max(id), 0) + 1 FROM conversations), (SELECT coalesce(max(id), 0) + 1 FROM messages),
			(SELECT coalesce(max(id), 0) + 1 FROM turns), (SELECT coalesce(max(id), 0) + 1 FROM candidates), (SELECT coalesce(max(id), 0) + 1 FROM judgments)`).
			Scan(&cb, &mb, &tb, &kb, &jb); err != nil {
			return err
		}
		// model(i, k) is the k-th candidate's model index of turn i.
		model := fmt.Sprintf(`((i * 7 + (ARRAY[%d, %d, %d, %d])[k + 1] + (i / %d) %% 11) %% %d)`, offsets[0], offsets[1], offsets[2], offsets[3], n, n)
		steps := []struct {
			what, sql string
			args      []any
		}{
			{"conversations", `INSERT INTO conversations (id, project_id, persona_id, created_by, locale) OVERRIDING SYSTEM VALUE
				SELECT $1 + i, $2, $3, $4, 'zh-CN' FROM generate_series(0, $5 - 1) i`, []any{cb, sum.Project.ID, persona.ID, trainers[0], turns}},
			{"questions", `INSERT INTO messages (id, conversation_id, role, author, author_id, content) OVERRIDING SYSTEM VALUE
				SELECT $1 + i, $2 + i, 'user', 'human', $3, '问题 ' || i FROM generate_series(0, $4 - 1) i`, []any{mb, cb, trainers[0], turns}},
			{"turns", `INSERT INTO turns (id, conversation_id, user_message_id, created_by, shuffle_seed) OVERRIDING SYSTEM VALUE
				SELECT $1 + i, $2 + i, $3 + i, $4, i FROM generate_series(0, $5 - 1) i`, []any{tb, cb, mb, trainers[0], turns}},
			// Replies: 40 to 440 characters and 0 to 3 list items, varying by model and turn.
			{"replies", `INSERT INTO messages (id, conversation_id, parent_id, role, author, content) OVERRIDING SYSTEM VALUE
				SELECT $1 + $2 + i * 4 + k, $3 + i, $1 + i, 'assistant', 'model',
					repeat('x', 40 + (` + model + ` * 13 + i) % 400) || repeat(E'\n- y', (` + model + ` + i) % 4)
				FROM generate_series(0, $2 - 1) i, generate_series(0, 3) k`, []any{mb, turns, cb}},
			{"candidates", `INSERT INTO candidates (id, turn_id, message_id, position, model, endpoint, baseline, prompt_version_id,
					temperature, top_p, max_tokens, seed, system_prompt_hash, status, finish_reason, plan_index) OVERRIDING SYSTEM VALUE
				SELECT $1 + i * 4 + k, $2 + i, $3 + $4 + i * 4 + k, k + 1, 'bench-' || lpad(` + model + `::text, 2, '0'), 'bench', true, $5,
					0.7, 1, 512, i, 'bench', 'complete', 'stop', k
				FROM generate_series(0, $4 - 1) i, generate_series(0, 3) k`, []any{kb, tb, mb, turns, versions[0].ID}},
			{"items", `INSERT INTO campaign_items (campaign_id, external_id, question, normalized, turn_id, generation, taken, judged, completed_at)
				SELECT $1, 'bench-' || i, '问题 ' || i, '问题 ' || i, $2 + i, 'ready', $3, $3, now() FROM generate_series(0, $4 - 1) i`,
				[]any{campaignID, tb, benchJudges, turns}},
			{"seed", `SELECT setseed(0.15)`, nil},
			{"judgments", `INSERT INTO judgments (id, turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags,
					continuation_message_id, time_spent_ms) OVERRIDING SYSTEM VALUE
				SELECT $1 + i * $2 + r, $3 + i, ($4::bigint[])[1 + (i + r) % cardinality($4::bigint[])], 1, 'bench-' || i || '-' || r, '\x00', (
						SELECT jsonb_agg(jsonb_build_array($5 + i * 4 + k) ORDER BY (` + model + ` - $7 / 2.0) * 4 / $7 - ln(-ln(random())) DESC)
						FROM generate_series(0, 3) k),
					'{}', '{}', $6 + $8 + i * 4, 30000
				FROM generate_series(0, $8 - 1) i, generate_series(0, $2 - 1) r`, []any{jb, benchJudges, tb, trainers, kb, mb, n, turns}},
			{"checks", `INSERT INTO judgment_checks (judgment_id, review_state) SELECT id, 'accepted' FROM judgments WHERE id >= $1`, []any{jb}},
		}
		for _, s := range steps {
			if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
				return fmt.Errorf("%s: %w", s.what, err)
			}
		}
		for _, table := range []string{"conversations", "messages", "turns", "candidates", "judgments"} {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %[1]s))`, table)); err != nil {
				return fmt.Errorf("%s sequence: %w", table, err)
			}
		}
		return nil
	})
	require.NoError(b, err)
	_, err = pool.Exec(ctx, `ANALYZE`)
	require.NoError(b, err)
	b.Logf("seeded %d votes (%d turns × %d judgments × %d pairs) over %d models in %s", turns*votesPerTurn, turns, benchJudges,
		votesPerTurn/benchJudges, n, time.Since(start).Round(time.Millisecond))
	return sum.Project.ID
}
