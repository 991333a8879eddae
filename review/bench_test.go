package review_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/latency"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/review"
	"github.com/mentor-ai/mentor/rlhf"
)

// BenchmarkReviewNext is issue 14's review-stream target: the next-item latency (take the
// oldest waiting judgment and load it as the reviewer sees it), p99 ≤ 20 ms with 1,000,000
// judgments. MENTOR_BENCH_REVIEW_JUDGMENTS sets how many (10,000 by default, so a smoke run
// is quick); a tenth of them wait for review in four campaigns, the rest are reviewed.
// Each iteration's judgment is then decided (untimed), as a reviewer would.
func BenchmarkReviewNext(b *testing.B) {
	n := 10000
	if v := os.Getenv("MENTOR_BENCH_REVIEW_JUDGMENTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err, "MENTOR_BENCH_REVIEW_JUDGMENTS")
	}
	ctx := context.Background()
	pool := pgtest.Pool(b)
	ps, as := prompts.NewStore(pool), auth.NewStore(pool, nil)
	trainer, err := as.CreateUser(ctx, auth.NewUser{Login: "bench-trainer", DisplayName: "标注员", Password: "bench-password-1"})
	require.NoError(b, err)
	reviewer, err := as.CreateUser(ctx, auth.NewUser{Login: "bench-reviewer", DisplayName: "审核员", Password: "bench-password-1"})
	require.NoError(b, err)
	p, err := ps.CreateProject(ctx, prompts.Project{Name: "基准", Slug: "bench"})
	require.NoError(b, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: p.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(b, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "bench"})
	require.NoError(b, err)
	live := rlhf.NewStore(pool)
	turn, err := live.StartTurn(ctx, rlhf.NewTurn{ProjectID: p.ID, PersonaID: persona.ID, Locale: "zh-CN", UserID: trainer.ID, Message: "你好",
		Candidates: []rlhf.CandidateSpec{{Position: 1, Model: "baseline-extractive", Endpoint: "offline", PromptVersionID: v.ID,
			Temperature: 0.3, TopP: 1, MaxTokens: 100, SystemPromptHash: "x"}}, Lease: rlhf.Lease{Owner: "bench", For: time.Hour}})
	require.NoError(b, err)
	var campaigns []int64
	for i := range 4 {
		var id int64
		require.NoError(b, pool.QueryRow(ctx, `INSERT INTO campaigns (project_id, persona_id, name, task_kind, plan, k, created_by, state)
			VALUES ($1, $2, $3, 'rank_rate', $4, 1, $5, 'open') RETURNING id`, p.ID, persona.ID, fmt.Sprintf("任务 %d", i),
			fmt.Sprintf(`[{"prompt_version_id": %d}]`, v.ID), trainer.ID).Scan(&id))
		campaigns = append(campaigns, id)
	}
	// n judgments as revisions of one trainer's judgment of one turn: the review queue does
	// not care which turn a judgment is of, and this keeps the seeding to three statements.
	_, err = pool.Exec(ctx, `INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags,
			continuation_message_id, time_spent_ms)
		SELECT $1, $2, i, 'bench-key-' || i, '\x00', '[]', '{}', '{}', t.user_message_id, 1000
		FROM generate_series(1, $3::int) AS i, turns t WHERE t.id = $1`, turn.ID, trainer.ID, n)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, `INSERT INTO review_queue (judgment_id, campaign_id, trainer_id)
		SELECT j.id, ($3::bigint[])[1 + j.id % 4], j.trainer_id FROM judgments j WHERE j.turn_id = $1 AND j.id % 10 = 0 AND j.trainer_id = $2`,
		turn.ID, trainer.ID, campaigns)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, `INSERT INTO judgment_checks (judgment_id, review_state)
		SELECT j.id, 'accepted' FROM judgments j WHERE j.turn_id = $1 AND j.id % 10 <> 0`, turn.ID)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, `ANALYZE review_queue; ANALYZE judgments; ANALYZE judgment_checks`)
	require.NoError(b, err)

	store := review.NewStore(pool, live, nil)
	sc := review.Scope{ProjectID: p.ID, CampaignID: campaigns[0]}
	var rec latency.Recorder
	var decided []int64
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		it, err := store.Next(ctx, sc, nil, reviewer.ID)
		if errors.Is(err, review.ErrQueueEmpty) {
			// The campaign's queue is used up: put its decided judgments back (untimed).
			b.StopTimer()
			_, err = pool.Exec(ctx, `INSERT INTO review_queue (judgment_id, campaign_id, trainer_id) SELECT unnest($1::bigint[]), $2, $3`,
				decided, sc.CampaignID, trainer.ID)
			require.NoError(b, err)
			decided = decided[:0]
			b.StartTimer()
			start = time.Now()
			it, err = store.Next(ctx, sc, nil, reviewer.ID)
		}
		rec.Since(start)
		require.NoError(b, err)
		b.StopTimer()
		_, err = pool.Exec(ctx, `DELETE FROM review_queue WHERE judgment_id = $1`, it.JudgmentID)
		require.NoError(b, err)
		decided = append(decided, it.JudgmentID)
		b.StartTimer()
	}
	rec.Report(b, "next-")
	b.ReportMetric(float64(n), "judgments")
}
