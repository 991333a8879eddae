package campaign_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/rlhf"
)

// TestExactlyKUnderConcurrency is the test: 1,000 concurrent claims and submits
// against 200 items with k = 3. No item ever has more than 3 claims plus judgments, no
// trainer gets an item twice, and every item ends with exactly 3 judgments.
//
// Honeypots (issue 14) are dealt in the same run: 10 more items are gold, at a rate of 20%.
// They are outside k (any number of trainers, each once), never complete, and every
// judgment of one is scored in its own transaction.
func TestExactlyKUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const items, golds, k, workers, attempts = 200, 10, 3, 1000, 1000
	rate := 0.2
	c := f.campaign(t, campaign.Input{K: k, ClaimCap: 3, Checks: campaign.ChecksInput{HoneypotRate: &rate}})
	ids := f.readyItems(t, c, items+golds)
	for _, id := range ids[items:] {
		f.gold(t, c.ID, id)
	}
	trainers := f.trainers(t, "t", 250)

	// A watcher checks the invariant while the work runs, not only at the end.
	stop := make(chan struct{})
	var watched sync.WaitGroup
	var worst atomic.Int64
	watched.Go(func() {
		for {
			var most int64
			err := f.pool.QueryRow(ctx, `SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM claims cl JOIN campaign_items i ON i.id = cl.item_id
				WHERE cl.campaign_id = $1 AND cl.state IN ('open', 'submitted') AND NOT i.gold GROUP BY cl.item_id) x`, c.ID).Scan(&most)
			if err == nil && most > worst.Load() {
				worst.Store(most)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	})

	var wg sync.WaitGroup
	var judged atomic.Int64
	unexpected := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			trainer := trainers[w%len(trainers)]
			claim, err := f.store.Next(ctx, c.ID, trainer)
			if err != nil {
				if k := errs.KindOf(err); k != errs.NotFound && k != errs.Unprocessable {
					unexpected <- err
				}
				return
			}
			if _, err := f.judge(ctx, claim.ID, trainer, fmt.Sprintf("claim-key-%d-%d", trainer, claim.ID)); err != nil {
				unexpected <- err
				return
			}
			judged.Add(1)
		})
	}
	wg.Wait()
	close(unexpected)
	for err := range unexpected {
		t.Errorf("unexpected: %v", err)
	}
	// Whatever the race left undone, trainers finish one at a time.
	for {
		progress := false
		for _, trainer := range trainers {
			claim, err := f.store.Next(ctx, c.ID, trainer)
			if errors.Is(err, campaign.ErrNoWork) {
				continue
			}
			require.NoError(t, err)
			_, err = f.judge(ctx, claim.ID, trainer, fmt.Sprintf("claim-key-%d-%d", trainer, claim.ID))
			require.NoError(t, err)
			progress = true
		}
		if !progress {
			break
		}
	}
	close(stop)
	watched.Wait()
	t.Logf("%d of %d concurrent attempts judged an item", judged.Load(), attempts)

	assert.LessOrEqual(t, worst.Load(), int64(k), "an item had more than k claims plus judgments")
	var short, over, twice, open int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM campaign_items i WHERE campaign_id = $1 AND NOT gold AND (SELECT count(*) FROM judgments j WHERE j.turn_id = i.turn_id) < $2),
			(SELECT count(*) FROM campaign_items i WHERE campaign_id = $1 AND NOT gold AND (SELECT count(*) FROM judgments j WHERE j.turn_id = i.turn_id) > $2),
			(SELECT count(*) FROM (SELECT 1 FROM judgments j JOIN campaign_items i ON i.turn_id = j.turn_id WHERE i.campaign_id = $1
				GROUP BY j.turn_id, j.trainer_id HAVING count(*) > 1) x),
			(SELECT count(*) FROM claims WHERE campaign_id = $1 AND state = 'open')`, c.ID, k).Scan(&short, &over, &twice, &open))
	assert.Zero(t, short, "items with fewer than k judgments")
	assert.Zero(t, over, "items with more than k judgments")
	assert.Zero(t, twice, "a trainer judged an item twice")
	assert.Zero(t, open, "claims left open")
	var completed, judgedCol int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE completed_at IS NOT NULL), coalesce(sum(judged), 0)
		FROM campaign_items WHERE campaign_id = $1 AND NOT gold`, c.ID).Scan(&completed, &judgedCol))
	assert.Equal(t, items, completed)
	assert.Equal(t, items*k, judgedCol)
	assert.Len(t, f.events.completed, items, "item completed is announced once per item")

	// The honeypots: dealt, each judgment of one scored once, none completed, and taken and
	// judged kept as for any item (open claims plus judgments).
	var goldClaims, scored, wrong, goldDone, drift int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM claims cl JOIN campaign_items i ON i.id = cl.item_id WHERE i.campaign_id = $1 AND i.gold AND cl.state = 'submitted'),
			(SELECT count(*) FROM gold_results WHERE campaign_id = $1),
			(SELECT count(*) FROM gold_results WHERE campaign_id = $1 AND NOT correct),
			(SELECT count(*) FROM campaign_items WHERE campaign_id = $1 AND gold AND completed_at IS NOT NULL),
			(SELECT count(*) FROM campaign_items i WHERE campaign_id = $1 AND (taken <> (SELECT count(*) FROM claims c WHERE c.item_id = i.id AND c.state IN ('open', 'submitted'))
				OR judged <> (SELECT count(*) FROM claims c WHERE c.item_id = i.id AND c.state = 'submitted')))`, c.ID).
		Scan(&goldClaims, &scored, &wrong, &goldDone, &drift))
	assert.Positive(t, goldClaims, "no gold item was dealt")
	assert.Equal(t, goldClaims, scored, "every judgment of a gold item is scored")
	assert.Zero(t, wrong, "the fixture ranks the gold answer first")
	assert.Zero(t, goldDone, "a gold item completed")
	assert.Zero(t, drift, "items whose taken or judged disagree with their claims")
	t.Logf("%d gold judgments among %d", goldClaims, goldClaims+items*k)
}

// TestLeases drives leases with an injected clock: a heartbeat renews, a lapsed lease returns
// the item to the pool and a late submit is refused, and another trainer cannot touch a claim.
func TestLeases(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	c := f.campaign(t, campaign.Input{K: 1, LeaseSeconds: 600})
	f.readyItems(t, c, 1)
	ts := f.trainers(t, "lease", 2)
	alice, bob := ts[0], ts[1]

	claim, err := f.store.Next(ctx, c.ID, alice)
	require.NoError(t, err)
	assert.Equal(t, f.clock.now().Add(10*time.Minute), claim.LeaseUntil.UTC(), "the default lease is 10 minutes")
	_, err = f.store.Next(ctx, c.ID, bob)
	assert.ErrorIs(t, err, campaign.ErrNoWork, "k = 1 and the item is held")

	f.clock.add(9 * time.Minute)
	renewed, err := f.store.Heartbeat(ctx, claim.ID, alice)
	require.NoError(t, err)
	assert.Equal(t, f.clock.now().Add(10*time.Minute), renewed.LeaseUntil.UTC())
	_, err = f.store.Heartbeat(ctx, claim.ID, bob)
	assert.ErrorIs(t, err, campaign.ErrNotYours, "a heartbeat for another trainer's claim")
	assert.Equal(t, errs.Conflict, errs.KindOf(err))

	f.clock.add(9 * time.Minute) // 18 minutes in: still inside the renewed lease
	_, err = f.store.Next(ctx, c.ID, bob)
	assert.ErrorIs(t, err, campaign.ErrNoWork, "a renewed lease keeps the item")

	f.clock.add(2 * time.Minute) // the renewed lease has lapsed
	_, err = f.store.Heartbeat(ctx, claim.ID, alice)
	assert.ErrorIs(t, err, campaign.ErrLeaseLapsed, "a lapsed lease cannot be renewed")
	_, err = f.judge(ctx, claim.ID, alice, "late-submit-1")
	assert.ErrorIs(t, err, campaign.ErrLeaseLapsed, "a submit after the lease lapsed")
	assert.Equal(t, errs.Conflict, errs.KindOf(err))

	taken, err := f.store.Next(ctx, c.ID, bob)
	require.NoError(t, err, "the lapsed item went back to the pool")
	assert.Equal(t, claim.ItemID, taken.ItemID)
	_, err = f.judge(ctx, claim.ID, alice, "late-submit-2")
	assert.ErrorIs(t, err, campaign.ErrLeaseLapsed, "still refused once the claim is expired")
	_, err = f.judge(ctx, taken.ID, bob, "bob-submit-1")
	require.NoError(t, err)
	var judgments int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM judgments`).Scan(&judgments))
	assert.Equal(t, 1, judgments, "the refused late submit stored nothing")
}

