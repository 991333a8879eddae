package review_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/acceptance"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/review"
	"github.com/mentor-ai/mentor/rlhf"
)

// world is two projects, each with a campaign whose trainer (in base "north") submitted
// judgments, written directly: the review package only reads claims and judgments.
type world struct {
	reviews           *review.Store
	batches           *acceptance.Store
	pool              *pgxpool.Pool
	exec              func(sql string, args ...any)
	state             func(judgmentID int64) string
	trainer, reviewer auth.User
	second            auth.User // another reviewer
	base              int64
	a, b              side
	now               time.Time
}

type side struct {
	project, campaign int64
	judgments         []int64
}

func setup(t *testing.T, judgments int) world {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	ps, as, live := prompts.NewStore(pool), auth.NewStore(pool, nil), rlhf.NewStore(pool)
	w := world{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), pool: pool}
	clock := func() time.Time { return w.now }
	w.reviews = review.NewStore(pool, live, clock)
	seed := int64(7)
	w.batches = acceptance.NewStore(pool, w.reviews, clock, func() int64 { return seed })
	w.exec = func(sql string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
	}
	w.state = func(id int64) string {
		t.Helper()
		s := "unreviewed"
		_ = pool.QueryRow(ctx, `SELECT review_state FROM judgment_checks WHERE judgment_id = $1`, id).Scan(&s)
		return s
	}
	var err error
	w.trainer, err = as.CreateUser(ctx, auth.NewUser{Login: "trainer-1", DisplayName: "标注员", Password: "test-password-1"})
	require.NoError(t, err)
	w.reviewer, err = as.CreateUser(ctx, auth.NewUser{Login: "reviewer-1", DisplayName: "审核员", Password: "test-password-1"})
	require.NoError(t, err)
	w.second, err = as.CreateUser(ctx, auth.NewUser{Login: "reviewer-2", DisplayName: "审核员二", Password: "test-password-1"})
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO bases (name) VALUES ('north') RETURNING id`).Scan(&w.base))
	w.exec(`INSERT INTO base_members (base_id, user_id) VALUES ($1, $2)`, w.base, w.trainer.ID)
	for i, s := range []*side{&w.a, &w.b} {
		p, err := ps.CreateProject(ctx, prompts.Project{Name: fmt.Sprintf("项目 %d", i), Slug: fmt.Sprintf("p%d", i)})
		require.NoError(t, err)
		persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: p.ID, Name: "助手", Kind: prompts.DomainAssistant})
		require.NoError(t, err)
		v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
			Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t"})
		require.NoError(t, err)
		s.project = p.ID
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO campaigns (project_id, persona_id, name, task_kind, plan, k, created_by, state)
			VALUES ($1, $2, '任务', 'rank_rate', $3, 1, $4, 'open') RETURNING id`, p.ID, persona.ID, fmt.Sprintf(`[{"prompt_version_id": %d}]`, v.ID),
			w.trainer.ID).Scan(&s.campaign))
		for n := range judgments {
			turn, err := live.StartTurn(ctx, rlhf.NewTurn{ProjectID: p.ID, PersonaID: persona.ID, Locale: "zh-CN", UserID: w.trainer.ID,
				Message: fmt.Sprintf("问题 %d", n), Candidates: []rlhf.CandidateSpec{{Position: 1, Model: "baseline-extractive", Endpoint: "offline",
					PromptVersionID: v.ID, Temperature: 0.3, TopP: 1, MaxTokens: 100, SystemPromptHash: "x"}},
				Lease: rlhf.Lease{Owner: "test", For: time.Hour}})
			require.NoError(t, err)
			var claim, judgment int64
			require.NoError(t, pool.QueryRow(ctx, `WITH i AS (INSERT INTO campaign_items (campaign_id, question, normalized, turn_id, generation, taken)
					VALUES ($1, $2, $2, $3, 'ready', 1) RETURNING id)
				INSERT INTO claims (campaign_id, item_id, trainer_id, base_id, claimed_at, lease_until, guidelines_version)
				SELECT $1, i.id, $4, $5, now(), now() + interval '1 hour', 1 FROM i RETURNING id`,
				s.campaign, fmt.Sprintf("问题 %d", n), turn.ID, w.trainer.ID, w.base).Scan(&claim))
			require.NoError(t, pool.QueryRow(ctx, `INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash,
					ranking, ratings, flags, continuation_message_id, time_spent_ms)
				SELECT $1, $2, 1, $3, '\x00', '[]', '{}', '{}', t.user_message_id, 1000 FROM turns t WHERE t.id = $1 RETURNING id`,
				turn.ID, w.trainer.ID, fmt.Sprintf("review-test-%d-%d", i, n)).Scan(&judgment))
			// Submitting the claim is what puts the judgment in the review queue (a trigger).
			w.exec(`UPDATE claims SET state = 'submitted', judgment_id = $2, closed_at = $3 WHERE id = $1`, claim, judgment, w.now)
			s.judgments = append(s.judgments, judgment)
		}
	}
	return w
}