// TestLapseBetweenCheckAndCommit: the lease is checked again inside the judgment's
// transaction, so a lease that lapses after PrepareSubmit is still refused.
func TestLapseBetweenCheckAndCommit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	c := f.campaign(t, campaign.Input{K: 1})
	f.readyItems(t, c, 1)
	alice := f.trainers(t, "lapse", 1)[0]
	claim, err := f.store.Next(ctx, c.ID, alice)
	require.NoError(t, err)
	prep, err := f.store.PrepareSubmit(ctx, claim.ID, alice)
	require.NoError(t, err)
	f.clock.add(11 * time.Minute)
	turn, err := f.live.Turn(ctx, prep.TurnID)
	require.NoError(t, err)
	a, b := turn.Candidates[0].ID, turn.Candidates[1].ID
	_, err = f.live.Submit(ctx, prep.TurnID, alice, submission("lapse-key-1", a, b, prep.InTx))
	assert.ErrorIs(t, err, campaign.ErrLeaseLapsed)
}

// TestClaimRules covers the cap on open claims, never the same item twice, skips setting an
// item aside, replays, claims on a closed campaign, and quotas.
func TestClaimRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("cap", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		c := f.campaign(t, campaign.Input{K: 3})
		f.readyItems(t, c, 5)
		alice := f.trainers(t, "cap", 1)[0]
		seen := map[int64]bool{}
		for range 3 {
			claim, err := f.store.Next(ctx, c.ID, alice)
			require.NoError(t, err)
			assert.False(t, seen[claim.ItemID], "the same item twice")
			seen[claim.ItemID] = true
		}
		_, err := f.store.Next(ctx, c.ID, alice)
		assert.Equal(t, errs.Unprocessable, errs.KindOf(err), "the default cap is 3 open claims")
		open, err := f.store.Open(ctx, c.ID, alice)
		require.NoError(t, err)
		assert.Len(t, open, 3, "coming back resumes the open claims")
	})

	t.Run("never twice, even after a skip", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		c := f.campaign(t, campaign.Input{K: 2, SkipLimit: 2})
		f.readyItems(t, c, 1)
		ts := f.trainers(t, "skip", 3)
		claim, err := f.store.Next(ctx, c.ID, ts[0])
		require.NoError(t, err)
		assert.Equal(t, errs.Invalid, errs.KindOf(f.store.Skip(ctx, claim.ID, ts[0], "boring")), "an unknown reason")
		require.NoError(t, f.store.Skip(ctx, claim.ID, ts[0], campaign.SkipUnclear))
		_, err = f.store.Next(ctx, c.ID, ts[0])
		assert.ErrorIs(t, err, campaign.ErrNoWork, "a skipped item is not given back to the one who skipped it")
		claim, err = f.store.Next(ctx, c.ID, ts[1])
		require.NoError(t, err)
		assert.ErrorIs(t, f.store.Skip(ctx, claim.ID, ts[0], campaign.SkipHarmful), campaign.ErrNotYours)
		require.NoError(t, f.store.Skip(ctx, claim.ID, ts[1], campaign.SkipHarmful))
		_, err = f.store.Next(ctx, c.ID, ts[2])
		assert.ErrorIs(t, err, campaign.ErrNoWork, "skipped twice: set aside for a lead")
		var aside bool
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT set_aside FROM campaign_items WHERE campaign_id = $1`, c.ID).Scan(&aside))
		assert.True(t, aside)
	})

	t.Run("replay and a second judgment on one claim", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		c := f.campaign(t, campaign.Input{K: 2})
		f.readyItems(t, c, 1)
		alice := f.trainers(t, "replay", 1)[0]
		claim, err := f.store.Next(ctx, c.ID, alice)
		require.NoError(t, err)
		first, err := f.judge(ctx, claim.ID, alice, "replay-key-1")
		require.NoError(t, err)
		again, err := f.judge(ctx, claim.ID, alice, "replay-key-1")
		require.NoError(t, err)
		assert.True(t, again.Replayed)
		assert.Equal(t, first.JudgmentID, again.JudgmentID)
		_, err = f.judge(ctx, claim.ID, alice, "replay-key-2")
		assert.ErrorIs(t, err, campaign.ErrClaimClosed, "a claim counts one judgment")
		var judged int
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT judged FROM campaign_items WHERE campaign_id = $1`, c.ID).Scan(&judged))
		assert.Equal(t, 1, judged, "a submit never counts twice")
	})

	t.Run("closed campaign", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		c := f.campaign(t, campaign.Input{K: 1})
		f.readyItems(t, c, 1)
		_, err := f.store.SetState(ctx, c.ID, campaign.Closed)
		require.NoError(t, err)
		_, err = f.store.Next(ctx, c.ID, f.trainers(t, "closed", 1)[0])
		assert.Equal(t, errs.Unprocessable, errs.KindOf(err))
		assert.Contains(t, errs.Message(err), "closed")
		assert.Equal(t, []int64{c.ID}, f.events.closed, "campaign closed is announced")
	})

	t.Run("base quota", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		var north, south int64
		require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO bases (name) VALUES ('积石山') RETURNING id`).Scan(&north))
		require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO bases (name) VALUES ('宜君') RETURNING id`).Scan(&south))
		_, err := f.pool.Exec(ctx, `INSERT INTO project_bases VALUES ($1, $2), ($1, $3)`, f.project.ID, north, south)
		require.NoError(t, err)
		two := 2
		c := f.campaign(t, campaign.Input{K: 2, Bases: []campaign.BaseQuota{{BaseID: north, QuotaItems: &two}, {BaseID: south}}})
		f.readyItems(t, c, 4)
		ns, outsider := f.trainers(t, "north", 3), f.trainers(t, "outside", 1)[0]
		for _, u := range ns {
			_, err := f.pool.Exec(ctx, `INSERT INTO base_members (base_id, user_id) VALUES ($1, $2)`, north, u)
			require.NoError(t, err)
		}
		for _, u := range ns[:2] {
			_, err := f.store.Next(ctx, c.ID, u)
			require.NoError(t, err)
		}
		_, err = f.store.Next(ctx, c.ID, ns[2])
		assert.ErrorIs(t, err, campaign.ErrQuotaUsed)
		_, err = f.store.Next(ctx, c.ID, outsider)
		assert.ErrorIs(t, err, campaign.ErrNotInBase)
	})
}