func fieldOf(t *testing.T, err error) string {
	t.Helper()
	var e *errs.Error
	require.ErrorAs(t, err, &e)
	return e.Field
}

func TestReviewStreamAndDecisions(t *testing.T) {
	t.Parallel()
	w := setup(t, 2)
	ctx := context.Background()
	scA := review.Scope{ProjectID: w.a.project, CampaignID: w.a.campaign}

	// The oldest submitted judgment comes first, with its question, and is kept for the
	// reviewer: another reviewer gets the next one.
	it, err := w.reviews.Next(ctx, scA, nil, w.reviewer.ID)
	require.NoError(t, err)
	assert.Equal(t, w.a.judgments[0], it.JudgmentID)
	assert.Equal(t, "问题 0", it.Question)
	other, err := w.reviews.Next(ctx, scA, nil, w.second.ID)
	require.NoError(t, err)
	assert.Equal(t, w.a.judgments[1], other.JudgmentID, "the first is leased to the first reviewer")
	_, err = w.reviews.Next(ctx, scA, nil, w.trainer.ID)
	assert.ErrorIs(t, err, review.ErrQueueEmpty, "a trainer never gets their own work")

	bad := []struct {
		name  string
		sc    review.Scope
		d     review.Decision
		field string
	}{
		{"a judgment of another project", scA, review.Decision{JudgmentID: w.b.judgments[0], Verdict: review.Accept}, "judgment_id"},
		{"an unknown reason", scA, review.Decision{JudgmentID: w.a.judgments[0], Verdict: review.Reject, ReasonCode: "sloppy"}, "reason_code"},
		{"other without text", scA, review.Decision{JudgmentID: w.a.judgments[0], Verdict: review.Reject, ReasonCode: "other"}, "reason_text"},
		{"an unknown verdict", scA, review.Decision{JudgmentID: w.a.judgments[0], Verdict: "maybe"}, "verdict"},
		{"a fix without its judgment", scA, review.Decision{JudgmentID: w.a.judgments[0], Verdict: review.Fix}, "fix"},
		{"another base's work, for a lead", review.Scope{ProjectID: w.a.project, CampaignID: w.a.campaign, BaseID: new(int64(w.base + 1))},
			review.Decision{JudgmentID: w.a.judgments[0], Verdict: review.Accept}, "judgment_id"},
	}
	for _, c := range bad {
		_, err := w.reviews.Decide(ctx, c.sc, w.reviewer.ID, c.d, nil)
		assert.Equal(t, c.field, fieldOf(t, err), c.name)
	}
	assert.Equal(t, "unreviewed", w.state(w.a.judgments[0]), "nothing was written")

	// Accepted; then rejected with a reason: a rework for the trainer, appealable once.
	_, err = w.reviews.Decide(ctx, scA, w.reviewer.ID, review.Decision{JudgmentID: w.a.judgments[0], Verdict: review.Accept}, nil)
	require.NoError(t, err)
	assert.Equal(t, "accepted", w.state(w.a.judgments[0]))
	_, err = w.reviews.Decide(ctx, scA, w.reviewer.ID, review.Decision{JudgmentID: w.a.judgments[0], Verdict: review.Accept}, nil)
	assert.Equal(t, errs.Conflict, errs.KindOf(err), "reviewed already")
	got, err := w.reviews.Decide(ctx, scA, w.reviewer.ID, review.Decision{JudgmentID: w.a.judgments[1], Verdict: review.Reject,
		ReasonCode: "careless", Comment: "再看看"}, nil)
	require.NoError(t, err)
	assert.True(t, got.Rework)
	assert.Equal(t, "rejected", w.state(w.a.judgments[1]))
	reworks, err := w.reviews.Reworks(ctx, w.trainer.ID)
	require.NoError(t, err)
	require.Len(t, reworks, 1)
	assert.Equal(t, "再看看", reworks[0].Comment)
	assert.Equal(t, review.ReworkOpen, reworks[0].State)
	_, err = w.reviews.FileAppeal(ctx, got.ReviewID, w.trainer.ID, "我比较过了")
	require.NoError(t, err)
	_, err = w.reviews.FileAppeal(ctx, got.ReviewID, w.trainer.ID, "再申诉")
	assert.Equal(t, "review_id", fieldOf(t, err), "a second appeal")
	_, err = w.reviews.DecideAppeal(ctx, got.ReviewID, w.reviewer.ID, true, review.AppealOverturned, "")
	assert.Equal(t, errs.Forbidden, errs.KindOf(err), "the reviewer who rejected does not decide")
	a, err := w.reviews.DecideAppeal(ctx, got.ReviewID, w.second.ID, true, review.AppealOverturned, "排序没错")
	require.NoError(t, err)
	assert.Equal(t, review.AppealOverturned, a.State)
	assert.Equal(t, "accepted", w.state(w.a.judgments[1]), "overturned on appeal, the judgment is accepted")
}

func TestBatchAcceptance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name     string
		verdicts []string // the centre's inspection of the sample, in draw order
		want     acceptance.Verdict
		accepted int // judgments accepted afterwards
	}{
		{"accepted: every judgment of the batch is accepted", []string{review.Accept, review.Accept, review.Accept}, acceptance.Accepted, 3},
		{"one defect at Ac 0 rejects it at once", []string{review.Reject}, acceptance.Rejected, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := setup(t, 3)
			// A receiver of project a's batch events: each is queued in the transaction that
			// makes it true, with the batch as it then stands.
			w.exec(`INSERT INTO webhooks (project_id, url, events, secret_sealed) VALUES ($1, 'https://example.com/hook', $2, '\x00')`,
				w.a.project, []string{"batch.closed", "batch.accepted", "batch.rejected"})
			events := func() (out []string) {
				t.Helper()
				rows, err := w.pool.Query(ctx, `SELECT d.event || ':' || (d.payload->>'centre_result') FROM webhook_deliveries d ORDER BY d.id`)
				require.NoError(t, err)
				for rows.Next() {
					var e string
					require.NoError(t, rows.Scan(&e))
					out = append(out, e)
				}
				require.NoError(t, rows.Err())
				return out
			}
			_, err := w.batches.Close(ctx, w.a.campaign, w.reviewer.ID, true, acceptance.CloseInput{BaseID: w.base + 1})
			assert.Equal(t, "base_id", fieldOf(t, err), "an empty batch")
			_, err = w.batches.Close(ctx, w.a.campaign, w.trainer.ID, false, acceptance.CloseInput{BaseID: w.base})
			assert.Equal(t, "base_id", fieldOf(t, err), "only leads close a base's batches")
			b, err := w.batches.Close(ctx, w.a.campaign, w.reviewer.ID, true, acceptance.CloseInput{BaseID: w.base})
			require.NoError(t, err)
			assert.Equal(t, 3, b.LotSize)
			assert.Equal(t, 3, b.SampleSize, "lot 3 at AQL 1.0: letter A, plan E (13), so 100%")
			assert.Equal(t, []int{0, 1}, []int{b.Accept, b.Reject})
			assert.Equal(t, int64(7), b.Seed)
			sample, err := w.batches.SampleOf(ctx, b.ID)
			require.NoError(t, err)
			want := acceptance.Sample(w.a.judgments, 3, 7)
			for i, s := range sample {
				assert.Equal(t, want[i], s.JudgmentID, "the recorded draw is the seed's")
			}
			_, err = w.batches.Close(ctx, w.a.campaign, w.reviewer.ID, true, acceptance.CloseInput{BaseID: w.base})
			assert.Equal(t, "base_id", fieldOf(t, err), "its judgments are in a batch already")

			var last acceptance.Inspected
			for i, v := range c.verdicts {
				d := review.Decision{JudgmentID: sample[i].JudgmentID, Verdict: v}
				if v == review.Reject {
					d.ReasonCode = "wrong_ranking"
				}
				last, err = w.batches.Inspect(ctx, b.ID, w.reviewer.ID, true, review.TierCentre, d)
				require.NoError(t, err)
			}
			assert.Equal(t, c.want, last.Batch.CentreResult)
			assert.Equal(t, []string{"batch.closed:pending", "batch." + string(c.want) + ":" + string(c.want)}, events(),
				"closing and the centre's decision are announced, once each; the refused closes are not")
			n := 0
			for _, j := range w.a.judgments {
				if w.state(j) == "accepted" {
					n++
				}
			}
			assert.Equal(t, c.accepted, n)
			_, err = w.batches.Inspect(ctx, b.ID, w.reviewer.ID, true, review.TierCentre, review.Decision{JudgmentID: w.a.judgments[0], Verdict: review.Accept})
			assert.Equal(t, errs.Conflict, errs.KindOf(err), "the centre's inspection is decided")
			_, err = w.batches.Inspect(ctx, b.ID, w.reviewer.ID, true, review.TierBase, review.Decision{JudgmentID: w.a.judgments[0], Verdict: review.Accept})
			assert.Equal(t, "tier", fieldOf(t, err), "the base's own check is its leads'")
			if c.want == acceptance.Rejected {
				assert.Equal(t, 2, last.Batch.Reinspection, "the rest wait for the base's 100% re-inspection")
				base := w.base
				it, err := w.reviews.Next(ctx, review.Scope{ProjectID: w.a.project, CampaignID: w.a.campaign, BaseID: &base}, &b.ID, w.reviewer.ID)
				require.NoError(t, err)
				assert.Contains(t, w.a.judgments, it.JudgmentID)
			}
		})
	}
}