// TestCounts: My work's counts and the lead's view of a base follow what the trainer did,
// by the injected clock's day.
func TestCounts(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	var base int64
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO bases (name) VALUES ('积石山') RETURNING id`).Scan(&base))
	_, err := f.pool.Exec(ctx, `INSERT INTO project_bases VALUES ($1, $2)`, f.project.ID, base)
	require.NoError(t, err)
	ten := 10
	c := f.campaign(t, campaign.Input{K: 1, Bases: []campaign.BaseQuota{{BaseID: base, QuotaItems: &ten}}})
	f.readyItems(t, c, 5)
	alice := f.trainers(t, "count", 1)[0]
	_, err = f.pool.Exec(ctx, `INSERT INTO base_members (base_id, user_id) VALUES ($1, $2)`, base, alice)
	require.NoError(t, err)

	yesterday, err := f.store.Next(ctx, c.ID, alice)
	require.NoError(t, err)
	_, err = f.judge(ctx, yesterday.ID, alice, "counts-key-yesterday")
	require.NoError(t, err)
	f.clock.add(24 * time.Hour) // Wednesday 2 December: the same week, another day
	judged, err := f.store.Next(ctx, c.ID, alice)
	require.NoError(t, err)
	_, err = f.judge(ctx, judged.ID, alice, "counts-key-today-1")
	require.NoError(t, err)
	skipped, err := f.store.Next(ctx, c.ID, alice)
	require.NoError(t, err)
	require.NoError(t, f.store.Skip(ctx, skipped.ID, alice, campaign.SkipBrokenCandidates))
	_, err = f.store.Next(ctx, c.ID, alice) // held open
	require.NoError(t, err)

	work, err := f.store.MyWork(ctx, alice, false)
	require.NoError(t, err)
	require.Len(t, work, 1)
	w := work[0]
	assert.Equal(t, 1, w.Today)
	assert.Equal(t, 2, w.Week)
	assert.Equal(t, 1, w.Skipped)
	assert.Equal(t, 1, w.Open)
	require.NotNil(t, w.RemainingQuota)
	assert.Equal(t, 10-3, *w.RemainingQuota, "two judged and one open count against the quota; the skip gave its unit back")
	assert.Equal(t, 1, w.Available, "of 5 items, she judged 2, skipped 1 and holds 1: one is left for her")

	people, err := f.store.BaseView(ctx, base)
	require.NoError(t, err)
	require.Len(t, people, 1)
	assert.Equal(t, campaign.Person{UserID: alice, Login: "count-1", DisplayName: "count-1", Working: true, DoneToday: 1, OpenClaims: 1,
		Skips: 1, LastActive: people[0].LastActive}, people[0])

	// Her open claim lapses: it goes back to the pool, but never to her again.
	f.clock.add(time.Duration(c.LeaseSeconds+1) * time.Second)
	work, err = f.store.MyWork(ctx, alice, false)
	require.NoError(t, err)
	assert.Equal(t, 0, work[0].Open)
	assert.Equal(t, 1, work[0].Available, "the lapsed item is not hers to take again")

	outsider := f.trainers(t, "nobase", 1)[0]
	work, err = f.store.MyWork(ctx, outsider, false)
	require.NoError(t, err)
	assert.Empty(t, work, "a campaign given to bases is not open to people outside them")
}

// TestTaskKindChecks: a campaign that asks for a correction or a gold answer refuses a
// judgment without one, naming the field.
func TestTaskKindChecks(t *testing.T) {
	t.Parallel()
	ranked := [][]int64{{7}, {8}}
	tests := []struct {
		name  string
		kind  campaign.TaskKind
		sub   rlhf.Submission
		field string
	}{
		{"rank and rate needs neither", campaign.RankRate, rlhf.Submission{Ranking: ranked}, ""},
		{"correct the best without an edit", campaign.CorrectBest, rlhf.Submission{Ranking: ranked}, "edit"},
		{"correct another than the best", campaign.CorrectBest, rlhf.Submission{Ranking: ranked, Edit: &rlhf.EditInput{CandidateID: 8, Content: "x"}}, "edit.candidate_id"},
		{"correct the best", campaign.CorrectBest, rlhf.Submission{Ranking: ranked, Edit: &rlhf.EditInput{CandidateID: 7, Content: "x"}}, ""},
		{"gold without one", campaign.WriteGold, rlhf.Submission{Ranking: ranked, Gold: &rlhf.GoldInput{Content: "  "}}, "gold.content"},
		{"gold", campaign.WriteGold, rlhf.Submission{Ranking: ranked, Gold: &rlhf.GoldInput{Content: "免税额为 50 元。"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := (&campaign.Submission{TaskKind: tt.kind}).Check(tt.sub)
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.field, e.Field)
		})
	}
}

// TestWebhookEvents: the k-th judgment queues item.completed and closing queues
// campaign.closed, each in its own transaction, for the project's subscribed endpoints.
func TestWebhookEvents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	_, err := f.pool.Exec(ctx, `INSERT INTO webhooks (project_id, url, events, secret_sealed) VALUES ($1, 'https://example.com/hook', $2, '\x00')`,
		f.project.ID, []string{"item.completed", "campaign.closed"})
	require.NoError(t, err)
	c := f.campaign(t, campaign.Input{K: 2})
	f.readyItems(t, c, 1)
	ts := f.trainers(t, "hook", 2)
	events := func() []string {
		rows, _ := f.pool.Query(ctx, `SELECT event FROM webhook_deliveries ORDER BY id`)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return out
	}
	for i, tr := range ts {
		claim, err := f.store.Next(ctx, c.ID, tr)
		require.NoError(t, err)
		assert.Empty(t, events(), "item.completed only with the k-th judgment")
		_, err = f.judge(ctx, claim.ID, tr, fmt.Sprintf("hook-key-%d", i))
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"item.completed"}, events())
	_, err = f.store.SetState(ctx, c.ID, campaign.Closed)
	require.NoError(t, err)
	assert.Equal(t, []string{"item.completed", "campaign.closed"}, events())
}