// TestSwitchingThroughBatches runs GB/T 2828.1's switching rules over batches in the
// database: 10 accepted batches allow reduced inspection once the campaign does, a closed
// batch then gets Table 2-C's plan, an irregularity returns the base to normal, and 5
// batches rejected on tightened inspection discontinue it until a project admin resumes it.
func TestSwitchingThroughBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := setup(t, 3)
	// past writes a base's earlier batches as the centre decided them: lots of 1000 at AQL
	// 1.0 (n 80, Ac 2) with no defect found.
	seq := 0
	past := func(severity, result string, n int) {
		t.Helper()
		for range n {
			seq++
			w.exec(`INSERT INTO batches (campaign_id, base_id, seq, lot_size, aql, severity, code_letter, plan_letter, sample_size, ac, re, seed,
					centre_result, closed_by, closed_at)
				VALUES ($1, $2, $3, 1000, '1.0', $4, 'J', 'J', 80, 2, 3, 1, $5, $6, $7)`, w.a.campaign, w.base, seq, severity, result, w.reviewer.ID, w.now)
		}
	}
	past("normal", "accepted", 10)
	sw, err := w.batches.Switching(ctx, w.a.campaign, w.base)
	require.NoError(t, err)
	assert.Equal(t, acceptance.Switching{State: acceptance.Normal, Reason: acceptance.ReasonStart, Score: 30}, sw,
		"the score is there, but reduced inspection waits for the campaign to allow it")

	on := true
	settings, err := w.batches.SetSettings(ctx, w.a.campaign, acceptance.Settings{AQL: "1.0", ReducedAllowed: &on})
	require.NoError(t, err)
	assert.True(t, *settings.ReducedAllowed)
	settings, err = w.batches.SetSettings(ctx, w.a.campaign, acceptance.Settings{AQL: "2.5"})
	require.NoError(t, err)
	assert.True(t, *settings.ReducedAllowed, "a PUT without the field keeps it")
	_, err = w.batches.SetSettings(ctx, w.a.campaign, acceptance.Settings{AQL: "1.0"})
	require.NoError(t, err)

	b, err := w.batches.Close(ctx, w.a.campaign, w.reviewer.ID, true, acceptance.CloseInput{BaseID: w.base})
	require.NoError(t, err)
	assert.Equal(t, acceptance.Reduced, b.Severity, "the 11th batch is inspected on reduced inspection")
	assert.Equal(t, 11, b.Seq)
	assert.Equal(t, []int{3, 0, 1}, []int{b.SampleSize, b.Accept, b.Reject}, "lot 3 on Table 2-C: letter E, n 5, so all of it")
	dash, err := w.batches.Dashboard(ctx, w.a.campaign, &w.base)
	require.NoError(t, err)
	require.NotNil(t, dash.Switching)
	assert.Equal(t, acceptance.Reduced, dash.Switching.State)
	assert.Equal(t, acceptance.ReasonScore, dash.Switching.Reason)
	require.Len(t, dash.Tiers, 1)
	assert.Equal(t, *dash.Switching, dash.Tiers[0].Switching)

	bad := []struct {
		name  string
		in    acceptance.NoteInput
		field string
	}{
		{"no base", acceptance.NoteInput{Kind: acceptance.NoteIrregular}, "base_id"},
		{"an unknown base", acceptance.NoteInput{BaseID: w.base + 100, Kind: acceptance.NoteIrregular}, "base_id"},
		{"an unknown kind", acceptance.NoteInput{BaseID: w.base, Kind: "bad"}, "kind"},
		{"resuming what is not discontinued", acceptance.NoteInput{BaseID: w.base, Kind: acceptance.NoteResumed}, "kind"},
	}
	for _, c := range bad {
		_, err := w.batches.AddNote(ctx, w.a.campaign, w.reviewer.ID, c.in)
		assert.Equal(t, c.field, fieldOf(t, err), c.name)
	}
	sw, err = w.batches.AddNote(ctx, w.a.campaign, w.reviewer.ID, acceptance.NoteInput{BaseID: w.base, Kind: acceptance.NoteIrregular, Note: "停工两周"})
	require.NoError(t, err)
	assert.Equal(t, acceptance.Switching{State: acceptance.Normal, Reason: acceptance.ReasonIrregular, SinceSeq: 11, ReducedAllowed: true}, sw)

	// Two rejected: tightened. Five more rejected on tightened: discontinued.
	seq = 11
	past("normal", "rejected", 2)
	past("tightened", "rejected", 4)
	sw, err = w.batches.Switching(ctx, w.a.campaign, w.base)
	require.NoError(t, err)
	assert.Equal(t, acceptance.Tightened, sw.State)
	assert.Equal(t, 4, sw.RejectedOnTightened)
	_, err = w.batches.AddNote(ctx, w.a.campaign, w.reviewer.ID, acceptance.NoteInput{BaseID: w.base, Kind: acceptance.NoteIrregular})
	assert.Equal(t, "kind", fieldOf(t, err), "production does not matter on tightened inspection")
	past("tightened", "rejected", 1)
	sw, err = w.batches.Switching(ctx, w.a.campaign, w.base)
	require.NoError(t, err)
	assert.Equal(t, acceptance.Switching{State: acceptance.Discontinued, Reason: acceptance.ReasonFiveRejected, SinceSeq: 18, ReducedAllowed: true}, sw)

	// Discontinued: no batch is closed until the inspection is resumed.
	w.exec(`DELETE FROM review_queue`) // what the reduced batch left waiting is not at issue here
	w.exec(`DELETE FROM batch_judgments WHERE batch_id = $1`, b.ID)
	_, err = w.batches.Close(ctx, w.a.campaign, w.reviewer.ID, true, acceptance.CloseInput{BaseID: w.base})
	assert.Equal(t, "base_id", fieldOf(t, err), "a discontinued inspection closes no batch")
	assert.Contains(t, err.Error(), "is discontinued")
	sw, err = w.batches.AddNote(ctx, w.a.campaign, w.reviewer.ID, acceptance.NoteInput{BaseID: w.base, Kind: acceptance.NoteResumed, Note: "已重新培训"})
	require.NoError(t, err)
	assert.Equal(t, acceptance.Switching{State: acceptance.Tightened, Reason: acceptance.ReasonResumed, SinceSeq: 18, ReducedAllowed: true}, sw)
	b, err = w.batches.Close(ctx, w.a.campaign, w.reviewer.ID, true, acceptance.CloseInput{BaseID: w.base})
	require.NoError(t, err)
	assert.Equal(t, acceptance.Tightened, b.Severity)
}
